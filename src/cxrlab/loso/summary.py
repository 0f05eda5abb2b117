"""The model card's ``external_validation``: a leave-one-source-out run's held-out results, compact.

Per held-out source, the numbers at the operating point (arg-max where there is none) with their
counts and Wilson intervals, and ``failure_modes``: the plain-language lines where a held-out
source missed a target (COVID sensitivity < 0.90, > 10 % of adult non-COVID films called COVID,
adult pneumonia recall < 0.60, pneumonia-vs-normal AUROC < 0.80).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cxrlab.errors import ConfigError

KEYS = ("covid_sensitivity", "covid_auroc", "adult_non_covid_called_covid", "adult_pneumonia_recall",
        "adult_pneumonia_vs_normal_auroc")
#: (key, target, True when higher is better, wording)
TARGETS = (
    ("covid_sensitivity", 0.90, True, "COVID sensitivity"),
    ("adult_non_covid_called_covid", 0.10, False, "share of adult non-COVID films called COVID"),
    ("adult_pneumonia_recall", 0.60, True, "adult pneumonia recall"),
    ("adult_pneumonia_vs_normal_auroc", 0.80, True, "adult pneumonia-vs-normal AUROC"),
)


def read_loso(path: str | Path) -> dict[str, Any]:
    """``loso.json`` of a ``cxrlab loso`` folder (or the file itself)."""
    path = Path(path)
    file = path / "loso.json" if path.is_dir() else path
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no loso.json here; run 'cxrlab loso' first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{file}: unreadable leave-one-source-out summary ({exc})") from None


def external_validation(path: str | Path) -> dict[str, Any]:
    summary = read_loso(path)
    folds, failures = {}, []
    for holdout, scores in summary.get("folds", {}).items():
        decision = "operating_point" if "operating_point" in scores else "argmax"
        held = scores[decision]["holdout"]
        folds[holdout] = {"decision": decision, "films": held.get("films"),
                          **{k: held[k] for k in KEYS if isinstance(held.get(k), dict) and held[k].get("value") is not None},
                          "internal_macro_f1": scores[decision]["internal"].get("macro_f1", {}).get("value")}
        for key, target, higher, words in TARGETS:
            value = (held.get(key) or {}).get("value")
            if value is not None and (value < target if higher else value > target):
                failures.append(f"{holdout} (held out): {words} {value:.2f} (target {'≥' if higher else '≤'} {target:.2f})")
    return {"method": "leave-one-source-out (cxrlab loso): each source held out as a new hospital",
            "file": str(path), "folds": folds, "failure_modes": failures}
