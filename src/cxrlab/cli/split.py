"""CLI command: ``cxrlab split`` (leakage-free train/val/test splits)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import console_for, err_console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("split")(split_command)


def split_command(
    manifest: Path = options.manifest("Manifest CSV (audited)."),
    scheme: str = options.scheme(f"Label scheme to stratify by: {options.SCHEMES} or a YAML file."),
    val: float = typer.Option(0.15, "--val", min=0.0, max=0.9, help="Validation fraction."),
    test: float = typer.Option(0.15, "--test", min=0.0, max=0.9, help="Test fraction."),
    seed: int = options.seed("Random seed (same seed, same split)."),
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
    con = console_for(table)
    con.print(table)
    con.print(f"{df['group'].nunique():,} groups (patient ∪ duplicate group); split written to {manifest}",
              highlight=False)

