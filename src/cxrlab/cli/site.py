"""CLI commands for deploying at a new site: ``site-check``, ``adapt``, ``recalibrate``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_WORKDIR, err_console, say

COLOUR = {"unlike": "red", "different": "yellow", "like": "green", "unknown": "yellow"}


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("site-check")(site_check_command)
    app.command("adapt")(adapt_command)
    app.command("recalibrate")(recalibrate_command)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "site"


def _ci(cell: dict, digits: int = 3) -> str:
    """``0.912 (95% interval 0.894-0.930)``; the value alone without a finite interval."""
    value, lo, hi = cell.get("value"), cell.get("low"), cell.get("high")
    if value is None or value != value:
        return "–"
    if lo is None or hi is None or lo != lo or hi != hi:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} (95% interval {lo:.{digits}f}-{hi:.{digits}f})"


def _warn(lines) -> None:
    for line in lines:
        err_console().print(f"[yellow]warning:[/] {line}", highlight=False)


def site_check_command(
    bundle: Path = typer.Argument(..., help="Model bundle (.cxrlab)."),
    paths: list[str] = typer.Argument(..., help="The site's films: folders (searched recursively), files or glob patterns."),
    out: Optional[Path] = options.out(None, "Folder for site_check.html/.json "
                                             "(default: cxrlab-out/site-check/<folder name>)."),
    max_films: int = typer.Option(2000, "--max-films", min=0, help="Check a seeded sample of this many films (0 = all)."),
    permutations: int = typer.Option(100, "--permutations", min=0, help="Label shuffles for the feature-shift p-value."),
    seed: int = options.seed(),
    workers: int = options.decode_threads(),
    threads: int = options.onnx_threads(),
) -> None:
    """Does a site's data look like the data the model was trained on? Film statistics, the model's
    feature distribution, outliers and the predicted-class mix against the bundle's training
    profile: one HTML page + JSON and a verdict line. No torch, no labels."""
    from cxrlab.site.check import CheckOptions, check_site
    from cxrlab.site.report import write_site_check

    options = CheckOptions(max_films=max_films, seed=seed, permutations=permutations, workers=workers, threads=threads)
    check = check_site(bundle, paths if len(paths) > 1 else paths[0], options)
    out = out or DEFAULT_WORKDIR / "site-check" / _slug(Path(paths[0]).name)
    files = write_site_check(check, out)
    site = check.summary["site"]
    say(f"{site['readable']} films checked ({site['unreadable']} unreadable) against "
        f"{(check.summary['reference'] or {}).get('films', 0)} reference films")
    for reason in check.summary["verdict"]["reasons"]:
        say(f"  - {reason}")
    for item in check.summary["cannot_compare"]:
        say(f"  [dim]not compared: {item}[/]")
    say(f"[bold {COLOUR[check.level]}]{check.verdict}[/]")
    say(f"wrote {files['html']} and {files['json']}")


def adapt_command(
    run: Path = typer.Argument(..., help="Run folder (cxrlab-out/runs/NAME) or checkpoint folder."),
    paths: list[str] = typer.Argument(..., help="The site's unlabeled films: folders, files or glob patterns."),
    out: Optional[Path] = options.out(None, "Adapted bundle (default: cxrlab-out/<run>-adapted-<site>.cxrlab)."),
    site: str = typer.Option("", "--site", help="Site name for the card (default: the folder's name)."),
    which: str = options.checkpoint(),
    min_films: int = typer.Option(50, "--min-films", min=2, help="Refuse with fewer readable films (see --force)."),
    force: bool = typer.Option(False, "--force", help="Adapt even with fewer than --min-films films."),
    max_films: int = typer.Option(0, "--max-films", min=0, help="Use a seeded sample of this many films (0 = all)."),
    batch_size: int = options.batch_size(64, min=2),
    seed: int = options.seed(),
    save_checkpoint: Optional[Path] = typer.Option(None, "--save-checkpoint", help="Also write the adapted checkpoint "
                                                   "folder here (for 'cxrlab evaluate')."),
    workers: int = options.decode_threads(),
) -> None:
    """Adapt a model to a site without labels (AdaBN): re-estimate its BatchNorm statistics on the
    site's films and write a new checksummed bundle whose card records the adaptation. Needs a
    representative mix of the site's films, not one class."""
    from cxrlab.site.adapt import AdaptOptions, adapt_run
    from cxrlab.artifacts.checkpoint import resolve_checkpoint_dir
    from cxrlab.artifacts.run_folder import run_folder

    name = site or _slug(Path(paths[0]).name)
    if out is None:
        out = DEFAULT_WORKDIR / f"{run_folder(resolve_checkpoint_dir(run, which)).name}-adapted-{name}.cxrlab"
    options = AdaptOptions(which=which, min_films=min_films, force=force, max_films=max_films, batch_size=batch_size,
                           seed=seed, workers=workers, site_name=name)
    report = adapt_run(run, paths if len(paths) > 1 else paths[0], out, options, save_checkpoint, log=say)
    _warn(report.warnings)
    rec = report.record
    shift = rec["statistics_shift"]
    say(f"re-estimated {shift['batchnorm_layers']} BatchNorm layers on {rec['films_used']} films "
        f"(mean shift {shift['mean_shift_in_sd']:.2f} SD, |log std ratio| {shift['mean_abs_log_std_ratio']:.2f})")
    before, after = (", ".join(f"{c} {v:.0%}" for c, v in rec[k].items())
                     for k in ("predicted_mix_before", "predicted_mix_after"))
    say(f"predicted mix on these films: before {before}; after {after}")
    say(f"wrote {report.export.path} (sha256 {report.export.sha256[:16]}...)"
        + (f" and {report.checkpoint}" if report.checkpoint else ""))
    say("temperature and threshold are still the training ones: refit them on a labelled sample with 'cxrlab recalibrate'")


def recalibrate_command(
    bundle: Path = typer.Argument(..., help="Model bundle (.cxrlab), e.g. an adapted one."),
    labels: Path = typer.Argument(..., help="CSV with columns file,label (optional patient_id) of labelled site films."),
    out: Optional[Path] = options.out(None, "New bundle (default: <bundle>-recalibrated.cxrlab)."),
    target_class: Optional[str] = typer.Option(None, "--target-class",
                                               help="Class of the threshold (default: COVID, else the last)."),
    target_sensitivity: float = typer.Option(0.95, "--target-sensitivity", min=0.01, max=1.0),
    n_boot: int = typer.Option(1000, "--n-boot", min=0, help="Bootstrap resamples for the intervals."),
    seed: int = options.seed(),
    min_films: int = typer.Option(20, "--min-films", min=2, help="Refuse with fewer usable labelled films (see --force)."),
    force: bool = typer.Option(False, "--force", help="Refit even with fewer than --min-films films."),
    site: str = typer.Option("", "--site", help="Site name for the card (default: the CSV's name)."),
    workers: int = options.decode_threads(),
) -> None:
    """Refit the temperature and the operating threshold on a small labelled sample of a site, with
    bootstrap intervals; writes a new checksummed bundle (same ONNX graph) whose card records it."""
    from cxrlab.site.recalibrate import RecalibrateOptions, recalibrate_bundle

    out = out or bundle.with_name(f"{bundle.stem}-recalibrated.cxrlab")
    options = RecalibrateOptions(target_class=target_class, target_sensitivity=target_sensitivity, n_boot=n_boot,
                                 seed=seed, min_films=min_films, force=force, workers=workers, site_name=site)
    report = recalibrate_bundle(bundle, labels, out, options)
    _warn(report.warnings)
    r = report.record
    ci = _ci
    say(f"{r['films']} labelled films ({', '.join(f'{c} {n}' for c, n in r['by_class'].items())})")
    say(f"temperature {r['replaced']['temperature']:.3f} -> {ci(r['temperature'])}")
    old = r["replaced"]["threshold"]
    say(f"{r['target_class']} threshold {'–' if old is None else f'{old:.4f}'} -> {ci(r['threshold'], 4)}")
    say(f"expected on new films of this site: sensitivity {ci(r['expected_sensitivity'], 2)}, "
        f"specificity {ci(r['expected_specificity'], 2)}")
    say(f"wrote {report.path}")
