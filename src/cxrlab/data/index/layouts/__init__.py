"""Dataset layouts recognised without configuration; :func:`discover` walks the roots."""

from __future__ import annotations

import os
from pathlib import Path

from cxrlab.data.index.layouts.common import Candidate, Found
from cxrlab.data.index.layouts.folders import FolderWalker, list_folder, looks_like_dataset
from cxrlab.errors import ConfigError

__all__ = ["Candidate", "Found", "dataset_folders", "discover"]


def dataset_folders(root: Path) -> list[tuple[Path, str]]:
    """``(folder, source name)`` for each dataset under ``root``: the root itself when it is a
    dataset, else each folder directly under it (named after that folder)."""
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ConfigError(f"{root}: dataset folder not found" if not root.exists() else f"{root}: not a folder")
    try:
        if looks_like_dataset(root):
            return [(root, root.name)]
        return [(sub, sub.name) for sub in list_folder(root)[1]]
    except OSError as exc:
        raise ConfigError(f"{root}: cannot read the folder ({exc.strerror or exc})") from None


def discover(roots: list[Path], frontal_only: bool = True) -> Found:
    """Walk every root and return the images to decode plus what was excluded or skipped."""
    found = Found()
    seen: set[str] = set()
    real_roots = tuple(os.path.realpath(r) for r in roots)
    for root in roots:
        for folder, source in dataset_folders(root):
            FolderWalker(source=source, found=found, frontal_only=frontal_only, seen=seen, roots=real_roots).walk(folder)
    return found
