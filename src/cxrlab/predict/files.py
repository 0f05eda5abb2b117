"""Turn command-line inputs (files, folders, glob patterns) into a list of image paths."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from cxrlab.errors import CxrlabError
from cxrlab.io.images import SUPPORTED_SUFFIXES, is_dicom_bytes

_GLOB_CHARS = set("*?[")


def collect_paths(inputs: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """``(paths, warnings)``. Folders are searched recursively and globs expanded (``**`` works);
    both keep files with an image/DICOM suffix or a DICOM header. A file named explicitly is kept
    whatever it is (an unreadable one becomes an error row, a missing one too)."""
    paths: list[Path] = []
    warnings: list[str] = []
    for item in inputs:
        text = str(item)
        if _GLOB_CHARS & set(text):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            found = [p for m in matches for p in (_walk(m) if m.is_dir() else [m] if _looks_like_image(m) else [])]
            if not found:
                warnings.append(f"{text}: pattern matched no image")
            paths += found
        elif Path(text).is_dir():
            found = _walk(Path(text))
            if not found:
                warnings.append(f"{text}: folder holds no image")
            paths += found
        else:
            paths.append(Path(text))
    unique = list(dict.fromkeys(paths))
    if not unique:
        raise CxrlabError("no images found in " + ", ".join(map(str, inputs)) if inputs else "no input paths given")
    return unique, warnings


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _looks_like_image(p))


def _looks_like_image(path: Path) -> bool:
    if path.suffix.lower() in SUPPORTED_SUFFIXES:
        return True
    if path.suffix or not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            return is_dicom_bytes(fh.read(132))
    except OSError:
        return False
