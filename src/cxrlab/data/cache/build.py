"""Filling a cache array: copying rows from earlier segments, decoding the rest in worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cxrlab.config import PreprocessConfig
from cxrlab.data.cache.worker import DecodeTask, decode_chunk, exit_with_parent
from cxrlab.io.parallel import Progress, parallel_map

#: Rows per worker task: big enough to amortise inter-process overhead, small enough for a live bar.
CHUNK_ROWS = 64
_COPY_ROWS = 1024


def copy_rows(out: np.ndarray, plan: dict[Path, list[tuple[int, int]]]) -> None:
    """Copy ``(source row, target row)`` pairs from each source segment into ``out``."""
    for npy, pairs in plan.items():
        src = np.load(npy, mmap_mode="r")
        pairs = sorted(pairs)
        for start in range(0, len(pairs), _COPY_ROWS):
            chunk = pairs[start:start + _COPY_ROWS]
            out[[t for _, t in chunk]] = src[[s for s, _ in chunk]]
        del src


def decode_rows(
    array_path: Path,
    rows: list[int],
    paths: list[str],
    sha1s: list[str],
    cfg: PreprocessConfig,
    *,
    workers: int = 2,
    progress: Progress | None = None,
    boxes: list | None = None,
) -> dict[int, str]:
    """Decode ``rows`` into the ``.npy`` at ``array_path``; return ``{row: reason}`` for failures.

    ``workers <= 1`` (or a small job) runs in this process; otherwise a spawn-context process pool
    (safe after torch or threads have started in the parent) works through chunks of rows, calling
    ``progress(done rows, total rows)``.
    """
    tasks = [
        DecodeTask(
            array_path=str(array_path),
            rows=tuple(chunk),
            paths=tuple(paths[r] for r in chunk),
            sha1s=tuple(sha1s[r] for r in chunk),
            cfg=cfg,
            boxes=tuple(boxes[r] for r in chunk) if boxes is not None else (None,) * len(chunk),
        )
        for chunk in _chunks(rows, CHUNK_ROWS)
    ]
    errors: dict[int, str] = {}
    for failed in parallel_map(decode_chunk, tasks, workers=workers, weights=[len(task.rows) for task in tasks],
                               progress=progress, initializer=exit_with_parent, initargs=(os.getpid(),)):
        errors.update(failed)
    return errors


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

