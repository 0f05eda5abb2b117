"""Run-folder records: ``history.csv`` / ``history.json`` (one row per epoch), ``curves.png``, ``log.txt``."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path

from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.io.atomic import atomic_path, write_text


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_history(run_dir: str | Path, history: list[dict]) -> None:
    """Write the per-epoch rows as CSV and JSON, atomically (NaN -> empty / null)."""
    run = RunFolder(run_dir)
    rows = [{k: _clean(v) for k, v in row.items()} for row in history]
    write_text(run.history_json, json.dumps(rows, indent=2))
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(run.history_csv, buf.getvalue())


def plot_curves(run_dir: str | Path, history: list[dict], monitor: str = "val_macro_f1") -> Path:
    """``curves.png``: loss (train/val) and validation metrics per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = RunFolder(run_dir).curves
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        ax_loss.plot(epochs, [row.get(key) for row in history], marker="o", label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.legend()
    for key in ("train_accuracy", "val_accuracy", "val_macro_f1", "val_auc"):
        values = [row.get(key) for row in history]
        if any(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values):
            width = 2.5 if key == monitor else 1.2
            ax_metric.plot(epochs, values, marker="o", linewidth=width, label=key + (" (monitored)" if key == monitor else ""))
    ax_metric.set(xlabel="epoch", ylabel="value", title="Metrics", ylim=(0, 1.02))
    ax_metric.legend(loc="lower right")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_metric):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


class RunLog:
    """Append-only ``log.txt`` (timestamped lines); a no-op on non-zero ranks."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None

    def __call__(self, message: str) -> None:
        if self.path is None:
            return
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")
