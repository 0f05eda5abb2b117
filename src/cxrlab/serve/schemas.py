"""The bodies the API answers with, as Pydantic models: FastAPI validates every response against
them and ``/openapi.json`` names them (``components.schemas``).

Fields that are only sent in some cases (``heatmap`` and ``heatmap_note``, ``image``, the film's
PNG) have no value unless set, and the routes answer with ``response_model_exclude_unset``: a
field that was not set is left out of the JSON, never sent as ``null``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    """``GET /health``: the service is up and its model loaded."""

    status: Literal["ok"]
    model: str | None = Field(description="The model's name (the card's ``name``).")
    classes: list[str]
    heatmaps: bool = Field(description="Whether the model's bundle has a heatmap output.")


class ModelCard(BaseModel):
    """``GET /v1/model``: the bundle's card (``BundleCard.to_dict()``, the JSON of ``card.json``;
    keys other than these pass through)."""

    model_config = ConfigDict(extra="allow")

    classes: list[str]
    name: str | None = None
    format: str | None = None
    format_version: int | None = None
    created: str | None = None
    cxrlab_version: str | None = None
    intended_use: str | None = None
    limitations: list[str] | None = None
    architecture: str | None = None
    label_scheme: Any = None
    input: dict[str, Any] | None = None
    preprocessing: dict[str, Any] | None = None
    temperature: float | None = None
    thresholds: dict[str, float] | None = None
    metrics: dict[str, Any] | None = None
    training_data: dict[str, Any] | None = None


class Decision(BaseModel):
    """The decision at the card's operating thresholds (arg-max when it has none)."""

    label: str = Field(description="The decided class, or ``none`` when thresholds exist and none is reached.")
    flagged: list[str] = Field(description="Classes at or over their threshold.")
    rule: str = Field(description="The rule that decided, in words.")
    thresholds: dict[str, float]


class FilmInfo(BaseModel):
    """The film as decoded; with ``?image=true`` also the film as shown (scaled down) as PNG."""

    width: int
    height: int
    png_base64: str | None = None
    shown_width: int | None = None
    shown_height: int | None = None


class DicomFields(BaseModel):
    """The DICOM header fields the reader found (``cxrlab.io.images.HEADER_FIELDS``); none for PNG/JPEG."""

    modality: str | None = None
    view: str | None = None
    body_part: str | None = None
    patient_age: str | None = None
    patient_sex: str | None = None
    manufacturer: str | None = None
    pixel_spacing: str | None = None
    photometric: str | None = None
    transfer_syntax: str | None = None


class Heatmap(BaseModel):
    """The class heatmap laid on the film (at most 1024 px on the long side)."""

    class_: str = Field(alias="class", description="The class the map is for.")
    png_base64: str = Field(description="The overlay on the film.")
    colors_png_base64: str = Field(description="The coloured map alone, at the same size.")
    width: int
    height: int


class ModelView(BaseModel):
    """The model's input, as it saw the film (``size`` x ``size``)."""

    png_base64: str
    size: int


class PredictResponse(BaseModel):
    """``POST /v1/predict``: one film's probabilities, decision, warnings and optional pictures."""

    filename: str
    label: str = Field(description="The most probable class.")
    probability: float
    probabilities: dict[str, float] = Field(description="Temperature-scaled class probabilities (sum 1).")
    decision: Decision
    warnings: list[str] = Field(description="What the reader noticed (lateral view, degenerate film...); read them first.")
    film: FilmInfo | None
    dicom: DicomFields
    temperature: float
    model: str | None
    intended_use: str | None
    heatmap: Heatmap | None = Field(None, description="With ``?heatmap=true``; null when the model has no heatmap output.")
    heatmap_note: str | None = Field(None, description="With ``?heatmap=true``, when the model has no heatmap output.")
    image: ModelView | None = Field(None, description="With ``?image=true``.")


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable, machine-readable name (``empty_file``, ``too_many_pixels``...).")
    message: str = Field(description="What went wrong, naming the file when there is one.")


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail
