"""Every error the API returns is JSON ``{"error": {"code", "message"}}`` (``ErrorResponse``) with a
4xx status for anything the client sent; only genuine server bugs are 500.

The status and code come from the exception's type, never from its message: the service's own
errors (``ApiError`` subclasses) carry them as class attributes, and ``IMAGE_ERRORS`` maps the
reader's ``cxrlab.errors`` types (which know nothing of HTTP) to theirs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxrlab.errors import (
    EmptyImageError,
    ImageReadError,
    ImageRefusedError,
    ImageTooLargeError,
    UnknownFormatError,
    UnsupportedDicomError,
)
from cxrlab.serve.schemas import ErrorDetail, ErrorResponse

log = logging.getLogger("cxrlab.serve")


class ApiError(Exception):
    """An error the service raises itself; each subclass fixes its ``status`` and ``code``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    when: ClassVar[str] = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyUploadError(ApiError):
    code, when = "empty_file", "zero bytes"


class MissingFileError(ApiError):
    code, when = "missing_file", "multipart without a `file` field"


class BadMultipartError(ApiError):
    code, when = "bad_multipart", "malformed multipart"


class UploadTimeoutError(ApiError):
    status, code, when = 408, "upload_timeout", "the body stalled"


class UploadTooLargeError(ApiError):
    status, code, when = 413, "upload_too_large", "body over `max_upload_bytes`"


@dataclass(frozen=True)
class ErrorKind:
    status: int
    code: str
    when: str


#: The reader's errors by type (the most specific class found in the exception's MRO wins).
IMAGE_ERRORS: dict[type[ImageReadError], ErrorKind] = {
    EmptyImageError: ErrorKind(400, "empty_file", "zero bytes"),
    ImageTooLargeError: ErrorKind(413, "too_many_pixels", "decoded size over `max_pixels` (decompression bombs)"),
    UnknownFormatError: ErrorKind(415, "unsupported_format", "not an image"),
    UnsupportedDicomError: ErrorKind(415, "unsupported_dicom", "DICOM without pixel data or no decoder for it"),
    ImageRefusedError: ErrorKind(422, "not_a_chest_radiograph", "readable, but not a chest radiograph"),
    ImageReadError: ErrorKind(422, "unreadable_image", "corrupt or truncated file"),
}
#: Errors of the framework itself.
INVALID_REQUEST = ErrorKind(422, "invalid_request", "bad query parameter")
HTTP_ERROR = "http_error"
INTERNAL_ERROR = ErrorKind(500, "internal_error", "a bug in the service (see its log)")
UPLOAD_ERRORS: tuple[type[ApiError], ...] = (EmptyUploadError, MissingFileError, BadMultipartError,
                                             UploadTimeoutError, UploadTooLargeError)


def image_error(exc: ImageReadError) -> ErrorKind:
    """The status and code of a reader error, by its type."""
    return next(IMAGE_ERRORS[cls] for cls in type(exc).__mro__ if cls in IMAGE_ERRORS)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status)


def error_responses(*kinds: ErrorKind) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the given error kinds: one entry per status, naming its codes."""
    codes: dict[int, dict[str, str]] = defaultdict(dict)
    for kind in kinds:
        codes[kind.status].setdefault(kind.code, kind.when)
    return {status: {"model": ErrorResponse, "description": "; ".join(f"`{code}`: {when}" for code, when in named.items())}
            for status, named in sorted(codes.items())}


def predict_error_kinds() -> list[ErrorKind]:
    """Every error ``POST /v1/predict`` may answer with."""
    uploads = [ErrorKind(cls.status, cls.code, cls.when) for cls in UPLOAD_ERRORS]
    return [*uploads, *IMAGE_ERRORS.values(), INVALID_REQUEST, INTERNAL_ERROR]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(ImageReadError)
    async def _image(_request: Request, exc: ImageReadError) -> JSONResponse:
        kind = image_error(exc)
        return error_response(kind.status, kind.code, f"{exc.path}: {exc.reason}")

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(INVALID_REQUEST.status, INVALID_REQUEST.code,
                              f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, HTTP_ERROR, str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return error_response(INTERNAL_ERROR.status, INTERNAL_ERROR.code,
                              f"internal error ({type(exc).__name__}); see the server log")
