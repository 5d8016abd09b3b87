"""Artifact files over HTTP: the path gate for URLs, streamed uploads, ranged downloads.

Shared by the proxied artifact service (``api/proxy.py``) and the UI helpers
(``api/get_artifact.py``). Memory stays bounded whatever the file size: an upload is handed to
the repository in blocks of about a MiB as it arrives, a download is read in ``CHUNK_SIZE``
blocks, and every blocking storage call runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import posixpath
import re
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from mltrail.errors import BadRequest, InvalidArgument, MltrailError, NotFound
from mltrail.server.errors import error_response
from mltrail.storage.artifacts import ArtifactRepository, safe_relative_path

__all__ = [
    "CHUNK_SIZE",
    "RangeNotSatisfiable",
    "UploadAborted",
    "checked_file_path",
    "checked_path",
    "content_type_for",
    "parse_range",
    "receive_into",
    "scrubbed",
    "send_file",
]

CHUNK_SIZE = 256 * 1024
UPLOAD_BLOCK_SIZE = 1024 * 1024  # an upload is handed to the repository in blocks this big
MAX_PATH_CHARS = 4096
MAX_NAME_BYTES = 255
# Uploads hold a worker thread while the body arrives: they get their own pool, so slow
# clients cannot starve the threads every other handler needs.
MAX_CONCURRENT_UPLOADS = 64

# Percent-escapes of characters that change what a path means. Starlette decodes the path
# once before routing, so they are looked for in the raw path: %2e (.), %2f (/), %5c (\),
# %3b (;), %23 (#), %3f (?) and control characters.
_ENCODED_STRUCTURE = re.compile(rb"%(?:2[eEfF]|5[cC]|3[bBfF]|23|[01][0-9a-fA-F]|7[fF])")

# A single byte range; the numbers are capped at 19 digits (an int64).
_BYTE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d{0,19})\s*-\s*(\d{0,19})\s*$", re.IGNORECASE)

# Extensions served as text/plain: readable in a browser tab, never interpreted.
_TEXT_EXTENSIONS = frozenset(
    """txt text log err out csv tsv json jsonl ndjson yaml yml toml ini cfg conf properties
    md rst py pyi r sql sh bash js ts java scala c h cpp go rs rb pl lua xml html htm xhtml
    svg css ipynb mlmodel mlproject""".split()
)
# Names without an extension that MLflow writes as text.
_TEXT_NAMES = frozenset({"mlmodel", "mlproject", "license", "readme", "requirements"})
# Guessed types a browser would render or execute: served as text/plain instead.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/css",
    }
)


# -- the path gate -------------------------------------------------------------------------


def checked_path(path: str | None, request: Request | None = None) -> str:
    """``path`` through ``safe_relative_path`` ("" is the root), refused when too long for a
    filesystem or an object key: 400 INVALID_PARAMETER_VALUE ``Invalid path ...``.

    With ``request``, the path came from the URL's path, which Starlette has percent-decoded
    once: its raw form is checked first for encoded dots, separators and delimiters.
    """
    if request is not None:
        raw = request.scope.get("raw_path")
        if isinstance(raw, bytes) and _ENCODED_STRUCTURE.search(raw):
            raise InvalidArgument(
                "Invalid path: percent-encoded '.', '/', '\\', ';', '#', '?' or control "
                "characters are not allowed in the URL"
            )
    rel = safe_relative_path(path, "path")
    if len(rel) > MAX_PATH_CHARS:
        raise InvalidArgument(f"Invalid path: longer than {MAX_PATH_CHARS} characters")
    for name in rel.split("/"):
        if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise InvalidArgument(
                f"Invalid path: the name {name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes"
            )
    return rel


def checked_file_path(path: str | None, request: Request | None = None) -> str:
    """``checked_path`` for a path that must name a file or directory, not the root."""
    rel = checked_path(path, request)
    if not rel:
        raise InvalidArgument(f"Invalid path {path!r}: it names the artifact root")
    return rel


@contextlib.contextmanager
def scrubbed(rel: str) -> Iterator[None]:
    """Storage errors without the store's location: a repository names its URI (for the
    proxy, a server-side path) in its messages, which is for the log, not for the client.
    The original error stays chained, so the log has it."""
    try:
        yield
    except NotFound as exc:
        raise NotFound(f"No artifact at {rel!r}") from exc
    except MltrailError as exc:
        if exc.http_status < 500:
            raise
        raise MltrailError(f"The artifact store failed on {rel!r}; see the server log") from exc


# -- uploads -------------------------------------------------------------------------------


class UploadAborted(BadRequest):
    """The client went away before the whole body arrived (answered to nobody, not logged
    as a server failure)."""


def _upload_limiter(request: Request) -> anyio.CapacityLimiter:
    # Made on first use, on the event loop (anyio needs a running loop to make one).
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "upload_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(MAX_CONCURRENT_UPLOADS)
        state.upload_limiter = limiter
    return limiter


async def receive_into(request: Request, repository: ArtifactRepository, rel: str) -> None:
    """Stream the request body into the file ``rel`` of ``repository``.

    The repository consumes the body in a worker thread, pulling each chunk from the event
    loop as it needs it, so the server reads from the socket only as fast as it writes (with
    uvicorn's flow control, a slow store slows the client down instead of filling memory).
    If the client goes away mid-body, ``ClientDisconnect`` reaches the repository through the
    chunk iterator, nothing is stored, and ``UploadAborted`` is raised.
    """
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        # The socket delivers the body in pieces of a few dozen KiB; gathering them into
        # blocks of about UPLOAD_BLOCK_SIZE before each hop to the worker thread saves most
        # hops (each costs a round trip through the event loop) and most write calls.
        parts: list[bytes] = []
        size = 0
        while size < UPLOAD_BLOCK_SIZE:
            try:
                part = await stream.__anext__()
            except StopAsyncIteration:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts) if size else None

    def chunks() -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            yield chunk

    try:
        with scrubbed(rel):
            await anyio.to_thread.run_sync(
                repository.write_stream, rel, chunks(), limiter=_upload_limiter(request)
            )
    except ClientDisconnect as exc:
        raise UploadAborted(f"Upload of {rel!r} aborted: the client disconnected") from exc
    finally:
        await stream.aclose()


# -- downloads -----------------------------------------------------------------------------


class RangeNotSatisfiable(Exception):
    """The Range header asks only for bytes beyond the end of the file."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``(first, last)`` bytes (inclusive) of a single-range ``Range`` header.

    None means "send the whole file": no header, several ranges, another unit or a malformed
    value (RFC 9110 lets a server ignore those). ``RangeNotSatisfiable`` when the range starts
    at or beyond the end (or asks for the last 0 bytes).
    """
    if not header:
        return None
    match = _BYTE_RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(int(last), size - 1) if last else size - 1


def content_type_for(name: str) -> str:
    """text/plain for text-like and active content (no HTML or SVG is ever rendered from a
    stored file), else the guessed type, else application/octet-stream."""
    base = posixpath.basename(name).lower()
    extension = base.rpartition(".")[2] if "." in base else ""
    if extension in _TEXT_EXTENSIONS or (not extension and base in _TEXT_NAMES):
        return "text/plain"
    guessed, encoding = mimetypes.guess_type(base, strict=False)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    if guessed in _ACTIVE_TYPES or guessed.startswith("text/"):
        return "text/plain"
    return guessed


def content_disposition(name: str) -> str:
    """``attachment`` with the base name: an ASCII fallback and the RFC 5987 UTF-8 form."""
    base = posixpath.basename(name)
    fallback = "".join(
        char if " " <= char < "\x7f" and char not in '"\\' else "_" for char in base
    )
    encoded = urllib.parse.quote(base, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _size_of(handle: BinaryIO) -> int:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    return size


async def _close(handle: BinaryIO) -> None:
    # Shielded: a download cancelled by a disconnect still closes its file.
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(handle.close)


class _FileStream(StreamingResponse):
    """``length`` bytes of ``handle`` from ``start``, read in a worker thread; the handle is
    closed when the response ends, however it ends."""

    def __init__(
        self,
        handle: BinaryIO,
        start: int,
        length: int,
        *,
        status_code: int,
        headers: dict[str, str],
        media_type: str,
    ) -> None:
        self._handle = handle
        super().__init__(
            self._chunks(start, length),
            status_code=status_code,
            headers=headers,
            media_type=media_type,
        )

    async def _chunks(self, start: int, length: int) -> AsyncIterator[bytes]:
        if start:
            await run_in_threadpool(self._handle.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await run_in_threadpool(self._handle.read, min(CHUNK_SIZE, remaining))
            if not chunk:
                return  # the file shrank under us; the server reports the short body
            remaining -= len(chunk)
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await _close(self._handle)


async def send_file(request: Request, repository: ArtifactRepository, rel: str) -> Response:
    """The file ``rel`` as a download: streamed, with a single HTTP Range honoured (206, or
    416 when unsatisfiable); 404 when missing, 400 for a directory."""
    with scrubbed(rel):
        handle = await run_in_threadpool(repository.open_read, rel)
    try:
        size = await run_in_threadpool(_size_of, handle)
        span = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        await _close(handle)
        response = error_response(
            416,
            "INVALID_PARAMETER_VALUE",
            f"Range not satisfiable: {request.headers.get('range')!r} for a file of {size} bytes",
        )
        response.headers["content-range"] = f"bytes */{size}"
        return response
    except BaseException:
        await _close(handle)
        raise
    headers = {
        "content-disposition": content_disposition(rel),
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "accept-ranges": "bytes",
    }
    if span is None:
        start, length, status = 0, size, 200
    else:
        start, length, status = span[0], span[1] - span[0] + 1, 206
        headers["content-range"] = f"bytes {span[0]}-{span[1]}/{size}"
    headers["content-length"] = str(length)
    return _FileStream(
        handle,
        start,
        length,
        status_code=status,
        headers=headers,
        media_type=content_type_for(rel),
    )
