"""Filling a cache array: copying rows from earlier segments, decoding the rest in worker processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cxrlab.config import PreprocessConfig
from cxrlab.data.cache.worker import DecodeTask, decode_chunk, exit_with_parent

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
    progress: bool = True,
    boxes: list | None = None,
) -> dict[int, str]:
    """Decode ``rows`` into the ``.npy`` at ``array_path``; return ``{row: reason}`` for failures.

    ``workers <= 1`` (or a small job) runs in this process; otherwise a spawn-context process pool
    (safe after torch or threads have started in the parent) works through chunks of rows.
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
    with _progress_bar(len(rows), enabled=progress and bool(rows)) as advance:
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                errors.update(decode_chunk(task))
                advance(len(task.rows))
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                                     initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(decode_chunk, task): len(task.rows) for task in tasks}
                try:
                    for future in as_completed(futures):
                        errors.update(future.result())
                        advance(futures[future])
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C / a failure: do not finish the queue
                    raise
    return errors


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@contextmanager
def _progress_bar(total: int, *, enabled: bool):
    """Yield ``advance(n)``; shows a Rich bar (rows, images/s, ETA) on stderr when enabled."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (
        TextColumn("[bold]caching[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("cache", total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f} img/s" if speed else "")

        yield advance
