"""Files of the preprocessing cache: segment arrays (``<id>.npy``) and their JSON sidecars
(``<id>.json``), validation, listing and clean-up. See :mod:`cxrlab.data.cache.store` for the design."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from cxrlab.config import PreprocessConfig
from cxrlab.io.atomic import write_text

#: Bump when decoding/preprocessing changes in a way that alters cached pixels.
CACHE_FORMAT = 1
#: Segments kept per preprocessing folder; the least recently used beyond this are removed.
MAX_SEGMENTS = 8
_ORPHAN_AGE_S = 3600.0


def read_sidecar(path: Path) -> dict | None:
    """The sidecar's content, or ``None`` when missing, unreadable, of another format or inconsistent."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        return None
    n = len(meta.get("keys", []))
    if len(meta.get("paths", [])) != n or len(meta.get("stats", [])) != n:
        return None
    return meta


def write_sidecar(path: Path, keys: list[str], paths: list[str], stats: list[tuple[int, int]],
                  errors: dict[int, str], cfg: PreprocessConfig) -> None:
    meta = {
        "format": CACHE_FORMAT,
        "preprocess": cfg.key(),
        "size": cfg.size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "keys": keys,
        "paths": paths,
        "stats": [list(s) for s in stats],
        "errors": {str(k): v for k, v in sorted(errors.items())},
    }
    write_text(path, json.dumps(meta, separators=(",", ":")))
    _stamp(path)


def _stamp(path: Path) -> None:
    """Set the sidecar's mtime from the fine-grained clock: the kernel's file timestamps are coarse
    (a few ms), so a write and a later use could otherwise tie and the LRU order would be random."""
    now = time.time()
    os.utime(path, (now, now))


def load_array(npy: Path, n: int, size: int) -> np.memmap | None:
    """The segment array memory-mapped read-only, or ``None`` if missing or of the wrong shape."""
    try:
        arr = np.load(npy, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if not isinstance(arr, np.memmap) or arr.dtype != np.uint8 or arr.shape != (n, size, size):
        return None
    return arr


def list_segments(folder: Path) -> list[tuple[str, dict]]:
    """``(segment id, sidecar)`` of every complete segment in ``folder``."""
    out = []
    for side in sorted(folder.glob("*.json")):
        meta = read_sidecar(side)
        if meta is not None and side.with_suffix(".npy").exists():
            out.append((side.stem, meta))
    return out


def mark_used(folder: Path, seg_id: str) -> None:
    """Record a use (sidecar mtime), so clean-up removes the least recently used segments first."""
    try:
        _stamp(folder / f"{seg_id}.json")
    except OSError:
        pass


def prune(folder: Path, keep: str, paths: set[str], max_segments: int | None = None) -> None:
    """Remove segments whose files are all covered by segment ``keep`` (superseded), then the least
    recently used beyond ``max_segments``, then leftovers of killed builds older than an hour."""
    max_segments = MAX_SEGMENTS if max_segments is None else max_segments
    survivors = []
    for seg_id, meta in list_segments(folder):
        if seg_id != keep and set(meta["paths"]) <= paths:
            remove_segment(folder, seg_id)
        elif seg_id != keep:
            survivors.append(seg_id)
    survivors.sort(key=lambda s: _mtime(folder / f"{s}.json"), reverse=True)
    for seg_id in survivors[max(max_segments - 1, 0):]:
        remove_segment(folder, seg_id)
    cutoff = time.time() - _ORPHAN_AGE_S
    for leftover in list(folder.glob(".*.tmp")) + list(folder.glob("*.npy")):
        if leftover.suffix == ".npy" and leftover.with_suffix(".json").exists():
            continue
        if _mtime(leftover) < cutoff:
            _remove(leftover)


def remove_segment(folder: Path, seg_id: str) -> None:
    _remove(folder / f"{seg_id}.json")  # sidecar first: a segment without one is never trusted
    _remove(folder / f"{seg_id}.npy")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
