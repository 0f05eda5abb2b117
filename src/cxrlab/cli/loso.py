"""CLI command ``loso``: leave-one-source-out validation of a training recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cxrlab.choices import TrainPopulation
from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_MANIFEST, DEFAULT_WORKDIR, console


def register(app: typer.Typer) -> None:
    app.command(name="loso")(loso)


def loso(
    manifest: Path = typer.Option(DEFAULT_MANIFEST, help="Indexed and audited manifest (dup_group column)."),
    holdout: list[str] = typer.Option([], "--holdout", help="Held-out source (repeatable; default: every source "
                                                            "with at least --min-films films)."),
    min_films: int = typer.Option(50, help="Default folds: sources with at least this many films."),
    out: Path = options.out(DEFAULT_WORKDIR / "loso", "Folds, runs, scores, loso.json and report.html.", short=False),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TrainConfig YAML file (the recipe)."),
    model: Optional[str] = typer.Option(None, help="Model name (default: the recipe's)."),
    scheme: Optional[str] = typer.Option(None, help="Label scheme (default: the recipe's)."),
    size: Optional[int] = typer.Option(None, help="Input size in pixels."),
    epochs: Optional[int] = typer.Option(None, help="Epochs per fold."),
    max_minutes: Optional[float] = typer.Option(None, help="Training budget per fold (minutes)."),
    weights: Optional[str] = typer.Option(None, help="Pretrained weights: a file, or 'imagenet' (installed package)."),
    seed: int = options.seed("Seed of the splits and the training."),
    repeats: int = typer.Option(1, min=1, help="Train each fold this many times (training seeds SEED, SEED+1... on "
                                               "the same split): the report gives each number's mean and range over "
                                               "the seeds, which at a new hospital can differ as much as recipes do."),
    population: TrainPopulation = typer.Option("all", help="all, or adult (drop pediatric films from train/val)."),
    threads: Optional[int] = typer.Option(None, help="Torch threads (default: torch's choice)."),
    progress: bool = options.progress("Show progress bars."),
    fresh: bool = typer.Option(False, "--fresh", help="Retrain folds that already have a run (default: reuse/resume)."),
    set_: list[str] = typer.Option([], "--set", help="Override any TrainConfig key, e.g. --set loss.imbalance=focal."),
) -> None:
    """Train one fold per held-out source and score each as a new hospital it never saw.

    Copies of a held-out film elsewhere (the audit's dup_group) are dropped from training. Writes
    [bold]OUT/report.html[/] (held-out vs internal, side by side) and OUT/loso.json; an interrupted
    run continues where it stopped when the command is run again.
    """
    from cxrlab.data.manifest import read_manifest
    from cxrlab.loso.folds import eligible_sources
    from cxrlab.loso.run import run_loso
    from cxrlab.train.config import load_train_config, with_options

    cfg = load_train_config(config, list(set_))
    cfg = with_options(cfg, model=model, scheme=scheme, size=size, epochs=epochs, max_minutes=max_minutes,
                       weights=weights, threads=threads, progress=progress, seed=seed)
    df = read_manifest(manifest)
    folds = list(holdout) or eligible_sources(df, min_films)
    say = console()
    say.print(f"{len(folds)} fold(s): {', '.join(folds)}")

    def on_fold(name: str, scores: dict) -> None:
        part = scores.get("operating_point") or scores["argmax"]
        h = part["holdout"]
        bits = [f"{key} {h[key]['value']:.2f}" for key in ("covid_sensitivity", "adult_non_covid_called_covid",
                                                          "adult_pneumonia_recall", "covid_auroc")
                if isinstance(h.get(key), dict) and h[key].get("value") is not None]
        say.print(f"[bold]{name}[/]: {', '.join(bits) or 'scored'}; internal macro-F1 "
                  f"{part['internal']['macro_f1']['value']:.3f}")

    run_loso(df, cfg, folds, out, seed=seed, train_population=population, resume=not fresh, repeats=repeats,
             on_fold=on_fold)
    say.print(f"report: {out / 'report.html'}  (and {out / 'loso.json'})")
