"""The decision at the operating thresholds stored in the card.

``thresholds`` maps class names to probability thresholds (``{"COVID": 0.37}``, written by
``cxrlab evaluate``): a class is *flagged* when its (temperature-scaled) probability is
``>= threshold``. The decision is the most probable flagged class; when none is flagged, the most
probable class that has no threshold (for a binary model: the other class); when every class has a
threshold and none is reached, ``"none"``. Without thresholds the decision is the arg-max class.
Unknown keys or non-numeric values in ``thresholds`` are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NO_DECISION = "none"


@dataclass(frozen=True)
class Decision:
    label: str
    flagged: tuple[str, ...]
    rule: str


def class_thresholds(thresholds: Mapping[str, Any] | None, classes: Sequence[str]) -> dict[str, float]:
    """The usable ``class -> threshold`` pairs (numbers, or ``{"threshold": number}``)."""
    out = {}
    for cls in classes:
        value = (thresholds or {}).get(cls)
        if isinstance(value, Mapping):
            value = value.get("threshold")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0:
            out[cls] = float(value)
    return out


def decide(probs: Sequence[float], classes: Sequence[str], thresholds: Mapping[str, float]) -> Decision:
    """Apply the operating thresholds to one image's probabilities (see the module docstring)."""
    p = {c: float(v) for c, v in zip(classes, probs)}
    best = max(classes, key=lambda c: p[c])
    if not thresholds:
        return Decision(best, (), f"arg-max: {best} has the highest probability ({p[best]:.3f})")
    flagged = tuple(c for c in classes if c in thresholds and p[c] >= thresholds[c])
    if flagged:
        label = max(flagged, key=lambda c: p[c])
        return Decision(label, flagged, f"{label} probability {p[label]:.3f} >= threshold {thresholds[label]:.3f}")
    below = "; ".join(f"{c} {p[c]:.3f} < {t:.3f}" for c, t in thresholds.items())
    rest = [c for c in classes if c not in thresholds]
    if not rest:
        return Decision(NO_DECISION, (), f"no class reached its threshold ({below})")
    label = max(rest, key=lambda c: p[c])
    return Decision(label, (), f"below threshold ({below}) -> {label}")
