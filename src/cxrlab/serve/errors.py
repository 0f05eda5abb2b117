"""Every error the API returns is JSON ``{"error": {"code", "message"}}`` with a 4xx status for
anything the client sent; only genuine server bugs are 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxrlab.errors import ImageReadError, ImageRefusedError

log = logging.getLogger("cxrlab.serve")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def image_error(exc: ImageReadError) -> ApiError:
    """Map an unreadable-image reason to a status: 400 empty, 413 too many pixels, 415 not an
    image / unsupported DICOM, 422 corrupt or truncated, or refused as not a chest radiograph (``not_a_chest_radiograph``)."""
    reason = exc.reason
    if isinstance(exc, ImageRefusedError):  # decodes, but is not a chest radiograph (CT, colour photo...)
        return ApiError(422, "not_a_chest_radiograph", f"{exc.path}: {reason}")
    if "empty" in reason:
        return ApiError(400, "empty_file", f"{exc.path}: {reason}")
    if "over the limit" in reason or "decompression bomb" in reason:
        return ApiError(413, "too_many_pixels", f"{exc.path}: {reason}")
    if "not a recognised image format" in reason:
        return ApiError(415, "unsupported_format", f"{exc.path}: {reason}")
    if "DICOM" in reason and ("unsupported" in reason or "no pixel data" in reason or "not a readable" in reason):
        return ApiError(415, "unsupported_dicom", f"{exc.path}: {reason}")
    return ApiError(422, "unreadable_image", f"{exc.path}: {reason}")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(ImageReadError)
    async def _image(_request: Request, exc: ImageReadError) -> JSONResponse:
        err = image_error(exc)
        return error_response(err.status, err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")
