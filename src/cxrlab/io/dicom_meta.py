"""The DICOM header fields cxrlab keeps (``LoadedImage.meta``; manifest and prediction CSV columns)."""

from __future__ import annotations

from typing import Any

#: Header fields recorded for every image, in column order (empty for non-DICOM files).
HEADER_FIELDS = ("modality", "view", "body_part", "patient_age", "patient_sex", "manufacturer", "pixel_spacing",
                 "photometric", "transfer_syntax")
_TAGS = {
    "patient_id": "PatientID",
    "view": "ViewPosition",
    "photometric": "PhotometricInterpretation",
    "bits_stored": "BitsStored",
    "modality": "Modality",
    "body_part": "BodyPartExamined",
    "patient_age": "PatientAge",
    "patient_sex": "PatientSex",
    "manufacturer": "Manufacturer",
}


def dicom_meta(ds: Any, transfer_syntax: str = "") -> dict[str, str]:
    """The header fields cxrlab records (only those present)."""
    out: dict[str, str] = {}
    for key, tag in _TAGS.items():
        value = _text(ds.get(tag))
        if value:
            out[key] = value
    view, _ = dicom_view(ds)
    if view:
        out["view"] = view
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if spacing:
        try:
            out["pixel_spacing"] = "x".join(f"{float(v):g}" for v in spacing)
        except (TypeError, ValueError):
            out["pixel_spacing"] = _text(spacing)
    if transfer_syntax:
        from pydicom.uid import UID

        out["transfer_syntax"] = UID(transfer_syntax).keyword or transfer_syntax
    return out


def dicom_view(ds: Any) -> tuple[str, str]:
    """``(view, where it came from)``: ViewPosition, else the ViewCodeSequence's code meaning."""
    position = _text(ds.get("ViewPosition"))
    if position:
        return position, "ViewPosition"
    try:
        codes = ds.get("ViewCodeSequence") or []
        meaning = _text(codes[0].get("CodeMeaning")) if len(codes) else ""
    except (AttributeError, IndexError, TypeError):
        meaning = ""
    return (meaning, "ViewCodeSequence") if meaning else ("", "")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()
