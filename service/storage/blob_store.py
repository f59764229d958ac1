"""The blob store: content-addressed files under the data directory (the rows about them are in
:mod:`.sqlite_store`), optionally backed by an S3-compatible object store
(:mod:`.blob_backends`, SEPCONV_BLOB_URL) that every machine reaches; the directory is then a
cache in front of it. Without one, the directory is the store (on several machines: a shared
volume).

Every file is stored once, under its sha256, so uploading the same bytes twice costs nothing
and no name from a request ever becomes a path. Files arrive through :class:`Incoming`
(a temporary file written in chunks and hashed on the way) and are moved into place with an
fsync and an atomic rename, so a crash never leaves a half-written blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .blob_backends import S3Blobs

_SHA = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(Exception):
    """The upload went past the size limit."""


class Incoming:
    """A file being received: written chunk by chunk to ``tmp/``, hashed as it goes."""

    def __init__(self, tmp_dir: Path, limit: int) -> None:
        self.path = tmp_dir / f"upload-{uuid.uuid4().hex}.part"
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._fh = open(self.path, "wb")  # noqa: SIM115 (closed in finish/discard)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(f"the upload is larger than the limit of {self.limit:,} bytes")
        self._hash.update(chunk)
        self._fh.write(chunk)

    def finish(self) -> str:
        """Flush and fsync the file; return its sha256."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        return self._hash.hexdigest()

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)


class BlobStore:
    """``blobs/<sha[:2]>/<sha>`` files plus a ``tmp/`` folder on the same filesystem (for renames)."""

    def __init__(self, root: Path, remote: S3Blobs | None = None) -> None:
        self.remote = remote
        self.problem: str | None = None  # why the last write check failed
        self.blobs = root / "blobs"
        self.tmp = root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def clear_tmp(self) -> None:
        """Remove leftovers of uploads and jobs cut short by a crash or restart."""
        for p in self.tmp.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def incoming(self, limit: int) -> Incoming:
        return Incoming(self.tmp, limit)

    def tmp_path(self, suffix: str = "") -> Path:
        """A fresh path in ``tmp/`` for a worker to write its output to."""
        return self.tmp / f"out-{uuid.uuid4().hex}{suffix}"

    def _local(self, sha256: str) -> Path:
        """The blob's local path; only ever built from a validated hex digest."""
        if not _SHA.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.blobs / sha256[:2] / sha256

    def path(self, sha256: str) -> Path:
        """The blob's local file; with an object store, fetched into the local cache first when it is
        not there. (A blob that exists nowhere: a path that is not a file.)"""
        path = self._local(sha256)
        if self.remote is not None and not path.is_file() and self.remote.has(sha256):
            fetched = self._fetch(sha256, self.tmp)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(fetched, path)
        return path

    def _fetch(self, sha256: str, folder: Path) -> Path:
        """Stream the blob from the object store into a new file in ``folder``, checking its sha256."""
        assert self.remote is not None
        dest = folder / f"fetch-{uuid.uuid4().hex}"
        try:
            self.remote.download(sha256, dest)
            if sha256_file(dest) != sha256:
                raise OSError(f"blob {sha256[:12]}... changed in the object store (its sha256 differs)")
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest

    def exists(self, sha256: str) -> bool:
        return self._local(sha256).is_file() or (self.remote is not None and self.remote.has(sha256))

    def adopt(self, src: Path, sha256: str, keep_local: bool = True) -> Path:
        """Move a finished, fsynced temporary file into place (or drop it if the blob exists); with an
        object store, upload it there first (and keep no local copy unless ``keep_local``)."""
        dest = self._local(sha256)
        if self.remote is not None:
            self.remote.upload(src, sha256)
            if not keep_local:
                src.unlink(missing_ok=True)
                return dest
        if dest.is_file():
            src.unlink(missing_ok=True)
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        _fsync_dir(dest.parent)
        return dest

    def remove(self, sha256: str) -> None:
        self._local(sha256).unlink(missing_ok=True)
        if self.remote is not None:
            self.remote.delete(sha256)

    def local_blobs(self) -> list[tuple[str, Path]]:
        """Every blob file in the data directory, as (sha256, path)."""
        return [(p.name, p) for p in self.blobs.glob("??/*") if _SHA.match(p.name) and p.is_file()]

    def local_copy(self, sha256: str, scratch: Path) -> tuple[Path, bool]:
        """A local file with the blob's bytes, and whether it is a fetched copy in ``scratch`` (the
        caller removes those). KeyError when the store has no such blob."""
        path = self._local(sha256)
        if path.is_file():
            return path, False
        if self.remote is not None and self.remote.has(sha256):
            return self._fetch(sha256, scratch), True
        raise KeyError(sha256)

    def writable(self) -> bool:
        """Can a small file be written, fsynced, read back and removed here right now (and the object
        store be reached)? ``problem`` says why not (never a path)."""
        if self.remote is not None and not self.remote.reachable():
            self.problem = "the object store cannot be reached"
            return False
        probe = self.tmp / f"probe-{uuid.uuid4().hex}"
        token = uuid.uuid4().bytes
        try:
            with open(probe, "wb") as fh:
                fh.write(token)
                os.fsync(fh.fileno())
            same = probe.read_bytes() == token
            probe.unlink()
        except OSError as exc:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
            self.problem = exc.strerror or type(exc).__name__
            return False
        self.problem = None if same else "a file written there did not read back"
        return same


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings name: the data directory (on several machines, a shared volume),
    or an object store (SEPCONV_BLOB_URL) with the data directory as its local cache."""
    if not settings.blob_url:
        return BlobStore(settings.data_dir)
    from .blob_backends import S3Blobs  # boto3 only where it is used

    return BlobStore(settings.data_dir, S3Blobs(settings.blob_url))
