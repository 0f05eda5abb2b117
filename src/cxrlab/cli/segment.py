"""CLI commands: ``cxrlab segment train`` and ``cxrlab segment predict`` (lung-field segmentation)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_WORKDIR, console


def register(app: typer.Typer) -> None:
    """Add the ``segment`` command group to the app."""
    seg = typer.Typer(help="Lung-field segmentation: train a small U-Net, predict lung boxes for cropping.", no_args_is_help=True)
    seg.command("train")(train)
    seg.command("predict")(predict)
    app.add_typer(seg, name="segment")


def train(
    masks: Optional[Path] = typer.Option(None, "--masks", help="Zip or folder of lung mask images (default: the masks shipped in torchxrayvision)."),
    manifest: Optional[Path] = options.manifest("Manifest whose films the masks are matched to (by file name).", None),
    data: Optional[Path] = typer.Option(None, "--data", help="Or: a data folder to find the films in (no manifest needed)."),
    out: Path = options.out(DEFAULT_WORKDIR / "segment", "Run folder to write."),
    epochs: int = typer.Option(15, "--epochs", help="Training epochs."),
    size: int = options.size(128, "Square input size (divisible by 32)."),
    width: int = typer.Option(16, "--width", help="U-Net width (channels of the first stage)."),
    batch_size: int = options.batch_size(16, min=None),
    lr: float = typer.Option(3e-3, "--lr"),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share of patient/duplicate groups held out for validation."),
    max_minutes: float = typer.Option(0.0, "--max-minutes", help="Stop after the epoch that passes this many minutes (0: no limit)."),
    threads: int = options.torch_threads(),
    seed: int = options.seed(),
) -> None:
    """Train a lung segmenter on real masks matched to your films; report val Dice / IoU."""
    from cxrlab.cli.common import DEFAULT_MANIFEST
    from cxrlab.segment.run import segment_train
    from cxrlab.segment.train import SegTrainConfig

    if manifest is None and data is None:
        manifest = DEFAULT_MANIFEST
    cfg = SegTrainConfig(size=size, width=width, epochs=epochs, batch_size=batch_size, lr=lr,
                         val_fraction=val_fraction, seed=seed, max_minutes=max_minutes, threads=threads)
    con = console()
    run = segment_train(cfg, out, masks=masks, manifest=manifest, data=data, log=con.print)
    m = run.result.metrics
    con.print(f"[bold]best epoch {run.result.best_epoch}[/]: val Dice {m['val_dice']:.4f}, IoU {m['val_iou']:.4f} "
              f"({m['val_films']} val films); {run.result.seconds:.0f} s")
    con.print(f"wrote {run.out}/checkpoint, pairs.csv, history.csv, metrics.json, val_sheet.png")


def predict(
    seg_run: Path = typer.Argument(..., help="A 'cxrlab segment train' folder or its checkpoint folder."),
    manifest: Path = options.manifest("Manifest to add lung boxes to (default cxrlab-out/manifest.csv).", None),
    out: Optional[Path] = options.out(None, "Output manifest (default: manifest_lungs.csv beside the manifest)."),
    sheet: bool = typer.Option(True, "--sheet/--no-sheet", help="Also write a contact sheet of 16 films."),
    threads: int = options.torch_threads(),
) -> None:
    """Predict lung masks for every manifest row; write the manifest with lung_* box columns."""
    from rich.progress import Progress

    from cxrlab.cli.common import DEFAULT_MANIFEST
    from cxrlab.segment.predict import default_output
    from cxrlab.segment.run import segment_predict

    manifest = manifest or DEFAULT_MANIFEST
    target = out or default_output(manifest)
    con = console()
    with Progress(console=con, transient=True) as bar:
        task = bar.add_task("segmenting", total=None)
        path, df, errors = segment_predict(
            seg_run, manifest, target, sheet=sheet, threads=threads, progress=lambda n: bar.advance(task, n)
        )
    ok = int(df["lung_ok"].sum()) if len(df) else 0
    con.print(f"{len(df)} films: {ok} with a plausible lung box, {len(df) - ok - len(errors)} implausible, {len(errors)} unreadable")
    con.print(f"wrote {path}" + (f" and {path.with_name(path.stem + '_sheet.png')}" if sheet and len(df) else ""))
