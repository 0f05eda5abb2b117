"""``BundleCard``: what a bundle's ``card.json`` holds, typed (built by :mod:`cxrlab.export.card`).

Typed: the fields code reads (name, classes, ``label_scheme: LabelScheme``, input size and channels,
``preprocess: PreprocessConfig``, mean/std, temperature, thresholds). The free-form parts (metrics
with intervals, training data summary, pretrained weights, source) are plain fields, and every other
key of the JSON (``outputs``, ``heatmap``, ``export``, ``training_profile``, ``external_validation``,
``adaptation``, ``site_calibration``...) is kept, in order, in ``extra``.

On disk the layout is bundle format 2: the input size only in ``input.size``, the other
PreprocessConfig fields with mean/std/steps in ``preprocessing``. :meth:`BundleCard.from_dict` also
reads format-1 cards, which repeated ``preprocessing.size``; ``to_dict()`` / ``from_dict()``
round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from cxrlab.config import PreprocessConfig, from_dict, to_dict
from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme

BUNDLE_FORMAT = "cxrlab-bundle"
BUNDLE_VERSION = 2  # 2: the input size only in input.size (1 also had preprocessing.size; still read)

PREPROCESSING_STEPS = ("decode (PNG/JPEG/DICOM, MONOCHROME2) -> 8-bit gray -> resize/equalise "
                       "(cxrlab.data.preprocess) -> x/255 -> (x - mean) / std")

#: The card's keys in the order ``card.json`` writes them; ``extra`` keys follow.
CARD_KEYS = ("format", "format_version", "name", "created", "cxrlab_version", "intended_use", "limitations",
             "architecture", "classes", "label_scheme", "input", "preprocessing", "pretrained_weights",
             "temperature", "thresholds", "metrics", "training_data", "source")


@dataclass(frozen=True)
class BundleCard:
    """What ``card.json`` holds. ``predict``/``serve``/``site`` need nothing else from it."""

    classes: tuple[str, ...]
    input_size: int
    in_chans: int
    preprocess: PreprocessConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str | None = None
    label_scheme: LabelScheme | None = None
    temperature: float = 1.0
    thresholds: dict[str, Any] = field(default_factory=dict)
    architecture: str | None = None
    intended_use: str | None = None
    limitations: tuple[str, ...] = ()
    created: str | None = None
    cxrlab_version: str | None = None
    pretrained_weights: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # every other key of card.json, in order
    format_version: int = BUNDLE_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "limitations", tuple(str(t) for t in self.limitations))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``card.json`` (bundle format 2 layout)."""
        record = {
            "format": BUNDLE_FORMAT, "format_version": self.format_version, "name": self.name,
            "created": self.created, "cxrlab_version": self.cxrlab_version, "intended_use": self.intended_use,
            "limitations": list(self.limitations), "architecture": self.architecture,
            "classes": list(self.classes),
            "label_scheme": self.label_scheme.to_dict() if self.label_scheme is not None else None,
            "input": {"name": "input", "shape": ["batch", self.in_chans, self.input_size, self.input_size],
                      "dtype": "float32", "size": self.input_size, "channels": self.in_chans},
            "preprocessing": {**_preprocessing(self.preprocess), "mean": list(self.mean), "std": list(self.std),
                              "steps": PREPROCESSING_STEPS},
            "pretrained_weights": dict(self.pretrained_weights), "temperature": self.temperature,
            "thresholds": dict(self.thresholds), "metrics": dict(self.metrics), "training_data": self.training_data,
            "source": dict(self.source),
        }
        return {**record, **{k: v for k, v in self.extra.items() if k not in record}}

    @classmethod
    def from_dict(cls, record: dict[str, Any], where: str = "card.json") -> BundleCard:
        """Inverse of :meth:`to_dict`; also reads format-1 cards (``preprocessing.size``)."""
        if int(record.get("format_version", 0)) > BUNDLE_VERSION:
            raise ConfigError(f"{where}: bundle format {record['format_version']} is newer than this cxrlab supports")
        try:
            scheme = record.get("label_scheme")
            return cls(
                classes=record["classes"], input_size=int(record["input"]["size"]),
                in_chans=int(record["input"]["channels"]), preprocess=card_preprocess(record),
                mean=record["preprocessing"]["mean"], std=record["preprocessing"]["std"],
                name=record.get("name"), label_scheme=LabelScheme.from_dict(scheme) if scheme else None,
                temperature=float(record.get("temperature") or 1.0), thresholds=dict(record.get("thresholds") or {}),
                architecture=record.get("architecture"), intended_use=record.get("intended_use"),
                limitations=record.get("limitations") or (), created=record.get("created"),
                cxrlab_version=record.get("cxrlab_version"),
                pretrained_weights=dict(record.get("pretrained_weights") or {}),
                metrics=dict(record.get("metrics") or {}), training_data=record.get("training_data"),
                source=dict(record.get("source") or {}),
                extra={k: v for k, v in record.items() if k not in CARD_KEYS},
                format_version=int(record.get("format_version", BUNDLE_VERSION)),
            )
        except KeyError as exc:
            raise ConfigError(f"{where}: missing field {exc}") from None
        except (ConfigError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _preprocessing(cfg: PreprocessConfig) -> dict[str, Any]:
    """The PreprocessConfig fields of the card's ``preprocessing`` (the size is ``input.size``)."""
    return {k: v for k, v in to_dict(cfg).items() if k != "size"}


def card_preprocess(record: dict[str, Any]) -> PreprocessConfig:
    """The :class:`PreprocessConfig` a card's JSON describes (``input.size`` + ``preprocessing``;
    a format-1 ``preprocessing.size`` is ignored: ``input.size`` is the one the graph takes)."""
    names = {f.name for f in fields(PreprocessConfig)}
    data = {k: v for k, v in record["preprocessing"].items() if k in names}
    data["size"] = record["input"]["size"]
    return from_dict(PreprocessConfig, data, where="card.json preprocessing")
