"""What every dataset layout produces, and the naming rules they share.

A layout turns files on disk into :class:`Candidate` rows (an image to decode, with what the layout
knows about it: label, patient, view, split), or into *excluded* rows (a deliberate choice: lateral
view, CT, segmentation mask, unknown label...) and *skipped* files (a problem: missing, not an image).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from cxrlab.labels import canonical_label

# Reasons an image is excluded on purpose (counted in the summary, listed in index_excluded.csv).
UNKNOWN_LABEL = "unknown label"
LATERAL = "lateral view"
NOT_XRAY = "not an X-ray (CT/MR...)"
MASK = "segmentation mask"
UNLISTED = "not listed in the dataset table"
DUPLICATE_PATH = "same file listed twice"

#: Files that are never images and are ignored silently (documentation, tables, archives, code).
IGNORED_SUFFIXES = frozenset({
    ".txt", ".md", ".rst", ".csv", ".tsv", ".json", ".xlsx", ".xls", ".yaml", ".yml", ".xml", ".html",
    ".htm", ".pdf", ".py", ".ipynb", ".m", ".sh", ".log", ".zip", ".gz", ".tar", ".7z", ".npy", ".npz",
    ".pt", ".pth", ".onnx", ".safetensors", ".db", ".ini", ".cfg", ".toml", ".nii", ".doc", ".docx",
})
#: Folders never entered: hidden ones, macOS archive debris, cxrlab's own output folder.
IGNORED_DIRS = frozenset({"__macosx", "cxrlab-out", "__pycache__"})

_SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
           "dev": "val", "test": "test", "testing": "test"}
_MASK_DIRS = frozenset({"mask", "masks", "lung masks", "lung mask", "segmentation", "segmentations"})
#: Folder names taken as class folders (normalised: lower case, runs of space/_/- -> one space).
CLASS_FOLDER_NAMES = frozenset({
    "covid", "covid19", "covid 19", "sars cov 2", "normal", "no finding", "healthy", "pneumonia",
    "viral pneumonia", "viralpneumonia", "pneumonia viral", "bacterial pneumonia", "bacterialpneumonia",
    "pneumonia bacterial", "bacteria", "bacterial", "virus", "lung opacity", "other", "tuberculosis",
})
_LATERAL_VIEWS = frozenset({"l", "ll", "rl", "lat", "lateral", "left lateral", "right lateral"})
_XRAY_MODALITIES = frozenset({"", "x ray", "xray", "cr", "dx", "dr", "rg", "rx", "ot", "cxr", "radiograph"})


def normalise_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower()).strip()


def folder_label(name: str) -> str | None:
    """The canonical label of a class folder name (``Viral Pneumonia``, ``NORMAL``...), else None.

    Only well-known class names count, so that a dataset folder such as ``covid-cxnet`` is not
    mistaken for a ``COVID`` class folder.
    """
    norm = normalise_name(name)
    if norm not in CLASS_FOLDER_NAMES:
        return None
    spellings = (name, norm, norm.replace(" ", "-"), norm.replace(" ", "_"))
    return next((label for label in map(canonical_label, spellings) if label), None)


def split_name(name: str) -> str | None:
    """``train``/``val``/``test`` for a split folder name, else None."""
    return _SPLITS.get(name.strip().lower())


def is_mask_dir(name: str) -> bool:
    return normalise_name(name) in _MASK_DIRS


def is_mask_file(name: str) -> bool:
    stem = name.rsplit(".", 1)[0].lower()
    return stem.endswith(("_mask", "-mask"))


def is_lateral(view: str) -> bool:
    v = normalise_name(view)
    return v in _LATERAL_VIEWS or v.startswith("lateral")


def is_xray_modality(modality: str) -> bool:
    return normalise_name(modality) in _XRAY_MODALITIES


def namespaced(patient_id: str, namespace: str) -> str:
    """``namespace:id`` unless the id is empty or already carries a namespace."""
    pid = str(patient_id).strip()
    if not pid:
        return ""
    return pid if ":" in pid else f"{namespace}:{pid}"


@dataclass(frozen=True)
class Candidate:
    """An image to decode, with what its layout says about it."""

    path: str
    source: str
    label: str
    original_label: str
    patient_id: str = ""
    view: str = ""
    split: str = ""


@dataclass
class Found:
    """Everything the layouts found under the roots (filled in as they walk)."""

    candidates: list[Candidate] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    unknown_labels: Counter = field(default_factory=Counter)  # original label text -> images

    def exclude(self, path: str, reason: str) -> None:
        self.excluded.append((path, reason))

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))

    def unknown(self, path: str, original_label: str) -> None:
        self.excluded.append((path, UNKNOWN_LABEL))
        self.unknown_labels[original_label or "(none)"] += 1
