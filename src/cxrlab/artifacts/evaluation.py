"""``EvaluationSummary``: the headline of an evaluation's ``metrics.json`` (written by ``cxrlab
evaluate``), as the model card and other readers need it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxrlab.artifacts.run_folder import RunFolder


@dataclass(frozen=True)
class EvaluationSummary:
    file: str
    evaluated_on: str | None = None  # the set's name (test, external...)
    external: bool | None = None
    headline: dict[str, Any] | None = None  # {metric: {value, low, high}}
    confidence: dict[str, Any] | None = None  # the bootstrap: resamples, seed, level, unit
    external_vs_internal: str | None = None  # the comparison's verdict (external evaluations)
    note: str = ""  # why the numbers are missing

    def to_dict(self) -> dict[str, Any]:
        if self.note:
            return {"file": self.file, "note": self.note}
        return {"file": self.file, "evaluated_on": self.evaluated_on, "external": self.external,
                "headline": self.headline, "confidence": self.confidence,
                "external_vs_internal": self.external_vs_internal}


def run_metrics(checkpoint_dir: str | Path) -> Path:
    """The ``metrics.json`` of the run a checkpoint belongs to (its ``evaluation/``)."""
    return RunFolder.of_checkpoint(checkpoint_dir).metrics


def read_evaluation(path: str | Path) -> EvaluationSummary | None:
    """The summary of a ``metrics.json`` (``None`` when there is none; a ``note`` when unreadable)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return EvaluationSummary(str(path), note="metrics.json unreadable")
    evaluated = data.get("evaluated") if isinstance(data.get("evaluated"), dict) else {}
    comparison = data.get("comparison") if isinstance(data.get("comparison"), dict) else {}
    return EvaluationSummary(str(path), evaluated.get("name"), evaluated.get("external"), data.get("headline"),
                             data.get("bootstrap"), comparison.get("verdict"))
