"""Age evidence for :mod:`cxrlab.data.population.infer`: manifest columns, DICOM headers, metadata tables."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

AGE_COLUMNS = ("age", "patient_age")
_DICOM_AGE = re.compile(r"^\s*(\d+)\s*([DWMY]?)\s*$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0, "": 1.0}


def parse_age(value: object) -> float | None:
    """Years from ``45``, ``45.0``, or a DICOM age string ``045Y`` / ``006M`` / ``010W`` / ``003D``."""
    text = str(value).strip() if value is not None else ""
    if not text or text.lower() in ("nan", "none", "unknown"):
        return None
    try:
        years = float(text)
    except ValueError:
        match = _DICOM_AGE.match(text)
        if not match:
            return None
        years = int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]
    return years if 0 <= years < 130 else None


def manifest_ages(df: pd.DataFrame) -> pd.Series:
    """Years from a manifest ``age`` / ``patient_age`` column (NaN where absent or unreadable)."""
    ages = pd.Series(float("nan"), index=df.index, dtype=float)
    for col in AGE_COLUMNS:
        if col in df.columns:
            ages = ages.fillna(df[col].map(parse_age).astype(float))
    return ages


def dicom_ages(paths: pd.Series) -> pd.Series:
    """``PatientAge`` in years from the headers of ``.dcm``/``.dicom`` files (NaN elsewhere)."""
    ages = pd.Series(float("nan"), index=paths.index, dtype=float)
    dicom = paths.str.lower().str.endswith((".dcm", ".dicom"))
    if not dicom.any():
        return ages
    import pydicom

    for i, path in paths[dicom].items():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientAge"])
        except (OSError, pydicom.errors.InvalidDicomError):
            continue
        age = parse_age(ds.get("PatientAge"))
        if age is not None:
            ages[i] = age
    return ages


def metadata_ages(paths: pd.Series) -> pd.Series:
    """Ages from an ieee8023-style ``metadata.csv`` (``filename`` + ``age``) in the image's folder,
    its parent, or their ``_orig_meta/`` folders; matched by file name (NaN where not found)."""
    tables: dict[str, dict[str, float]] = {}
    ages = pd.Series(float("nan"), index=paths.index, dtype=float)
    for i, path in paths.items():
        folder = os.path.dirname(path)
        for base in (folder, os.path.dirname(folder)):
            table = tables.get(base)
            if table is None:
                table = tables[base] = _read_age_table(base)
            age = table.get(os.path.basename(path)) or table.get(Path(path).stem)
            if age is not None:
                ages[i] = age
                break
    return ages


def _read_age_table(folder: str) -> dict[str, float]:
    """``{filename: age}`` and ``{stem: age}`` from a metadata CSV with filename and age columns."""
    for candidate in (os.path.join(folder, "metadata.csv"), os.path.join(folder, "_orig_meta", "metadata.csv")):
        if not os.path.isfile(candidate):
            continue
        try:
            meta = pd.read_csv(candidate, dtype=str, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        meta.columns = [str(c).strip().lower() for c in meta.columns]
        if not {"filename", "age"} <= set(meta.columns):
            continue
        out: dict[str, float] = {}
        for name, value in zip(meta["filename"], meta["age"]):
            age = parse_age(value)
            if age is not None and name:
                out[name] = age
                out.setdefault(Path(name).stem, age)
        return out
    return {}
