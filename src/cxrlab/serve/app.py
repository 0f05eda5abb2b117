"""``create_app(predictor, config)``: the FastAPI service.

- ``POST /v1/predict`` (multipart field ``file``, or the raw file as the body) -> probabilities,
  label, decision at the operating threshold, optional heatmap overlay and model view (base64 PNG)
- ``GET /v1/model`` -> the model card; ``GET /health`` -> liveness and the model's name
- ``GET /`` -> the web page (``serve/static``, no external resources); ``GET /openapi.json``
  (FastAPI's /docs pages are off: they load scripts from a CDN)

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
from cxrlab.explain.overlay import overlay_heatmap, png_bytes
from cxrlab.predict.predictor import Prediction, Predictor
from cxrlab.serve.config import ServeConfig
from cxrlab.serve.errors import install_error_handlers
from cxrlab.serve.upload import read_upload

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
    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        p: Predictor = request.app.state.predictor
        return {"status": "ok", "model": p.card.get("name"), "classes": list(p.classes), "heatmaps": p.has_heatmaps}

    @app.get("/v1/model")
    def model_card(request: Request) -> dict[str, Any]:
        return request.app.state.predictor.card

    @app.post("/v1/predict")
    async def predict(request: Request, heatmap: bool = False, image: bool = False) -> dict[str, Any]:
        state = request.app.state
        data, name = await read_upload(request, state.config.max_upload_bytes)
        pred = await anyio.to_thread.run_sync(_predict_one, state.predictor, data, name, state.config, heatmap,
                                              limiter=state.limiter)
        return prediction_json(pred, state.predictor, name, heatmap, image)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static_dir() / "index.html"), headers={"Content-Security-Policy": PAGE_CSP})


def _predict_one(predictor: Predictor, data: bytes, name: str, config: ServeConfig, heatmap: bool) -> Prediction:
    view = predictor.load(data, name=name, max_pixels=config.max_pixels)
    return predictor.predict_views(view[None], heatmaps=heatmap)[0]


def prediction_json(pred: Prediction, predictor: Predictor, name: str, heatmap: bool, image: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "filename": name,
        "label": pred.label,
        "probability": pred.probabilities[pred.label],
        "probabilities": pred.probabilities,
        "decision": {"label": pred.decision.label, "flagged": list(pred.decision.flagged),
                     "rule": pred.decision.rule, "thresholds": predictor.thresholds},
        "temperature": predictor.temperature,
        "model": predictor.card.get("name"),
        "intended_use": predictor.card.get("intended_use"),
    }
    if heatmap:
        out["heatmap"] = None if pred.heatmap is None else {
            "class": pred.heatmap_class, "png_base64": _b64(png_bytes(overlay_heatmap(pred.image, pred.heatmap)))}
        if pred.heatmap is None:
            out["heatmap_note"] = "this model's bundle has no heatmap output (see the card's 'heatmap')"
    if image:
        out["image"] = {"png_base64": _b64(png_bytes(pred.image)), "size": predictor.size}
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
