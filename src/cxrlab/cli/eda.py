"""CLI command: ``cxrlab eda`` (HTML dataset report)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_WORKDIR, console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("eda")(eda_command)


def eda_command(
    manifest: Path = options.manifest("Manifest CSV (from cxrlab index)."),
    out: Path = options.out(DEFAULT_WORKDIR / "eda.html", "HTML report to write."),
    audit: Path = typer.Option(DEFAULT_WORKDIR / "audit", "--audit", help="Audit folder (its summary.json is shown)."),
    samples: int = typer.Option(8, "--samples", min=1, max=64, help="Random thumbnails per class and per source."),
    seed: int = options.seed("Seed for the random samples."),
) -> None:
    """Write a self-contained HTML dataset report: class counts per source and split, image sizes and
    bit depth, intensity (mean vs std per class), random samples per class and source, audit summary."""
    from cxrlab.data.eda.report import make_eda_report
    from cxrlab.data.manifest import read_manifest

    df = read_manifest(manifest)
    with console().status(f"Writing the report for {len(df):,} images..."):
        path = make_eda_report(df, out, audit_dir=audit if audit.is_dir() else None,
                               samples_per_class=samples, seed=seed)
    note = "" if audit.is_dir() else f" (no audit in {audit}: run 'cxrlab audit' to include it)"
    console().print(f"[bold]Report:[/] {path}{note}", highlight=False)

