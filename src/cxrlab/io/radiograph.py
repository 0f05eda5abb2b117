"""Which DICOM objects are chest radiographs (the only images cxrlab's models may judge).

Read from the header, before any pixel data is decoded: Modality (CR/DX/DR/RG; OT or none only for
secondary captures), SOP class, photometric interpretation, bits, and BodyPartExamined when present.
A refusal reason reads "not a chest radiograph: Modality CT"; colour is judged later, from the
pixels (:mod:`cxrlab.io.colour`), because an RGB secondary capture can hold a gray film.
"""

from __future__ import annotations

import re
from typing import Any

REFUSED = "not a chest radiograph"
#: Modalities of projection radiography (DR is not a DICOM term but some vendors write it).
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG"})
#: Modalities that say nothing: accepted only for secondary captures / radiograph SOP classes.
VAGUE_MODALITIES = frozenset({"", "OT"})
_CR_DX = frozenset({
    "1.2.840.10008.5.1.4.1.1.1",  # CR Image Storage
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image Storage - For Processing
})
SECONDARY_CAPTURE = frozenset({
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
})
#: Secondary-capture conversion types that can be a film (digitised film, scanned image).
FILM_CONVERSIONS = frozenset({"DF", "SI"})
_CONVERSION_NAMES = {"DV": "digitised video", "DI": "digital interface", "DF": "digitised film",
                     "WSD": "workstation", "SD": "scanned document", "SI": "scanned image", "DRW": "drawing",
                     "SYN": "synthetic image"}
_GRAY = frozenset({"MONOCHROME1", "MONOCHROME2"})
_COLOUR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"})
_CHEST_WORDS = ("CHEST", "THORAX", "TORAX", "TORACE", "LUNG", "PECHO", "POUMON", "BRUST", "THX")
_NOT_CHEST = frozenset({
    "SKULL", "HEAD", "BRAIN", "FACE", "JAW", "TMJ", "SINUS", "ORBIT", "NOSE", "TEETH", "DENTAL", "NECK",
    "SPINE", "CSPINE", "TSPINE", "LSPINE", "SSPINE", "SACRUM", "COCCYX", "ABDOMEN", "PELVIS", "ABDOMENPELVIS",
    "HIP", "KNEE", "ANKLE", "FOOT", "HEEL", "TOE", "LEG", "FEMUR", "TIBIA", "FIBULA", "HAND", "WRIST",
    "FINGER", "THUMB", "ELBOW", "ARM", "FOREARM", "HUMERUS", "SHOULDER", "CLAVICLE", "SCAPULA", "BREAST",
    "EXTREMITY", "WHOLEBODY", "KIDNEY", "BLADDER", "LIVER", "UTERUS", "PROSTATE", "COLON", "STOMACH",
})


def sop_class(ds: Any) -> str:
    return str(ds.get("SOPClassUID", "") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "")
               or "")


def is_secondary_capture(ds: Any) -> bool:
    return sop_class(ds) in SECONDARY_CAPTURE


def refusal_reason(ds: Any, pixel_tag: int | None) -> str | None:
    """Why this DICOM object is not a chest radiograph, or None when it may be one."""
    modality = str(ds.get("Modality", "") or "").strip().upper()
    sop = sop_class(ds)
    if modality and modality not in RADIOGRAPH_MODALITIES | VAGUE_MODALITIES:
        return f"{REFUSED}: Modality {modality}"
    if sop and sop not in _CR_DX | SECONDARY_CAPTURE:
        return f"{REFUSED}: SOP class {_uid_name(sop)}" + (f", Modality {modality}" if modality else "")
    if not sop and modality in VAGUE_MODALITIES:
        return f"{REFUSED}: the header names neither a radiograph Modality nor a SOP class"
    if sop in SECONDARY_CAPTURE and modality in VAGUE_MODALITIES:
        conversion = str(ds.get("ConversionType", "") or "").strip().upper()
        if conversion not in FILM_CONVERSIONS:
            if conversion:
                name = _CONVERSION_NAMES.get(conversion, "unknown type")
                return f"{REFUSED}: secondary capture of a {name} (ConversionType {conversion}), not a digitised film"
            return (f"{REFUSED}: secondary capture that names neither a digitised film (ConversionType DF/SI) "
                    "nor a radiograph Modality")
    if pixel_tag is not None and pixel_tag != 0x7FE00010:
        return f"{REFUSED}: floating-point pixel data (a parametric map)"
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if photometric and photometric not in _GRAY | _COLOUR:
        return f"{REFUSED}: photometric interpretation {photometric} (a colour image)"
    if int(ds.get("BitsAllocated", 0) or 0) == 1:
        return f"{REFUSED}: 1-bit pixels (a mask or bitmap)"
    body = body_part_verdict(str(ds.get("BodyPartExamined", "") or ""))
    if body == "other":
        return f"{REFUSED}: BodyPartExamined {str(ds.get('BodyPartExamined')).strip()}"
    return None


def body_part_verdict(value: str) -> str:
    """``chest``, ``other`` (a known non-chest part), ``unknown`` (unrecognised text) or ``""`` (absent)."""
    text = value.strip().upper()
    if not text:
        return ""
    compact = re.sub(r"[^A-Z]", "", text)
    if any(word in compact for word in _CHEST_WORDS):
        return "chest"
    words = set(re.split(r"[^A-Z]+", text)) | {compact}
    return "other" if words & _NOT_CHEST else "unknown"


def _uid_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid
