"""CLI commands: ``cxrlab evaluate``, ``cxrlab shortcut-check``, ``cxrlab compare``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_WORKDIR, console, say


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("evaluate")(evaluate_command)
    app.command("shortcut-check")(shortcut_command)
    app.command("compare")(compare_command)


def evaluate_command(
    run: Path = typer.Argument(..., help="Run folder (cxrlab-out/runs/NAME) or checkpoint folder."),
    manifest: Path = options.manifest("Manifest to evaluate on (default: the run's split_manifest.csv).", None),
    split: str = typer.Option(None, "--split", help="Evaluate this split (test, external...). Default: test. Training/validation images are never scored."),
    source: str = typer.Option(None, "--source", help="Evaluate one source (its rows not used for training)."),
    out: Path = options.out(None, "Output folder (default: RUN/evaluation[-SOURCE-SPLIT])."),
    cache: Path = options.cache(),
    target_class: str = typer.Option(None, "--target-class", help="Class of the operating point (default: COVID, else the last class)."),
    target_sensitivity: float = typer.Option(0.95, "--target-sensitivity", min=0.01, max=1.0, help="Sensitivity the threshold must reach on validation."),
    n_boot: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals (0 = none)."),
    seed: int = options.seed("Seed of the bootstrap and the probes."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate", help="Fit temperature and threshold on the validation split and store them in the checkpoint."),
    shortcut: bool = typer.Option(True, "--shortcut/--no-shortcut", help="Include the shortcut check in the report."),
    gallery: int = typer.Option(12, "--gallery", min=0, help="How many confident mistakes to show."),
    batch_size: int = options.batch_size(64),
    which: str = options.checkpoint(),
) -> None:
    """Evaluate a trained model: metrics with patient-level 95% intervals, calibration, operating
    point, per-source results, shortcut check. Writes metrics.json, predictions.csv and one
    self-contained report.html. On a source the model never saw it also puts internal and
    external results side by side."""
    from cxrlab.evaluate.pipeline import EvaluateOptions, evaluate_run

    options = EvaluateOptions(split=split, source=source, target_class=target_class, target_sensitivity=target_sensitivity,
                              n_boot=n_boot, seed=seed, calibrate=calibrate, batch_size=batch_size, gallery=gallery,
                              shortcut=shortcut, which=which)
    folder = evaluate_run(run, manifest, out, cache, options, log=say)
    _print_headline(folder)


def _print_headline(folder: Path) -> None:
    from rich.table import Table

    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    tab = Table(title=f"{metrics['evaluated']['name']}: {metrics['n_images']:,} images, 95% intervals by {metrics['unit']}")
    for col in ("metric", "value", "95% CI"):
        tab.add_column(col)
    for key, cell in metrics["headline"].items():
        lo, hi = cell.get("low"), cell.get("high")
        value = "–" if cell.get("value") is None else f"{cell['value']:.3f}"
        tab.add_row(key.replace("_", " "), value, f"{lo:.3f}–{hi:.3f}" if lo is not None and hi is not None else "–")
    console().print(tab)
    if metrics.get("comparison"):
        say(metrics["comparison"]["verdict"])
    for warning in (metrics.get("shortcut") or {}).get("warnings", []):
        say(f"[bold yellow]shortcut warning:[/] {warning}")
    say(f"report: {folder / 'report.html'}")


def shortcut_command(
    run: Path = typer.Argument(..., help="Run folder or checkpoint folder."),
    manifest: Path = options.manifest("Manifest (default: the run's split_manifest.csv).", None),
    split: str = typer.Option(None, "--split", help="Split to probe (default: test)."),
    source: str = typer.Option(None, "--source", help="Only this source."),
    out: Path = options.out(None, "Output folder (default: RUN/shortcut)."),
    cache: Path = options.cache(),
    seed: int = options.seed(),
    batch_size: int = options.batch_size(64),
    which: str = options.checkpoint("best or last."),
) -> None:
    """Is the model recognising the disease or the hospital? Measures (a) how well the source can be
    read off the model's features, (b) per-source class balance and label/source confounding,
    (c) performance within single sources vs pooled; warns in plain language."""
    from cxrlab.evaluate.shortcut_run import shortcut_check

    folder = shortcut_check(run, manifest, split, source, out, cache, seed, batch_size, which, log=say)
    report = json.loads((folder / "shortcut.json").read_text(encoding="utf-8"))
    bal = report["balance"]
    v = "–" if bal["cramers_v"] is None else f"{bal['cramers_v']:.2f}"
    say(f"label/source association (Cramér's V): {v} ({bal['strength']})")
    probes = report.get("probes") or {}
    feat = probes.get("features") or {}
    if feat.get("balanced_accuracy") is not None:
        say(f"source probe on model features: balanced accuracy {feat['balanced_accuracy']:.2f} (chance {feat['chance']:.2f})")
    for warning in report["warnings"]:
        say(f"[bold yellow]warning:[/] {warning}")
    if not report["warnings"]:
        say("no shortcut warning")
    say(f"report: {folder / 'shortcut.html'}")


def compare_command(
    runs: list[Path] = typer.Argument(..., help="Two or more run folders (or their evaluation folders)."),
    out: Path = options.out(DEFAULT_WORKDIR / "compare", "Output folder for compare.html/json."),
    n_boot: int = typer.Option(1000, "--bootstrap", min=0, help="Resamples for paired differences."),
    seed: int = options.seed(),
    evaluate_missing: bool = typer.Option(True, "--evaluate-missing/--no-evaluate-missing", help="Evaluate runs that have no evaluation yet."),
    cache: Path = options.cache("Preprocessing cache folder (for runs evaluated now)."),
) -> None:
    """Several runs side by side: headline metrics with intervals, paired differences on shared
    test images, overlaid ROC curves (compare.html)."""
    from cxrlab.evaluate.compare import compare_runs

    folder = compare_runs(runs, out, n_boot, seed, evaluate_missing, cache, log=say)
    say(f"report: {folder / 'compare.html'}")
