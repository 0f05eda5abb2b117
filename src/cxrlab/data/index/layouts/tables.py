"""Table layouts: a per-folder ``manifest.csv`` (file, class, original_label, patient_id, view, ...)
and an ieee8023-style metadata CSV (filename, finding, patientid, view, modality, images/ beside it)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from cxrlab.data.index.layouts.common import (
    DUPLICATE_PATH, LATERAL, NOT_XRAY, Candidate, Found, is_lateral, is_xray_modality, namespaced,
)
from cxrlab.labels import canonical_label

MANIFEST_NAME = "manifest.csv"
_FILE_COLUMNS = ("file", "path", "filename", "image", "image_path")
_LABEL_COLUMNS = ("class", "label")
_METADATA_COLUMNS = ("filename", "finding")
_IEEE8023_SIGNATURE = ("patientid", "offset", "clinical_notes")
_SPLIT_VALUES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test",
                 "external": "external"}


def csv_header(path: Path) -> list[str]:
    """Lower-cased column names of a CSV file (empty if it cannot be read)."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            return [c.strip().lower() for c in next(csv.reader(fh), [])]
    except (OSError, csv.Error):
        return []


def table_layout(folder: Path, file_names: list[str]) -> tuple[str, Path] | None:
    """``("manifest" | "metadata", csv path)`` when the folder holds a table layout."""
    if MANIFEST_NAME in file_names:
        header = csv_header(folder / MANIFEST_NAME)
        if any(c in header for c in _FILE_COLUMNS) and any(c in header for c in _LABEL_COLUMNS):
            return "manifest", folder / MANIFEST_NAME
    for name in sorted(file_names):
        if name.lower().endswith(".csv") and all(c in csv_header(folder / name) for c in _METADATA_COLUMNS):
            return "metadata", folder / name
    return None


def manifest_table_problem(folder: Path, file_names: list[str]) -> str | None:
    """Why a folder's ``manifest.csv`` cannot be used as its table (None when it can, or there is none):
    it is then ignored and the folders give the labels, which the user must be told."""
    if MANIFEST_NAME not in file_names:
        return None
    header = csv_header(folder / MANIFEST_NAME)
    lacking = [f"a label column ({' or '.join(_LABEL_COLUMNS)})"] if not any(c in header for c in _LABEL_COLUMNS) else []
    if not any(c in header for c in _FILE_COLUMNS):
        lacking.insert(0, f"a file column ({' or '.join(_FILE_COLUMNS)})")
    if not lacking:
        return None
    found = ", ".join(header) if header else "none (empty or unreadable file)"
    return (f"manifest.csv ignored: it lacks {' and '.join(lacking)}; columns found: {found}. "
            "Labels come from the folder names (or another dataset table) instead")


def climbs_out(path: str, folder: Path) -> bool:
    """True when a table's (normalised) file path leaves the table's folder (``../..``, absolute)."""
    base = os.path.normpath(os.path.abspath(folder))
    return os.path.commonpath([base, os.path.abspath(path)]) != base


def _read_rows(csv_path: Path, found: Found) -> list[dict[str, str]] | None:
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        found.skip(str(csv_path), f"dataset table is not a readable CSV ({exc})")
        return None
    df.columns = [str(c).strip().lower() for c in df.columns]
    return [{k: str(v).strip() for k, v in row.items()} for row in df.to_dict("records")]


def index_manifest_table(csv_path: Path, source: str, found: Found, frontal_only: bool) -> set[str] | None:
    """Rows of a per-folder ``manifest.csv``; returns the paths it lists (None if unreadable)."""
    rows = _read_rows(csv_path, found)
    if rows is None:
        return None
    file_col = next(c for c in _FILE_COLUMNS if c in rows[0]) if rows else "file"
    label_col = next(c for c in _LABEL_COLUMNS if c in rows[0]) if rows else "class"
    listed: set[str] = set()
    for row in rows:
        path = os.path.normpath(os.path.join(csv_path.parent, row[file_col]))
        given = row[label_col]
        original = row.get("original_label") or given
        candidate = Candidate(
            path=path, source=source, label=canonical_label(given) or canonical_label(original) or "",
            original_label=original, patient_id=namespaced(row.get("patient_id", ""), source),
            view=row.get("view", ""), split=_SPLIT_VALUES.get(row.get("split", "").lower(), ""),
        )
        _add_row(candidate, csv_path, row.get("modality", ""), listed, found, frontal_only)
    return listed


def index_metadata_table(csv_path: Path, source: str, found: Found, frontal_only: bool) -> set[str] | None:
    """Rows of an ieee8023-style metadata CSV; images in ``images/`` (or the ``folder`` column)."""
    rows = _read_rows(csv_path, found)
    if rows is None:
        return None
    header = set(rows[0]) if rows else set()
    namespace = "ieee8023" if all(c in header for c in _IEEE8023_SIGNATURE) else source
    listed: set[str] = set()
    for row in rows:
        candidate = Candidate(
            path=_metadata_image_path(csv_path.parent, row), source=source,
            label=canonical_label(row["finding"]) or "", original_label=row["finding"],
            patient_id=namespaced(row.get("patientid", ""), namespace), view=row.get("view", ""),
        )
        _add_row(candidate, csv_path, row.get("modality", ""), listed, found, frontal_only)
    return listed


def _metadata_image_path(folder: Path, row: dict[str, str]) -> str:
    name = row["filename"]
    if row.get("folder"):
        return os.path.normpath(os.path.join(folder, row["folder"], name))
    for option in (folder / "images" / name, folder / name):
        if option.is_file():
            return os.path.normpath(option)
    return os.path.normpath(folder / "images" / name)


def _add_row(candidate: Candidate, csv_path: Path, modality: str, listed: set[str], found: Found,
             frontal_only: bool) -> None:
    """Apply the exclusion rules to one table row, in a fixed order, and keep it if it passes."""
    path = candidate.path
    if climbs_out(path, csv_path.parent):
        found.skip(path, f"listed in {csv_path} but outside the dataset folder {csv_path.parent} (refused)")
        return
    if path in listed:
        found.exclude(path, DUPLICATE_PATH)
    elif not is_xray_modality(modality):
        found.exclude(path, NOT_XRAY)
    elif frontal_only and is_lateral(candidate.view):
        found.exclude(path, LATERAL)
    elif not candidate.label:
        found.unknown(path, candidate.original_label)
    elif not os.path.isfile(path):
        found.skip(path, f"listed in {csv_path} but the file does not exist")
    else:
        found.candidates.append(candidate)
    listed.add(path)
