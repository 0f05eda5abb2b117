"""Rich progress bar with live loss/accuracy, and one summary line per epoch (rank 0 only)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainProgress:
    """Use as a context manager; every method is a no-op when ``enabled`` is False."""

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=self.console, transient=True,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(f"epoch {epoch}/{epochs}", total=batches, metrics="")

    def batch(self, loss: float, accuracy: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, metrics=f"loss {loss:.4f} acc {accuracy:.3f}")

    def message(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False)

    def epoch_summary(self, row: dict, monitor: str, improved: bool) -> None:
        def fmt(key: str) -> str:
            value = row.get(key)
            return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

        star = " [green]*best*[/]" if improved else ""
        # Two lines of at most ~70 characters: a console 80 columns wide never breaks one mid-figure.
        self.message(f"epoch {row['epoch']}: train loss {fmt('train_loss')} acc {fmt('train_accuracy')} | "
                     f"val loss {fmt('val_loss')} acc {fmt('val_accuracy')}")
        self.message(f"  val macro-F1 {fmt('val_macro_f1')} AUC {fmt('val_auc')} | "
                     f"{row.get('images_per_s', 0):.1f} img/s{star}")
