"""After extraction: make a dataset folder readable by ``cxrlab index``.

Most catalog datasets already have a layout the indexer knows (ieee8023 ``metadata.csv`` with a
``filename`` column, Kermany ``chest_xray/{train,test}/{NORMAL,PNEUMONIA}``). The COVID-Net team's
Figure 1 and Actualmed sets have a ``metadata.csv`` without a ``filename`` column (Actualmed names
the image in ``imagename``; Figure 1 names it after ``patientid``), so for them a per-folder
``manifest.csv`` (file, class, original_label, patient_id, view, modality) is written. Rows with a
blank finding keep an empty class: the indexer then counts them as unknown labels.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from cxrlab.data.download.errors import DatasetError
from cxrlab.io.atomic import write_text

MANIFEST = "manifest.csv"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".dcm")


def apply_layout(kind: str, folder: Path) -> Path | None:
    """Run the layout step ``kind`` (``""`` = nothing to do) on an extracted folder; returns the
    manifest written, if any."""
    if not kind:
        return None
    if kind == "covidnet-metadata":
        return write_covidnet_manifest(folder)
    raise DatasetError(f"unknown layout step {kind!r}")


def write_covidnet_manifest(folder: Path) -> Path:
    """``manifest.csv`` for a COVID-Net-style ``metadata.csv`` + ``images/`` folder."""
    meta = folder / "metadata.csv"
    if not meta.exists():
        raise DatasetError(f"{folder}: no metadata.csv - is this the right archive?")
    with open(meta, newline="", encoding="utf-8-sig", errors="replace") as fh:
        rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    images = {p.stem: p for p in (folder / "images").glob("*") if p.suffix.lower() in _IMAGE_SUFFIXES}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "class", "original_label", "patient_id", "view", "modality"])
    for row in rows:
        image = _image_for(row, folder, images)
        if image is None:
            continue
        finding = row.get("finding", "")
        writer.writerow([image.relative_to(folder).as_posix(), finding, finding or "(blank)",
                         _patient(row.get("patientid", "")), row.get("view", ""), row.get("modality", "")])
    target = folder / MANIFEST
    write_text(target, out.getvalue())
    return target


def _image_for(row: dict[str, str], folder: Path, images: dict[str, Path]) -> Path | None:
    name = row.get("imagename") or row.get("filename")
    if name:
        path = folder / "images" / name
        return path if path.exists() else None
    return images.get(row.get("patientid", ""))


def _patient(patient_id: str) -> str:
    """Figure 1 ids ``COVID-00003a`` / ``COVID-00003b`` are films of one patient."""
    return re.sub(r"(\d)[a-z]$", r"\1", patient_id)
