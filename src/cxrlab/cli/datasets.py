"""CLI commands: ``cxrlab datasets list | download`` (public chest X-ray datasets, verified)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli.common import console, err_console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    datasets = typer.Typer(help="List and download public chest X-ray datasets (verified, resumable).",
                           no_args_is_help=True)
    datasets.command("list")(datasets_list)
    datasets.command("download")(datasets_download)
    app.add_typer(datasets, name="datasets")


def datasets_list(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show URL, license and citation."),
) -> None:
    """The public datasets cxrlab knows, how each download is verified, and their licenses."""
    from rich.table import Table

    from cxrlab.data.download.catalog import catalog

    entries = catalog().values()
    if verbose:
        for e in entries:
            console().print(f"{e.name}: {e.title}\n  {e.url or e.homepage}\n  size: {e.approx_size}\n  labels: {e.labels}\n"
                            f"  layout: {e.layout}\n  verification: {e.verification}\n  license: {e.license}\n"
                            f"  cite: {e.citation}\n  notes: {e.notes}\n", highlight=False, markup=False, soft_wrap=True)
        return
    table = Table()
    for column in ("name", "size", "how", "checked by"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        how = "manual (account)" if entry.manual else "automatic"
        checked = "-" if entry.manual else ("SHA-256 pinned" if entry.sha256 else "commit-pinned URL, TOFU SHA-256" if entry.revision else "TOFU SHA-256")
        table.add_row(entry.name, entry.approx_size.split(" (")[0], how, checked)
    console().print(table)
    console().print("TOFU = trust on first use: the SHA-256 of the first download is recorded and later downloads "
                    "must match (see docs/demo.md).", highlight=False)
    console().print("Download one with: cxrlab datasets download NAME [--dest DIR]   (-v for licenses and citations)")


def datasets_download(
    name: str = typer.Argument(..., help="Dataset name (see 'cxrlab datasets list')."),
    dest: Path = typer.Option(Path("datasets"), "--dest", help="Parent folder; the dataset goes into DEST/NAME/."),
    sha256: str | None = typer.Option(None, "--sha256", help="Expected SHA-256 of the archive (pins it)."),
    archive: Path | None = typer.Option(None, "--archive", help="Use this already-downloaded archive instead of the URL."),
    force: bool = typer.Option(False, "--force", help="Replace DEST/NAME if it exists."),
    keep_archive: bool = typer.Option(True, "--keep-archive/--remove-archive", help="Keep the archive after extracting."),
    base_url: str | None = typer.Option(None, "--base-url", help="Mirror: replaces scheme and host of the catalog URL."),
    timeout: float = typer.Option(5.0, "--connect-timeout", help="Seconds to wait for the host before giving up."),
) -> None:
    """Download NAME (resumable), verify it, extract it into DEST/NAME/ and print its license."""
    from cxrlab.data.download.catalog import get_entry, manual_instructions
    from cxrlab.data.download.fetch import fetch_dataset

    entry = get_entry(name, base_url=base_url)
    con = console()
    if entry.manual and archive is None:
        con.print(manual_instructions(entry, str(dest)), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    origin = archive if archive is not None else entry.url
    con.print(f"{entry.title}\n  from {origin}\n  verification: {entry.verification}", highlight=False, soft_wrap=True)
    with _bar() as (bar, task):
        result = fetch_dataset(entry, dest, sha256=sha256, archive=archive, force=force, keep_archive=keep_archive,
                               connect_timeout=timeout, progress=lambda done, total: bar.update(task, completed=done, total=total))
    where = "already there" if result.reused else f"{result.files} files extracted"
    con.print(f"[green]ok[/] {result.folder} ({where})\n  SHA-256 {result.sha256 or '-'}: {result.checked}", highlight=False)
    con.print(f"  license: {entry.license}\n  cite: {entry.citation}", highlight=False, markup=False, soft_wrap=True)
    con.print(f"Next: cxrlab index {result.folder}", highlight=False)


def _bar():
    import contextlib

    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    @contextlib.contextmanager
    def bar():
        with Progress("downloading", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err_console()) as p:
            yield p, p.add_task("download", total=None)

    return bar()
