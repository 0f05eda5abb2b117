"""``CheckpointMeta``: what ``checkpoint.json`` holds — everything needed to rebuild and use a model.

Typed: ``preprocess`` is a :class:`PreprocessConfig`, ``label_scheme`` a :class:`LabelScheme`.
On disk both are plain JSON objects (``to_dict`` / ``from_dict`` round-trip), the same layout
since format 1, so every existing checkpoint keeps loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from cxrlab.config import PreprocessConfig, from_dict, to_dict
from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CheckpointMeta:
    """What ``checkpoint.json`` holds. ``evaluate``/``export``/``predict``/``serve`` need nothing else.

    ``temperature``/``thresholds`` are the calibration a checkpoint was saved with (1.0 / none from
    training); ``cxrlab evaluate`` writes its fit to the run's ``evaluation/calibration.json``
    instead (:mod:`cxrlab.artifacts.calibration`).
    """

    architecture: str
    classes: tuple[str, ...]
    label_scheme: LabelScheme
    in_chans: int
    preprocess: PreprocessConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    thresholds: dict[str, Any] = field(default_factory=dict)
    weights_origin: dict[str, Any] = field(default_factory=dict)  # pretrained weights: package/file, sha256, mean/std
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str = ""
    created: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> int:
        return self.preprocess.size

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``checkpoint.json`` (without ``weights_sha256``)."""
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        record.update(classes=list(self.classes), label_scheme=self.label_scheme.to_dict(),
                      preprocess=to_dict(self.preprocess), mean=list(self.mean), std=list(self.std))
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any], where: str = "checkpoint.json") -> CheckpointMeta:
        """Inverse of :meth:`to_dict`; unknown keys (e.g. ``weights_sha256``) are ignored."""
        if int(record.get("format_version", 0)) > FORMAT_VERSION:
            raise ConfigError(f"{where}: checkpoint format {record['format_version']} is newer than this cxrlab supports")
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in record.items() if k in known}
        try:
            data["label_scheme"] = LabelScheme.from_dict(data["label_scheme"])
            data["preprocess"] = from_dict(PreprocessConfig, data["preprocess"], where="preprocess")
            return cls(**data)
        except KeyError as exc:
            raise ConfigError(f"{where}: missing field {exc}") from None
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
