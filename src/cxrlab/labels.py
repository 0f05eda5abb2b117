"""Canonical finding labels and label schemes (binary / 3class / 4class / user YAML).

Indexing normalises every dataset's own label into one *canonical* vocabulary (``label`` column
of the manifest, with the dataset's text kept in ``original_label``). A :class:`LabelScheme` then
maps canonical labels to the classes of a task; labels it does not map are excluded (and counted).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from cxrlab.errors import ConfigError

COVID = "COVID"
NORMAL = "Normal"
PNEUMONIA = "Pneumonia"  # pneumonia, cause unspecified
VIRAL = "Pneumonia-Viral"
BACTERIAL = "Pneumonia-Bacterial"
LUNG_OPACITY = "Lung_Opacity"
OTHER = "Other"  # another finding (fungal, lipoid, ARDS...)

CANONICAL_LABELS = (COVID, NORMAL, PNEUMONIA, VIRAL, BACTERIAL, LUNG_OPACITY, OTHER)

# Spellings seen in public datasets -> canonical label. Keys are compared after `_key()`.
_ALIASES = {
    "covid": COVID, "covid19": COVID, "covid-19": COVID, "covid 19": COVID, "sars-cov-2": COVID,
    "pneumonia/viral/covid-19": COVID, "covid-19, ards": COVID, "covid19 folder": COVID,
    "normal": NORMAL, "no finding": NORMAL, "nofinding": NORMAL, "healthy": NORMAL,
    "pneumonia": PNEUMONIA,
    "viral pneumonia": VIRAL, "viral_pneumonia": VIRAL, "pneumonia-viral": VIRAL, "virus": VIRAL,
    "viralpneumonia": VIRAL, "pneumonia/viral": VIRAL, "sars": VIRAL, "mers": VIRAL,
    "influenza": VIRAL, "varicella": VIRAL, "herpes": VIRAL,
    "bacterial pneumonia": BACTERIAL, "bacterialpneumonia": BACTERIAL, "pneumonia-bacterial": BACTERIAL,
    "bacteria": BACTERIAL, "pneumonia/bacterial": BACTERIAL, "bacterial": BACTERIAL,
    "streptococcus": BACTERIAL, "klebsiella": BACTERIAL, "mycoplasma": BACTERIAL,
    "mycoplasma bacterial pneumonia": BACTERIAL, "e.coli": BACTERIAL, "legionella": BACTERIAL,
    "chlamydophila": BACTERIAL, "staphylococcus": BACTERIAL, "nocardia": BACTERIAL,
    "lung opacity": LUNG_OPACITY, "lung_opacity": LUNG_OPACITY, "lung-opacity": LUNG_OPACITY,
    "other": OTHER, "pneumocystis": OTHER, "lipoid": OTHER, "ards": OTHER, "aspergillosis": OTHER,
    "tuberculosis": OTHER, "fungal": OTHER,
}


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip().lower())


def canonical_label(original: str) -> str | None:
    """Map a dataset's label text to the canonical vocabulary, or ``None`` if unknown.

    Handles ieee8023 hierarchical findings such as ``Pneumonia/Viral/COVID-19`` or
    ``Pneumonia/Bacterial/Streptococcus`` by trying the most specific part first.
    """
    key = _key(original)
    if key in _ALIASES:
        return _ALIASES[key]
    parts = [p.strip() for p in re.split(r"[/,]", key) if p.strip()]
    for part in reversed(parts):
        if part in _ALIASES and _ALIASES[part] != PNEUMONIA:
            return _ALIASES[part]
    if "covid" in key and not re.search(r"\b(non|not|no|negative)\b", key):  # never "Non-COVID" -> COVID
        return COVID
    if parts and parts[0] in _ALIASES:
        return _ALIASES[parts[0]]
    return None


@dataclass(frozen=True)
class LabelScheme:
    """A task: its ordered ``classes`` and a mapping from canonical labels to them."""

    name: str
    classes: tuple[str, ...]
    mapping: tuple[tuple[str, str], ...]  # (canonical label, class) pairs

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise ConfigError(f"label scheme {self.name!r} needs at least two classes")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"label scheme {self.name!r} lists a class twice")
        for source, target in self.mapping:
            if target not in self.classes:
                raise ConfigError(f"label scheme {self.name!r}: {source!r} maps to unknown class {target!r}")

    def map(self, label: str) -> str | None:
        """The class of a canonical label, or ``None`` when the scheme excludes it."""
        for source, target in self.mapping:
            if source == label:
                return target
        return None

    def index(self, label: str) -> int | None:
        cls = self.map(label)
        return None if cls is None else self.classes.index(cls)

    def apply(self, labels: Iterable[str]) -> tuple[list[str | None], Counter]:
        """Map many labels; returns the classes (None = excluded) and a count of excluded labels."""
        out, excluded = [], Counter()
        for label in labels:
            cls = self.map(label)
            out.append(cls)
            if cls is None:
                excluded[label] += 1
        return out, excluded

    def to_dict(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "mapping": dict(self.mapping)}

    @classmethod
    def from_dict(cls, data: dict) -> LabelScheme:
        """Inverse of :meth:`to_dict` (``{name, classes: [...], mapping: {label: class}}``)."""
        if not isinstance(data, dict) or not isinstance(data.get("classes"), (list, tuple)) \
                or not isinstance(data.get("mapping"), dict):
            raise ConfigError(f"a label scheme needs 'name', 'classes' (list) and 'mapping' (label: class), got {data!r}")
        return cls(name=str(data.get("name", "")), classes=tuple(map(str, data["classes"])),
                   mapping=tuple((str(k), str(v)) for k, v in data["mapping"].items()))


def _scheme(name: str, classes: tuple[str, ...], mapping: dict[str, str]) -> LabelScheme:
    return LabelScheme(name=name, classes=classes, mapping=tuple(mapping.items()))


def builtin_schemes() -> dict[str, LabelScheme]:
    """The named schemes every cxrlab install knows."""
    return {
        "binary": _scheme(
            "binary", ("Normal", "Abnormal"),
            {NORMAL: "Normal", COVID: "Abnormal", PNEUMONIA: "Abnormal", VIRAL: "Abnormal",
             BACTERIAL: "Abnormal", LUNG_OPACITY: "Abnormal", OTHER: "Abnormal"},
        ),
        "covid-binary": _scheme(
            "covid-binary", ("Non-COVID", "COVID"),
            {COVID: "COVID", NORMAL: "Non-COVID", PNEUMONIA: "Non-COVID", VIRAL: "Non-COVID",
             BACTERIAL: "Non-COVID", LUNG_OPACITY: "Non-COVID", OTHER: "Non-COVID"},
        ),
        # Pneumonia = pneumonia and the other non-COVID lung findings (opacities, tuberculosis, effusions...):
        # adult non-COVID disease teaches "abnormal, not COVID" (leave-one-source-out: benchmarks/results/loso_adult.md)
        "3class": _scheme(
            "3class", ("COVID", "Normal", "Pneumonia"),
            {COVID: "COVID", NORMAL: "Normal", PNEUMONIA: "Pneumonia", VIRAL: "Pneumonia", BACTERIAL: "Pneumonia",
             LUNG_OPACITY: "Pneumonia", OTHER: "Pneumonia"},
        ),
        "4class": _scheme(
            "4class", ("COVID", "Lung_Opacity", "Normal", "Viral_Pneumonia"),
            {COVID: "COVID", LUNG_OPACITY: "Lung_Opacity", NORMAL: "Normal", VIRAL: "Viral_Pneumonia"},
        ),
    }


def load_scheme(name_or_path: str | Path) -> LabelScheme:
    """A built-in scheme by name, or a user YAML file::

        name: covid-vs-rest
        classes: [COVID, Other]
        mapping: {COVID: COVID, Normal: Other, Pneumonia-Viral: Other}
    """
    schemes = builtin_schemes()
    if str(name_or_path) in schemes:
        return schemes[str(name_or_path)]
    path = Path(name_or_path)
    if not path.suffix.lower() in (".yaml", ".yml") or not path.exists():
        raise ConfigError(
            f"unknown label scheme {str(name_or_path)!r}: use one of {', '.join(schemes)} or a YAML file path"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read label scheme ({exc})") from None
    if not isinstance(data, dict) or "classes" not in data or "mapping" not in data:
        raise ConfigError(f"{path}: a label scheme needs 'classes' (list) and 'mapping' (label: class)")
    mapping = data["mapping"]
    if not isinstance(mapping, dict) or not isinstance(data["classes"], list):
        raise ConfigError(f"{path}: 'classes' must be a list and 'mapping' a mapping")
    pairs = []
    for source, target in mapping.items():
        canon = source if source in CANONICAL_LABELS else canonical_label(str(source))
        if canon is None:
            raise ConfigError(f"{path}: mapping key {source!r} is not a known label ({', '.join(CANONICAL_LABELS)})")
        pairs.append((canon, str(target)))
    try:
        return LabelScheme(name=str(data.get("name", path.stem)), classes=tuple(map(str, data["classes"])), mapping=tuple(pairs))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
