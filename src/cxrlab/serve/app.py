"""``create_app(predictor, config)``: the FastAPI service.

- ``POST /v1/predict`` (multipart field ``file``, or the raw file as the body) -> probabilities,
  label, decision at the operating threshold, ``warnings`` (lateral view, degenerate image...), the
  film's size and DICOM fields, optional heatmap overlay on the film and model view (base64 PNG)
- ``GET /v1/model`` -> the model card; ``GET /health`` -> liveness and the model's name
- errors -> ``{"error": {"code", "message"}}`` with the status of the error's type (``serve/errors.py``)
- ``GET /`` -> the web page (``serve/static``, no external resources); ``GET /openapi.json``
  (FastAPI's /docs pages are off: they load scripts from a CDN)

Every response body is a Pydantic model of ``serve/schemas.py``, declared on its route, so
``/openapi.json`` describes them.

The predictor is created (or taken) once, in ``lifespan``, and kept on ``app.state``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from cxrlab import __version__
from cxrlab.explain.overlay import heatmap_colors, heatmap_on_film, overlay_heatmap, png_bytes
from cxrlab.io.images import HEADER_FIELDS
from cxrlab.predict.predictor import Film, Prediction, Predictor
from cxrlab.serve.config import ServeConfig
from cxrlab.serve.errors import INTERNAL_ERROR, error_responses, install_error_handlers, predict_error_kinds
from cxrlab.serve.schemas import (
    Decision,
    DicomFields,
    FilmInfo,
    Health,
    Heatmap,
    ModelCard,
    ModelView,
    PredictResponse,
)
from cxrlab.serve.upload import read_upload

#: ``POST /v1/predict``'s body, read by ``serve/upload.py`` (not by FastAPI, hence declared here).
PREDICT_BODY = {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}}
PAGE_CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'"


def static_dir():
    return files("cxrlab.serve") / "static"


def create_app(predictor: Predictor | Callable[[], Predictor], config: ServeConfig | None = None) -> FastAPI:
    """The app; ``predictor`` is a loaded Predictor or a zero-argument function that loads one."""
    config = config or ServeConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = predictor if isinstance(predictor, Predictor) else predictor()
        loaded.predict_views(np.zeros((1, loaded.size, loaded.size), np.uint8), heatmaps=True)  # warm up
        app.state.predictor = loaded
        app.state.config = config
        app.state.limiter = anyio.CapacityLimiter(config.max_concurrent)
        yield

    app = FastAPI(title="cxrlab", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Chest X-ray classifier - research use only, not a medical device.")
    install_error_handlers(app)
    _routes(app)
    app.mount("/static", StaticFiles(directory=str(static_dir())), name="static")
    return app


def _routes(app: FastAPI) -> None:
    bug = error_responses(INTERNAL_ERROR)

    @app.get("/health", response_model=Health, responses=bug)
    def health(request: Request) -> Health:
        p: Predictor = request.app.state.predictor
        return Health(status="ok", model=p.card.name, classes=list(p.classes), heatmaps=p.has_heatmaps)

    @app.get("/v1/model", response_model=ModelCard, response_model_exclude_unset=True, responses=bug)
    def model_card(request: Request) -> ModelCard:
        return ModelCard.model_validate(request.app.state.predictor.card.to_dict())

    @app.post("/v1/predict", response_model=PredictResponse, response_model_exclude_unset=True,
              responses=error_responses(*predict_error_kinds()), openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(request: Request, heatmap: bool = False, image: bool = False) -> PredictResponse:
        state = request.app.state
        data, name = await read_upload(request, state.config.max_upload_bytes, state.config.read_timeout_s)
        return await anyio.to_thread.run_sync(_predict_one, state.predictor, data, name, state.config, heatmap, image,
                                              limiter=state.limiter)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static_dir() / "index.html"), headers={"Content-Security-Policy": PAGE_CSP})


def _predict_one(predictor: Predictor, data: bytes, name: str, config: ServeConfig, heatmap: bool,
                 image: bool) -> PredictResponse:
    film = predictor.read(data, name=name, max_pixels=config.max_pixels, keep_film=heatmap or image)
    del data
    pred = predictor.predict_views(film.view[None], heatmaps=heatmap)[0]
    return prediction_response(pred, predictor, name, heatmap, image, film)


#: The DICOM header fields a person checks before trusting a result (the reader's ``HEADER_FIELDS``).
DICOM_FIELDS = HEADER_FIELDS


def prediction_response(pred: Prediction, predictor: Predictor, name: str, heatmap: bool, image: bool,
                        film: Film | None = None) -> PredictResponse:
    """The answer for one film; the optional parts are set only when asked for (see ``schemas``)."""
    meta = (film.meta if film else None) or {}
    shown = film.display if film is not None and film.display is not None else pred.image
    extra: dict[str, Any] = {}
    if heatmap:
        extra.update(_heatmap(pred, predictor, shown))
    film_info = FilmInfo(width=film.width, height=film.height) if film else None
    if image:
        extra["image"] = ModelView(png_base64=_b64(png_bytes(pred.image)), size=predictor.size)
        if film_info is not None:
            film_info = FilmInfo(width=film_info.width, height=film_info.height, png_base64=_b64(png_bytes(shown)),
                                 shown_width=int(shown.shape[1]), shown_height=int(shown.shape[0]))
    return PredictResponse(
        filename=name,
        label=pred.label,
        probability=pred.probabilities[pred.label],
        probabilities=pred.probabilities,
        decision=Decision(label=pred.decision.label, flagged=list(pred.decision.flagged), rule=pred.decision.rule,
                          thresholds=predictor.thresholds),
        warnings=list(film.warnings) if film else [],
        film=film_info,
        dicom=DicomFields(**{k: meta[k] for k in DICOM_FIELDS if meta.get(k)}),
        temperature=predictor.temperature,
        model=predictor.card.name,
        intended_use=predictor.card.intended_use,
        **extra,
    )


def _heatmap(pred: Prediction, predictor: Predictor, shown: np.ndarray) -> dict[str, Any]:
    if pred.heatmap is None:
        return {"heatmap": None, "heatmap_note": "this model's bundle has no heatmap output (see the card's 'heatmap')"}
    on_film, cam = heatmap_on_film(shown, pred.heatmap, predictor.preprocess_config)
    return {"heatmap": Heatmap.model_validate({
        "class": pred.heatmap_class, "png_base64": _b64(png_bytes(overlay_heatmap(on_film, cam))),
        "colors_png_base64": _b64(png_bytes(heatmap_colors(cam))),
        "width": int(cam.shape[1]), "height": int(cam.shape[0])})}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
