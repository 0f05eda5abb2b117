"""``CalibrationRecord``: the temperature and operating thresholds ``cxrlab evaluate`` fitted on a
run's validation split, in the run's own ``evaluation/calibration.json`` — never written back into
the training checkpoint.

The record names the weights it was fitted for (their SHA-256), so it only applies to that
checkpoint: :func:`read_calibration` falls back to the checkpoint's own ``temperature`` /
``thresholds`` when there is no record for these weights (e.g. runs evaluated before this file
existed, whose checkpoints hold them, or a checkpoint retrained since).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cxrlab.artifacts.checkpoint import read_meta, resolve_checkpoint_dir, weights_sha256
from cxrlab.artifacts.checkpoint_meta import CheckpointMeta
from cxrlab.artifacts.provenance import utc_now
from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.config import from_dict
from cxrlab.errors import ConfigError
from cxrlab.io.atomic import write_text

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CalibrationRecord:
    temperature: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)  # class -> probability threshold
    target_class: str = ""  # the class whose threshold was fitted last
    target_sensitivity: float | None = None
    fitted_on: str = ""  # "validation" (fitted) or "checkpoint" (taken from checkpoint.json)
    checkpoint: str = ""  # the checkpoint folder it was fitted for
    weights_sha256: str = ""  # ... and its weights
    created: str = ""
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "calibration.json") -> CalibrationRecord:
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise ConfigError(f"{where}: calibration format {data['format_version']} is newer than this cxrlab supports")
        return from_dict(cls, data, where=where)


def calibration_path(checkpoint_dir: str | Path) -> Path:
    """Where the calibration of a checkpoint lives: its run's ``evaluation/calibration.json``."""
    return RunFolder.of_checkpoint(checkpoint_dir).calibration


def write_calibration(checkpoint_dir: str | Path, temperature: float, thresholds: dict[str, float],
                      target_class: str = "", target_sensitivity: float | None = None) -> Path:
    """Record a calibration fitted on validation for the checkpoint in ``checkpoint_dir``."""
    folder = resolve_checkpoint_dir(checkpoint_dir)
    record = CalibrationRecord(float(temperature), {str(k): float(v) for k, v in thresholds.items()}, target_class,
                               target_sensitivity, "validation", str(folder), weights_sha256(folder), utc_now())
    path = calibration_path(folder)
    write_text(path, json.dumps(record.to_dict(), indent=2) + "\n")
    return path


def read_calibration(path: str | Path, which: str = "best") -> CalibrationRecord:
    """The calibration of a run's or checkpoint folder's checkpoint: the record fitted for these
    weights, else the checkpoint's own fields (``fitted_on="checkpoint"``)."""
    folder = resolve_checkpoint_dir(path, which)
    file = calibration_path(folder)
    if file.exists():
        try:
            record = CalibrationRecord.from_dict(json.loads(file.read_text(encoding="utf-8")), where=str(file))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{file}: unreadable ({exc})") from None
        if record.weights_sha256 and record.weights_sha256 == weights_sha256(folder):
            return record
    meta = read_meta(folder)
    thresholds = {k: float(v) for k, v in meta.thresholds.items() if isinstance(v, (int, float))}
    return CalibrationRecord(float(meta.temperature or 1.0), thresholds, fitted_on="checkpoint", checkpoint=str(folder),
                             weights_sha256=weights_sha256(folder), created=meta.created)


def calibrated(meta: CheckpointMeta, record: CalibrationRecord) -> CheckpointMeta:
    """``meta`` with the record's temperature and thresholds (what export, explain and evaluate use)."""
    return replace(meta, temperature=record.temperature, thresholds=dict(record.thresholds))
