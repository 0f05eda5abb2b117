"""Preprocessing cache: decoded, 8-bit, resized films in a memory-mapped array store.

Layout: ``<cache_root>/<cfg.key()>/<segment>.npy`` + ``<segment>.json``. A *segment* is one
``(N, size, size)`` uint8 ``.npy`` array aligned with the manifest rows it was built for; its JSON
sidecar lists, per row, the row key, path, file size/mtime and any decoding error. The segment name
is a hash of its row keys, so the same rows with the same preprocessing always find the same file.

Row key = SHA-1 of (path, content id, ``cfg.key()``, cache format), where the content id is the
manifest's ``sha1`` (file bytes) or, without one, the file's size and mtime. Building for a new or
changed manifest copies every row whose key (and file size/mtime) is already in some segment and
decodes only the rest; segments whose files are all covered by the new one are then removed.

Crash safety: the array is written under a temporary name, fsynced, renamed, and only then is the
sidecar written (atomically). A segment without a valid sidecar is never trusted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlab.config import PreprocessConfig
from cxrlab.data.cache.build import copy_rows, decode_rows
from cxrlab.data.cache.segments import (CACHE_FORMAT, list_segments, load_array, mark_used, prune, read_sidecar,
                                        remove_segment, write_sidecar)
from cxrlab.data.preprocess import row_boxes
from cxrlab.errors import ConfigError
from cxrlab.io.parallel import Progress



@dataclass(frozen=True)
class CacheStore:
    """A cache aligned with a manifest: ``images[i]`` is the preprocessed ``df.iloc[i]``."""

    images: np.memmap
    ok: np.ndarray
    errors: dict[int, str]
    cfg: PreprocessConfig
    path: Path
    decoded: int = 0
    reused: int = 0
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class _Rows:
    """What the cache needs to know about each manifest row."""

    paths: list[str]
    sha1s: list[str]
    stats: list[tuple[int, int]]
    keys: list[str]
    boxes: list[tuple[float, float, float, float] | None]  # lung crop per row (cfg.crop == "lungs")

    @property
    def segment_id(self) -> str:
        return hashlib.sha1("\n".join(self.keys).encode()).hexdigest()[:24]


def cache_dir(cache_root: str | Path, cfg: PreprocessConfig) -> Path:
    """The folder holding all segments for one set of preprocessing parameters."""
    return Path(cache_root) / cfg.key()


def open_cache(df: pd.DataFrame, cache_root: str | Path, cfg: PreprocessConfig) -> CacheStore | None:
    """The complete cache for exactly these rows, or ``None`` (missing, stale or a file changed)."""
    rows = _describe_rows(df, cfg)
    if not rows.keys:
        return None
    return _open_segment(cache_dir(cache_root, cfg), rows, cfg)


def build_cache(
    df: pd.DataFrame,
    cache_root: str | Path,
    cfg: PreprocessConfig,
    workers: int = 2,
    progress: Progress | None = None,
) -> CacheStore:
    """Build (or reuse) the cache for ``df``; unreadable files become ``ok=False`` rows, never errors."""
    start = time.perf_counter()
    rows = _describe_rows(df, cfg)
    if not rows.keys:
        raise ConfigError("nothing to cache: the manifest has no rows")
    folder = cache_dir(cache_root, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    found = _open_segment(folder, rows, cfg)
    if found is not None:
        return found
    reusable = _reusable_rows(folder, rows)
    final = folder / f"{rows.segment_id}.npy"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{rows.segment_id}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(rows.keys), cfg.size, cfg.size))
        copy_rows(out, reusable)
        out.flush()
        del out
        todo = _rows_to_decode(rows, reusable)
        errors = decode_rows(tmp, todo, rows.paths, rows.sha1s, cfg, workers=workers, progress=progress,
                             boxes=rows.boxes)
        _fill_duplicates(tmp, rows, errors)
        _fsync(tmp)
        remove_segment(folder, rows.segment_id)  # same rows but changed files: drop the old one first
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    write_sidecar(folder / f"{rows.segment_id}.json", rows.keys, rows.paths, rows.stats, errors, cfg)
    prune(folder, keep=rows.segment_id, paths=set(rows.paths))
    store = _open_segment(folder, rows, cfg)
    if store is None:  # pragma: no cover - a file changed under us while building
        raise ConfigError(f"{folder}: cache changed while it was being built; run the build again")
    return CacheStore(
        images=store.images, ok=store.ok, errors=store.errors, cfg=cfg, path=store.path,
        decoded=len(todo), reused=sum(len(v) for v in reusable.values()), seconds=time.perf_counter() - start,
    )


# ----------------------------------------------------------------------------- row keys


def _describe_rows(df: pd.DataFrame, cfg: PreprocessConfig) -> _Rows:
    if "path" not in df.columns:
        raise ConfigError("cannot cache a manifest without a 'path' column")
    paths = [str(p) for p in df["path"]]
    sha1s = [str(s) if isinstance(s, str) else "" for s in df["sha1"]] if "sha1" in df.columns else [""] * len(paths)
    stats = [_stat(p) for p in paths]
    boxes = row_boxes(df, cfg)
    keys = [_row_key(p, s, st, cfg, b) for p, s, st, b in zip(paths, sha1s, stats, boxes)]
    return _Rows(paths=paths, sha1s=sha1s, stats=stats, keys=keys, boxes=boxes)


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (int(st.st_size), int(st.st_mtime_ns))


def _row_key(path: str, sha1: str, stat: tuple[int, int], cfg: PreprocessConfig, box=None) -> str:
    content = sha1 or f"size={stat[0]};mtime={stat[1]}"
    crop = "" if box is None else "\0box=" + ",".join(f"{v:.6f}" for v in box)
    text = f"{path}\0{content}\0{cfg.key()}\0v{CACHE_FORMAT}{crop}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:24]


# ----------------------------------------------------------------------------- building


def _open_segment(folder: Path, rows: _Rows, cfg: PreprocessConfig) -> CacheStore | None:
    meta = read_sidecar(folder / f"{rows.segment_id}.json")
    if meta is None or meta["keys"] != rows.keys or meta.get("size") != cfg.size:
        return None
    if [tuple(s) for s in meta["stats"]] != rows.stats:
        return None  # a file was touched or replaced since the build: rebuild (and re-verify) it
    npy = folder / f"{rows.segment_id}.npy"
    images = load_array(npy, len(rows.keys), cfg.size)
    if images is None:
        return None
    errors = {int(k): str(v) for k, v in meta.get("errors", {}).items()}
    ok = np.ones(len(rows.keys), dtype=bool)
    ok[list(errors)] = False
    mark_used(folder, rows.segment_id)
    return CacheStore(images=images, ok=ok, errors=errors, cfg=cfg, path=npy, reused=len(rows.keys))


def _reusable_rows(folder: Path, rows: _Rows) -> dict[Path, list[tuple[int, int]]]:
    """``{segment .npy: [(source row, target row), ...]}`` for rows already decoded somewhere."""
    wanted: dict[str, list[int]] = {}
    for i, key in enumerate(rows.keys):
        wanted.setdefault(key, []).append(i)
    plan: dict[Path, list[tuple[int, int]]] = {}
    for seg_id, meta in list_segments(folder):
        npy = folder / f"{seg_id}.npy"
        if not wanted or load_array(npy, len(meta["keys"]), meta["size"]) is None:
            continue
        failed = {int(k) for k in meta.get("errors", {})}
        for src, (key, stat) in enumerate(zip(meta["keys"], meta["stats"])):
            targets = wanted.get(key)
            if targets and src not in failed and tuple(stat) == rows.stats[targets[0]]:
                plan.setdefault(npy, []).extend((src, t) for t in targets)
                del wanted[key]
    return plan


def _rows_to_decode(rows: _Rows, reusable: dict[Path, list[tuple[int, int]]]) -> list[int]:
    """First row of every key not reused (duplicates are copied from it afterwards)."""
    done = {t for pairs in reusable.values() for _, t in pairs}
    seen: set[str] = set()
    todo = []
    for i, key in enumerate(rows.keys):
        if i not in done and key not in seen:
            seen.add(key)
            todo.append(i)
    return todo


def _fill_duplicates(npy: Path, rows: _Rows, errors: dict[int, str]) -> None:
    """Rows repeating an earlier row's key get its pixels (and its error)."""
    first: dict[str, int] = {}
    pairs = []
    for i, key in enumerate(rows.keys):
        if key in first:
            pairs.append((first[key], i))
        else:
            first[key] = i
    if not pairs:
        return
    out = np.load(npy, mmap_mode="r+")
    for src, dst in pairs:
        out[dst] = out[src]
        if src in errors:
            errors[dst] = errors[src]
    out.flush()
    del out


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())



