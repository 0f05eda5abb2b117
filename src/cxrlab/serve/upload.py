"""Read an upload with a hard size limit: a multipart field ``file``, or else the raw request body
(any other content type, so ``curl --data-binary @film.dcm`` works).

The body is read in chunks and refused (413) as soon as it passes the limit, so an oversized
upload never sits in memory or on disk; multipart is then parsed from the bounded bytes.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from cxrlab.serve.errors import ApiError

#: Room for multipart boundaries and headers on top of the file-size limit.
MULTIPART_OVERHEAD = 64 * 1024


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """``(file bytes, file name)``; raises ``ApiError`` (400/413) for missing, empty or oversized input."""
    too_big = ApiError(413, "upload_too_large", f"upload is larger than the limit of {limit:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + MULTIPART_OVERHEAD:
            raise too_big
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        data, name = await _multipart_file(request, bytes(body))
    else:
        data, name = bytes(body), request.headers.get("x-filename", "upload")
    if len(data) > limit:
        raise too_big
    if not data:
        raise ApiError(400, "empty_file", f"{name}: file is empty (0 bytes)")
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
        raise ApiError(400, "bad_multipart", f"malformed multipart upload ({getattr(exc, 'detail', exc)})") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "missing_file", "send the image as a multipart form field named 'file'")
    data = await upload.read()
    await form.close()
    return data, upload.filename or "upload"
