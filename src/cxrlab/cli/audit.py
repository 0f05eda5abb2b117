"""CLI commands: ``cxrlab audit`` (duplicates and leakage) and ``cxrlab split`` (leakage-free splits)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli.common import DEFAULT_MANIFEST, DEFAULT_WORKDIR, console, err_console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("audit")(audit_command)
    app.command("split")(split_command)


def audit_command(
    manifest: Path = typer.Option(DEFAULT_MANIFEST, "--manifest", "-m", help="Manifest CSV from 'cxrlab index'."),
    out: Path = typer.Option(DEFAULT_WORKDIR / "audit", "--out", "-o", help="Folder for the audit files."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Image-reading processes."),
    threshold: float = typer.Option(0.82, "--threshold", min=0.0, max=1.0,
                                    help="Near-duplicate similarity threshold (higher = stricter)."),
    sheet_pairs: int = typer.Option(24, "--sheet-pairs", min=0, help="Near pairs shown in near_pairs.png."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Find exact and near-duplicate films (re-encoded, resized, slightly cropped, re-windowed) within
    and across sources and splits; flag label conflicts and patients on two sides of a split.
    Writes dup_group into the manifest and pairs.csv, groups.csv, summary.json, near_pairs.png."""
    from cxrlab.data.audit.run import run_audit
    from cxrlab.data.audit.report import write_audit
    from cxrlab.data.audit.duplicates import DuplicateConfig
    from cxrlab.data.manifest import read_manifest, write_manifest

    df = read_manifest(manifest)
    result = run_audit(df, workers=workers, progress=progress, config=DuplicateConfig(near_threshold=threshold))
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
        _console_for(src).print(src)
    for item in summary["label_conflicts"][:5]:
        con.print(f"[yellow]label conflict[/] {item['dup_group']}: {item['labels']} ({item['sources']})", highlight=False)
    con.print(f"{len(result.manifest):,} images in {result.seconds:.1f} s. dup_group written to {manifest}", highlight=False)
    shown = [files.pairs, files.groups, files.patients, files.summary] + ([files.sheet] if files.sheet else [])
    con.print("Files: " + ", ".join(str(p) for p in shown), highlight=False, soft_wrap=True)


def split_command(
    manifest: Path = typer.Option(DEFAULT_MANIFEST, "--manifest", "-m", help="Manifest CSV (audited)."),
    scheme: str = typer.Option("3class", "--scheme", "-s",
                               help="Label scheme to stratify by: binary, covid-binary, 3class, 4class or a YAML file."),
    val: float = typer.Option(0.15, "--val", min=0.0, max=0.9, help="Validation fraction."),
    test: float = typer.Option(0.15, "--test", min=0.0, max=0.9, help="Test fraction."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same split)."),
    holdout_source: list[str] = typer.Option([], "--holdout-source",
                                             help="Source held out whole as split 'external' (repeatable)."),
    respect_given: bool = typer.Option(False, "--respect-given/--ignore-given",
                                       help="Keep train/val/test already given by the dataset layout."),
) -> None:
    """Stratified train/val/test split over groups (patient ∪ duplicate group): no patient and no copy
    of a film on two sides. Writes 'group' and 'split' into the manifest."""
    from cxrlab.data.manifest import read_manifest, write_manifest
    from cxrlab.data.splits import make_splits
    from cxrlab.errors import ConfigError
    from cxrlab.labels import load_scheme

    if val + test >= 1.0:
        raise ConfigError(f"--val {val} + --test {test} leave nothing for training")
    label_scheme = load_scheme(scheme)
    df = read_manifest(manifest)
    if "dup_group" not in df.columns:
        err_console().print("[yellow]warning:[/] no dup_group column: run 'cxrlab audit' first, or copies of "
                            "the same film may land on both sides of the split", highlight=False)
    out = make_splits(df, scheme=label_scheme, fractions=(1.0 - val - test, val, test), seed=seed,
                      holdout_sources=tuple(holdout_source), respect_given=respect_given)
    write_manifest(out, manifest)
    _print_split(out, label_scheme, manifest)


def _print_split(df, scheme, manifest: Path) -> None:
    from rich.table import Table

    from cxrlab.data.splits import split_table

    counts = split_table(df, scheme)
    table = Table(title=f"Images per split and class ({scheme.name}; '(label)' = excluded by the scheme)",
                  title_justify="left")
    table.add_column("split")
    for col in counts.columns:
        table.add_column(str(col), justify="right")
    table.add_column("total", justify="right")
    for name, row in counts.iterrows():
        table.add_row(str(name), *(f"{int(v):,}" for v in row), f"{int(row.sum()):,}")
    con = _console_for(table)
    con.print(table)
    con.print(f"{df['group'].nunique():,} groups (patient ∪ duplicate group); split written to {manifest}",
              highlight=False)


def _console_for(table):
    """The console; when output is piped/captured, wide enough that the table is not squeezed."""
    con = console()
    if con.is_terminal:
        return con
    from rich.console import Console

    width = con.measure(table, options=con.options.update_width(1000)).maximum
    return Console(width=max(con.width, width))
