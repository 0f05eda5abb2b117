"""Read an upload with a hard size limit: a multipart field ``file``, or else the raw request body
(any other content type, so ``curl --data-binary @film.dcm`` works).

The body is read in chunks and refused (413) as soon as it passes the limit, so an oversized
upload never sits in memory or on disk; multipart is then parsed from the bounded bytes. A body
that stalls (no bytes for ``read_timeout`` seconds, or not complete after ``BODY_TIMEOUT_FACTOR``
times that) is refused with 408, so a slow or dead client cannot hold a connection forever.

A raw body's name comes from the ``X-Filename`` header, which HTTP carries as bytes: UTF-8 names
(``curl -H 'X-Filename: thorax-été.dcm'``) and percent-encoded ones are both decoded.
"""

from __future__ import annotations

import math
import re
import time
from urllib.parse import unquote

import anyio
from fastapi import Request
from starlette.datastructures import UploadFile

from cxrlab.serve.errors import (
    BadMultipartError,
    EmptyUploadError,
    MissingFileError,
    UploadTimeoutError,
    UploadTooLargeError,
)

#: Room for multipart boundaries and headers on top of the file-size limit.
MULTIPART_OVERHEAD = 64 * 1024
#: The whole body must arrive within this many read timeouts.
BODY_TIMEOUT_FACTOR = 10
#: Longest file name kept (characters).
MAX_NAME = 255


async def read_upload(request: Request, limit: int, read_timeout: float = math.inf) -> tuple[bytes, str]:
    """``(file bytes, file name)``; raises an ``ApiError`` subclass (400/408/413) for missing, empty,
    stalled or oversized input."""
    too_big = UploadTooLargeError(f"upload is larger than the limit of {limit:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise too_big
    body = bytearray()
    deadline = time.monotonic() + read_timeout * BODY_TIMEOUT_FACTOR
    chunks = request.stream().__aiter__()
    while True:
        wait = min(read_timeout, deadline - time.monotonic())
        try:
            with anyio.fail_after(max(wait, 0.0) if math.isfinite(wait) else None):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise UploadTimeoutError(f"the upload stalled: no complete body after {len(body):,} bytes "
                           f"(read timeout {read_timeout:g} s)") from None
        body += chunk
        if len(body) > limit + MULTIPART_OVERHEAD:
            raise too_big
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        data, name = await _multipart_file(request, bytes(body))
    else:
        data, name = bytes(body), header_filename(request)
    if len(data) > limit:
        raise too_big
    if not data:
        raise EmptyUploadError(f"{name}: file is empty (0 bytes)")
    return data, name


async def _multipart_file(request: Request, body: bytes) -> tuple[bytes, str]:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=8)
    except Exception as exc:  # malformed multipart: starlette raises its own types
        raise BadMultipartError(f"malformed multipart upload ({getattr(exc, 'detail', exc)})") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise MissingFileError("send the image as a multipart form field named 'file'")
    data = await upload.read()
    await form.close()
    return data, clean_name(upload.filename or "upload")


def header_filename(request: Request) -> str:
    """The ``X-Filename`` header as text: its raw bytes as UTF-8 (Starlette reads headers as
    Latin-1), percent-escapes decoded; ``upload`` when absent."""
    raw = next((v for k, v in request.scope.get("headers", []) if k.lower() == b"x-filename"), None)
    if raw is None:
        return "upload"
    text = raw.decode("utf-8", errors="replace")
    if re.search(r"%[0-9A-Fa-f]{2}", text):
        text = unquote(text, errors="replace")
    return clean_name(text)


def clean_name(name: str) -> str:
    """A file name fit to echo back: no folders, no control characters, at most ``MAX_NAME`` characters."""
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_NAME] or "upload"
