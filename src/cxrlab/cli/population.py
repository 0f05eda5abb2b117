"""CLI command: ``cxrlab population`` (adult / pediatric per film, and the child => pneumonia warning)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import console, err_console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("population")(population_command)


def population_command(
    manifest: Path = options.manifest("Manifest CSV (indexed, ideally audited)."),
    scheme: str = options.scheme(f"Label scheme for the table and warnings: {options.SCHEMES}, "
                                  "a YAML file, or 'none' for the canonical labels."),
    overrides: Path | None = typer.Option(None, "--overrides",
                                          help="CSV with 'population' (adult/pediatric/unknown) and 'path' or "
                                               "'sha1' (final for that film) or 'source' (default for that "
                                               "source's films with no other evidence)."),
    exclude: str | None = typer.Option(None, "--exclude",
                                       help="Remove 'pediatric' (or 'adult') films from the manifest."),
    drop_unknown: bool = typer.Option(False, "--drop-unknown",
                                      help="With --exclude, also remove films of unknown population."),
    write: bool = typer.Option(True, "--write/--no-write", help="Write the 'population' column into the manifest."),
) -> None:
    """Label every film adult / pediatric / unknown (age, DICOM PatientAge, metadata tables, known
    pediatric sources, copies found by 'cxrlab audit'), print a source x population x class table and
    warn when a class is mostly pediatric. Writes a 'population' column into the manifest."""
    from cxrlab.data.manifest import read_manifest, write_manifest
    from cxrlab.data.population.infer import (
        ADULT, PEDIATRIC, add_population, filter_population, pediatric_warnings, population_classes,
        read_overrides,
    )
    from cxrlab.errors import ConfigError
    from cxrlab.labels import load_scheme

    label_scheme = None if scheme.lower() == "none" else load_scheme(scheme)
    if exclude is not None and exclude not in (ADULT, PEDIATRIC):
        raise ConfigError(f"--exclude must be '{PEDIATRIC}' or '{ADULT}', got {exclude!r}")
    df = read_manifest(manifest)
    if "dup_group" not in df.columns:
        err_console().print("[yellow]note:[/] no dup_group column (run 'cxrlab audit'): copies of pediatric films "
                            "in other sources cannot be recognised", highlight=False)
    df = add_population(df, overrides=read_overrides(overrides) if overrides else None)
    _print_table(df, label_scheme)
    for line in pediatric_warnings(df, label_scheme):
        err_console().print(f"[bold yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    if exclude is not None:
        keep = ADULT if exclude == PEDIATRIC else PEDIATRIC
        before = len(df)
        df = filter_population(df, keep, on_unknown="drop" if drop_unknown else "keep")
        left = population_classes(df, label_scheme).value_counts().sort_index()
        console().print(f"--exclude {exclude}: removed {before - len(df):,} of {before:,} films; left: "
                        + ", ".join(f"{name} {count:,}" for name, count in left.items()), highlight=False, soft_wrap=True)
    if write:
        write_manifest(df, manifest)
        console().print(f"population written to {manifest}", highlight=False, soft_wrap=True)


def _print_table(df, scheme) -> None:
    from rich.console import Console
    from rich.table import Table

    from cxrlab.data.population.infer import population_table

    counts = population_table(df, scheme)
    title = f"Films per source, population and class ({scheme.name if scheme else 'canonical labels'})"
    table = Table(title=title, title_justify="left")
    for name in ("source", "population", *map(str, counts.columns)):
        table.add_column(name, justify="left" if name in ("source", "population") else "right")
    for (source, pop), row in counts.iterrows():
        style = "yellow" if pop == "pediatric" else ""
        table.add_row(str(source), str(pop), *(f"{int(v):,}" for v in row), style=style)
    Console(width=max(console().width, 120)).print(table)
