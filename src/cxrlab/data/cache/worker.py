"""The per-image work of a cache build: read, verify, decode, convert to 8-bit, preprocess.

Kept apart from :mod:`cxrlab.data.cache.store` so worker processes import only what they need.
Workers write their rows straight into the (temporary) array file, so only error messages travel
back to the parent process.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrlab.config import PreprocessConfig
from cxrlab.data.model_view import read_view
from cxrlab.errors import ImageReadError


@dataclass(frozen=True)
class DecodeTask:
    """A chunk of rows to decode into ``array_path`` (an ``.npy`` file opened read-write)."""

    array_path: str
    rows: tuple[int, ...]
    paths: tuple[str, ...]
    sha1s: tuple[str, ...]  # expected file SHA-1 per row ("" = not known, not checked)
    cfg: PreprocessConfig
    boxes: tuple = ()  # lung box (fractions) per row, or None: crop before resizing


def cache_image(path: str, cfg: PreprocessConfig, expected_sha1: str = "", box=None) -> np.ndarray:
    """One file -> preprocessed ``(size, size)`` uint8, exactly as the cache stores it.

    The view is :func:`cxrlab.data.model_view.read_view`'s (JPEGs decoded with DCT-domain
    downscaling), the same pixels predict and serve give the model. Raises :class:`ImageReadError` for unreadable files and
    for files whose bytes no longer match the manifest's ``sha1``.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageReadError(path, f"cannot read file ({exc.strerror or exc})") from None
    if expected_sha1 and hashlib.sha1(data).hexdigest() != expected_sha1:
        raise ImageReadError(path, "file changed since it was indexed (its SHA-1 differs from the manifest); "
                                   "re-run 'cxrlab index'")
    return read_view(data, cfg, name=path, box=box)


def decode_chunk(task: DecodeTask) -> dict[int, str]:
    """Decode every row of ``task`` into its array file; return ``{row: reason}`` for failures."""
    out = np.load(task.array_path, mmap_mode="r+")
    errors: dict[int, str] = {}
    try:
        boxes = task.boxes or (None,) * len(task.rows)
        for row, path, sha1, box in zip(task.rows, task.paths, task.sha1s, boxes):
            try:
                out[row] = cache_image(path, task.cfg, sha1, box)
            except ImageReadError as exc:
                errors[row] = exc.reason
                out[row] = 0
            except Exception as exc:  # noqa: BLE001 - one odd file must never stop a build
                errors[row] = f"unexpected decoding failure ({type(exc).__name__}: {exc})"
                out[row] = 0
        out.flush()
    finally:
        del out
    return errors


def exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Worker initializer: end this process soon after the parent dies (e.g. a killed build), so
    no orphaned workers stay behind waiting on a pipe that will never be written."""

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="cxrlab-parent-watch", daemon=True).start()
