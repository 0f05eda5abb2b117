"""CLI command: ``cxrlab index ROOT...`` -> manifest + summary tables."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_MANIFEST, console, writable


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("index")(index_command)


def index_command(
    roots: list[Path] = typer.Argument(..., help="Dataset folder(s); a folder may hold several datasets."),
    out: Path = options.out(DEFAULT_MANIFEST, "Manifest CSV to write (or a folder for it)."),
    workers: int = options.workers("Decoding processes."),
    keep_lateral: bool = typer.Option(False, "--keep-lateral", help="Keep lateral views (default: frontal only)."),
    progress: bool = options.progress(),
) -> None:
    """Index dataset folders into a manifest: one row per usable image (label, source, patient,
    view, size, hashes). Layouts are recognised automatically: per-folder manifest.csv, ieee8023
    metadata CSV, Kermany chest_xray/, class-per-folder (COVID-19 Radiography Database...), DICOM."""
    from cxrlab.io.progress_bar import progress_bar
    from cxrlab.data.index.indexer import index_datasets, write_index
    from cxrlab.errors import CxrlabError

    target = writable(out / "manifest.csv" if out.is_dir() or not out.suffix else out)
    with progress_bar("indexing", progress) as bar:
        result = index_datasets(roots, workers=workers, progress=bar, frontal_only=not keep_lateral)
    files = write_index(result, target)
    _print_summary(result, files)
    if result.manifest.empty:
        raise CxrlabError(
            f"no labelled X-ray images found under {', '.join(map(str, roots))} "
            f"(see {files.excluded} and {files.skipped})"
        )


#: Skipped files printed with their reason (the rest are in index_skipped.csv).
SHOWN_SKIPPED = 8


def _print_summary(result, files) -> None:
    from rich.markup import escape

    con = console()
    labels = _label_table(result)
    if not con.is_terminal:  # piped/captured output: do not squeeze the table into 80 columns
        from rich.console import Console

        con = Console(width=max(con.width, con.measure(labels, options=con.options.update_width(1000)).maximum))
    con.print(labels)
    con.print(_excluded_table(result) if result.excluded else "Excluded on purpose: none")

    def say(text: str) -> None:
        con.print(text, highlight=False, soft_wrap=True)

    if result.unknown_labels:
        shown = ", ".join(f"{label!r} ({n:,})" for label, n in result.unknown_labels.most_common(10))
        say(f"Unknown labels (not mapped to a canonical label): {shown}")
    if result.excluded:
        say(f"Excluded files listed in {files.excluded}")
    say(f"Skipped {len(result.skipped):,} unreadable/non-image file(s): list in {files.skipped}")
    for path, reason in result.skipped[:SHOWN_SKIPPED]:
        say(f"  {escape(path)}: {escape(reason)}")
    if len(result.skipped) > SHOWN_SKIPPED:
        say(f"  ... and {len(result.skipped) - SHOWN_SKIPPED:,} more")
    n = len(result.manifest)
    rate = n / result.seconds if result.seconds > 0 else 0.0
    say(f"[bold]Manifest:[/] {files.manifest} ({n:,} images, {result.seconds:.1f} s, {rate:,.0f} images/s)")


def _excluded_table(result):
    from rich.table import Table

    table = Table(title="Excluded on purpose", title_justify="left")
    table.add_column("reason")
    table.add_column("images", justify="right")
    for reason, count in result.excluded_counts.most_common():
        table.add_row(reason, f"{count:,}")
    return table


def _label_table(result):
    from rich.table import Table

    counts = result.label_table()
    table = Table(title="Images per source and label", title_justify="left")
    table.add_column("source")
    labels = list(counts.columns)
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("total", justify="right", style="bold")
    for i, (source, row) in enumerate(counts.iterrows()):
        cells = [f"{row[lab]:,}" if row[lab] else "" for lab in labels]
        table.add_row(str(source), *cells, f"{row.sum():,}", end_section=i == len(counts) - 1)
    if len(counts) > 1:
        totals = counts.sum()
        table.add_row("[bold]all[/]", *[f"{totals[lab]:,}" for lab in labels], f"{totals.sum():,}")
    return table
