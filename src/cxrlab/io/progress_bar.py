"""The Rich progress bar every long job shows, as the library's ``progress(done, total)`` callback
(the CLI passes it to index, audit, cache and the demo; training uses it for its cache build)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cxrlab.io.parallel import Progress


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Progress | None]:
    """Yield a callback drawing a Rich bar (count, items/s, elapsed, ETA) on stderr, or None when
    not ``enabled``. The bar starts at the first call (after the library has started its worker
    processes) and is closed when the block ends."""
    if not enabled:
        yield None
        return
    shown: dict = {}

    def update(done: int, total: int) -> None:
        if not shown:
            shown["bar"] = bar = _new_bar()
            bar.start()
            shown["task"] = bar.add_task(label, total=total, rate="")
        bar, task = shown["bar"], shown["task"]
        bar.update(task, completed=done, total=total)
        speed = bar.tasks[0].speed
        bar.update(task, rate=f"{speed:,.0f} img/s" if speed else "")

    try:
        yield update
    finally:
        if shown:
            shown["bar"].stop()


def _new_bar():
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(
        TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=Console(stderr=True),
    )
