"""CLI command: ``cxrlab audit`` (duplicates and leakage)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_WORKDIR, console, console_for


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("audit")(audit_command)


def audit_command(
    manifest: Path = options.manifest("Manifest CSV from 'cxrlab index'."),
    out: Path = options.out(DEFAULT_WORKDIR / "audit", "Folder for the audit files."),
    workers: int = options.workers("Image-reading processes."),
    threshold: float = typer.Option(0.82, "--threshold", min=0.0, max=1.0,
                                    help="Near-duplicate similarity threshold (higher = stricter)."),
    sheet_pairs: int = typer.Option(24, "--sheet-pairs", min=0, help="Near pairs shown in near_pairs.png."),
    progress: bool = options.progress(),
) -> None:
    """Find exact and near-duplicate films (re-encoded, resized, slightly cropped, re-windowed) within
    and across sources and splits; flag label conflicts and patients on two sides of a split.
    Writes dup_group into the manifest and pairs.csv, groups.csv, summary.json, near_pairs.png."""
    from cxrlab.io.progress_bar import progress_bar
    from cxrlab.data.audit.run import run_audit
    from cxrlab.data.audit.report import write_audit
    from cxrlab.data.audit.duplicates import DuplicateConfig
    from cxrlab.data.manifest import read_manifest, write_manifest

    df = read_manifest(manifest)
    with progress_bar("audit: reading", progress) as bar:
        result = run_audit(df, workers=workers, progress=bar, config=DuplicateConfig(near_threshold=threshold))
    files = write_audit(result, out, sheet_pairs=sheet_pairs)
    write_manifest(result.manifest, manifest)
    _print_audit(result, files, manifest)


def _print_audit(result, files, manifest: Path) -> None:
    from rich.table import Table

    from cxrlab.data.audit.report import flag_counts

    table = Table(title="Leakage audit", title_justify="left")
    table.add_column("finding")
    table.add_column("count", justify="right")
    for name, count in flag_counts(result):
        style = "bold red" if count and any(w in name for w in ("conflicting", "splits")) else ""
        table.add_row(name, f"{count:,}", style=style)
    con = console()
    con.print(table)
    summary = result.summary()
    if summary["groups_by_sources"]:
        src = Table(title="Duplicate groups by sources involved", title_justify="left")
        src.add_column("sources")
        src.add_column("groups", justify="right")
        for item in summary["groups_by_sources"]:
            src.add_row(item["sources"], f"{item['groups']:,}")
        console_for(src).print(src)
    for item in summary["label_conflicts"][:5]:
        con.print(f"[yellow]label conflict[/] {item['dup_group']}: {item['labels']} ({item['sources']})", highlight=False)
    con.print(f"{len(result.manifest):,} images in {result.seconds:.1f} s. dup_group written to {manifest}", highlight=False)
    shown = [files.pairs, files.groups, files.patients, files.summary] + ([files.sheet] if files.sheet else [])
    con.print("Files: " + ", ".join(str(p) for p in shown), highlight=False, soft_wrap=True)

