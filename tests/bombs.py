"""Decompression bombs for the limits tests: small, valid .npz files whose arrays declare huge
sizes. Each is a real zip with a real deflate stream of zeros and a correct CRC, so numpy would
load it whole if nothing stopped it first (a few MB on disk for GBs declared)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

CHUNK = 64 << 20


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    d = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    body = repr(d).encode("latin1")
    pad = 64 - (10 + len(body) + 1) % 64
    body += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def _deflate_zeros(head: bytes, zeros: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``head`` then ``zeros`` zero bytes, and its CRC-32, built from one
    compressed chunk repeated (each flushed to a byte boundary with a reset window)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(head)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    full = block.compress(bytes(CHUNK)) + block.flush(zlib.Z_FULL_FLUSH)
    chunk_crc_input = bytes(CHUNK)
    for _ in range(zeros // CHUNK):
        parts.append(full)
        crc = zlib.crc32(chunk_crc_input, crc)
    rest = zeros % CHUNK
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts.append(tail.compress(bytes(rest)) + tail.flush())
    crc = zlib.crc32(bytes(rest), crc)
    return b"".join(parts), crc & 0xFFFFFFFF


def npz_bomb(path: Path, shape: tuple[int, ...], name: str = "x", dtype: str = "float32") -> Path:
    """Write an .npz with one array of zeros of ``shape`` (under 4 GiB uncompressed: no zip64)."""
    head = _npy_header(shape, dtype)
    size = len(head) + int(np.prod(shape)) * np.dtype(dtype).itemsize
    assert size < 1 << 32, "zip64 is not written here"
    data, crc = _deflate_zeros(head, size - len(head))
    fname = f"{name}.npy".encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(fname), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                          len(fname), 0, 0, 0, 0, 0, 0)
    offset = len(local) + len(fname) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(fname), offset, 0)
    path.write_bytes(local + fname + data + central + fname + end)
    return path
