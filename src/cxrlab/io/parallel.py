"""Map a function over tasks in worker processes, reporting progress through a callback.

The one process pool of the library (indexing, the audit's thumbnails, the cache). It draws nothing:
the caller (the CLI) passes ``progress(done, total)``, called with ``done = 0`` once every task is
submitted and again as each task finishes (``done`` counts task weights, e.g. images).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from cxrlab.errors import CxrlabError

T = TypeVar("T")
R = TypeVar("R")

#: ``progress(done, total)``: how much of ``total`` (task weights) is finished.
Progress = Callable[[int, int], None]


def parallel_map(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    workers: int = 2,
    weights: Sequence[int] | None = None,
    progress: Progress | None = None,
    start_method: str | None = "spawn",
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
) -> list[R]:
    """``[fn(task) for task in tasks]``, in ``workers`` processes (in this one when ``workers <= 1`` or
    there is a single task). ``start_method`` None = the platform's default (fork on Linux: the
    workers are started at the first submit, before ``progress`` is first called, so a progress
    thread the callback starts is never forked). A worker that dies is a :class:`CxrlabError`."""
    if not tasks:
        return []
    sizes = list(weights) if weights is not None else [1] * len(tasks)
    total, report = sum(sizes), progress or _silent
    if workers <= 1 or len(tasks) <= 1:
        return _in_process(fn, tasks, sizes, total, report)
    context = multiprocessing.get_context(start_method)
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context,
                                 initializer=initializer, initargs=initargs) as pool:
            futures = [pool.submit(fn, task) for task in tasks]
            report(0, total)
            size_of = dict(zip(futures, sizes))
            done = 0
            try:
                for future in as_completed(futures):
                    future.result()
                    done += size_of[future]
                    report(done, total)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C / a failure: do not finish the queue
                raise
            return [future.result() for future in futures]
    except BrokenProcessPool:
        raise CxrlabError(
            "a decoding worker process died (out of memory or a crashing decoder?); try again with --workers 1"
        ) from None


def _in_process(fn, tasks, sizes, total: int, report: Progress) -> list:
    results, done = [], 0
    report(0, total)
    for task, size in zip(tasks, sizes):
        results.append(fn(task))
        done += size
        report(done, total)
    return results


def _silent(done: int, total: int) -> None:
    pass
