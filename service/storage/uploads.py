"""Streaming uploads: the request body goes to disk in chunks, never whole into memory.

``multipart/form-data`` (a ``file`` part, as ``curl -F file=@model.onnx`` sends) is parsed as
it arrives with python-multipart's push parser; a raw ``application/octet-stream`` body is
taken as the file itself. Past the size limit the upload stops and the answer is 413; a body
that stops arriving (no bytes for ``idle_s`` seconds, ``SEPCONV_BODY_TIMEOUT_S``) is answered 408
and its temp file removed, so a client that declares a big upload and goes quiet holds nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from sepconv.converter import first_line
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from ..errors import ApiError
from .blob_store import BlobStore, Incoming, TooLarge

#: room for multipart boundaries and part headers on top of the file itself
_ENVELOPE = 64 * 1024
_SMALL_PART = 64 * 1024

#: the request body :func:`receive` takes, for the OpenAPI document of the upload routes
UPLOAD_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@dataclass
class Received:
    """An upload on disk in ``tmp/``, hashed; the artifacts file it or it is removed."""

    path: Path
    sha256: str
    size: int
    name: str


def clean_name(raw: str | None, default: str) -> str:
    """A display name only (never a path): the last path component, printable, at most 200 chars."""
    if not raw:
        return default
    name = re.split(r"[\\/]", raw)[-1]
    name = re.sub(r"[^\w.\- +()\[\]]", "_", name).strip(" .")[:200]
    return name or default


class BodyTimeout(Exception):
    """No bytes of the request body arrived for the idle limit."""


async def _chunks(request: Request, idle_s: float) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; :class:`BodyTimeout` when none comes for ``idle_s`` seconds."""
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), idle_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTimeout from None
        if chunk:
            yield chunk


async def receive(request: Request, blobs: BlobStore, limit: int, default_name: str,
                  idle_s: float = 60.0) -> Received:
    """Stream the request's file into ``tmp/``; the caller adopts or discards it."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + _ENVELOPE:
        raise ApiError(413, "too_large", f"the upload ({int(length):,} bytes) is larger than the limit "
                                         f"of {limit:,} bytes (SEPCONV_MAX_UPLOAD_BYTES)")
    if ctype == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise ApiError(400, "bad_request", "multipart/form-data without a boundary")
        return await _multipart(request, blobs, limit, boundary, default_name, idle_s)
    if ctype == b"application/octet-stream":
        name = clean_name(request.query_params.get("name"), default_name)
        return await _raw(request, blobs, limit, name, idle_s)
    shown = ctype.decode("latin-1") or "none"
    raise ApiError(415, "unsupported_media_type", f"send the file as multipart/form-data (a 'file' part) or as "
                                                  f"application/octet-stream, not {shown}")


async def _raw(request: Request, blobs: BlobStore, limit: int, name: str, idle_s: float) -> Received:
    inc = blobs.incoming(limit)
    try:
        async for chunk in _chunks(request, idle_s):
            inc.write(chunk)
        if inc.size == 0:
            raise ApiError(400, "bad_request", "the request body is empty")
        sha = await run_in_threadpool(inc.finish)
        return Received(inc.path, sha, inc.size, name)
    except BaseException as exc:
        inc.discard()
        raise _translate(exc, limit) from None


class _Parts:
    """Callbacks for python-multipart: route the ``file`` part to disk, skip small others."""

    def __init__(self, blobs: BlobStore, limit: int, default_name: str) -> None:
        self.blobs, self.limit, self.default_name = blobs, limit, default_name
        self.file: Incoming | None = None
        self.name = default_name
        self.done = False
        self.extra = 0
        self._target: Incoming | None = None
        self._skip = False
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end, "on_end": self.end}

    def part_begin(self) -> None:
        self._headers, self._field, self._value, self._target, self._skip = {}, b"", b"", None, False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        field = opts.get(b"name", b"")
        if field == b"file" and self.file is None:
            self.file = self._target = self.blobs.incoming(self.limit)
            raw = opts.get(b"filename")
            self.name = clean_name(raw.decode("utf-8", "replace") if raw else None, self.default_name)
        else:
            self._skip = True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target is not None:
            self._target.write(data[start:end])
        else:
            self.extra += end - start
            if self.extra > _SMALL_PART:
                raise ApiError(400, "bad_request", "only a 'file' part is expected in the form")

    def part_end(self) -> None:
        self._target = None

    def end(self) -> None:
        self.done = True


async def _multipart(request: Request, blobs: BlobStore, limit: int, boundary: bytes,
                     default_name: str, idle_s: float) -> Received:
    parts = _Parts(blobs, limit, default_name)
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        async for chunk in _chunks(request, idle_s):
            parser.write(chunk)
        parser.finalize()
        if parts.file is None:
            raise ApiError(400, "bad_request", "the form has no 'file' part (curl -F file=@model.onnx ...)")
        if not parts.done:
            raise ApiError(400, "bad_request", "the multipart body ended early (upload cut short?)")
        if parts.file.size == 0:
            raise ApiError(400, "bad_request", "the uploaded file is empty")
        sha = await run_in_threadpool(parts.file.finish)
        return Received(parts.file.path, sha, parts.file.size, parts.name)
    except BaseException as exc:
        if parts.file is not None:
            parts.file.discard()
        raise _translate(exc, limit) from None


def _translate(exc: BaseException, limit: int) -> BaseException:
    if isinstance(exc, BodyTimeout):
        return ApiError(408, "body_timeout", "the upload stopped arriving before its end (no bytes within "
                                             "SEPCONV_BODY_TIMEOUT_S); send it again", {"Connection": "close"})
    if isinstance(exc, TooLarge):
        return ApiError(413, "too_large", f"the upload is larger than the limit of {limit:,} bytes "
                                          "(SEPCONV_MAX_UPLOAD_BYTES)")
    if isinstance(exc, MultipartParseError):
        return ApiError(400, "bad_request", f"malformed multipart body ({first_line(exc, 200)})")
    if isinstance(exc, ClientDisconnect):
        return ApiError(400, "bad_request", "the client disconnected during the upload")
    return exc
