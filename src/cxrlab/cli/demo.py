"""CLI commands: ``demo`` (the whole pipeline on SYNTHETIC films or --data) and
``datasets list | download`` (public chest X-ray datasets, verified)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli.common import console, err_console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("demo")(demo)
    datasets = typer.Typer(help="List and download public chest X-ray datasets (verified, resumable).",
                           no_args_is_help=True)
    datasets.command("list")(datasets_list)
    datasets.command("download")(datasets_download)
    app.add_typer(datasets, name="datasets")


def demo(
    out: Path = typer.Option(Path("cxrlab-out"), "--out",
                             help="Folder for everything the demo writes (default: the work folder the other commands read)."),
    data: Path | None = typer.Option(None, "--data", help="Run on this real dataset folder instead of SYNTHETIC films."),
    scheme: str = typer.Option("3class", "--scheme", help="Label scheme: binary, covid-binary, 3class, 4class or a YAML file."),
    epochs: int = typer.Option(6, "--epochs", min=1, help="Training epochs."),
    size: int = typer.Option(64, "--size", min=16, help="Model input size in pixels."),
    per_class: int = typer.Option(120, "--per-class", min=4, help="SYNTHETIC films per class."),
    max_per_class: int = typer.Option(400, "--max-per-class", min=0, help="With --data: keep at most this many images per label (0 = all)."),
    model: str = typer.Option("cnn-small", "--model", help="Model name (see 'cxrlab models')."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(2, "--workers", min=1, help="Processes for indexing and caching."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run the whole pipeline in one go: data -> index -> audit -> split -> eda -> cache -> train ->
    evaluate -> export -> predict. Without --data it generates SYNTHETIC chest films (not real
    patients). Writes into cxrlab-out/, where the other commands look, unless --out says otherwise."""
    from cxrlab.demo import DemoConfig, run_demo, summary

    labels = _synthetic_labels(scheme)
    cfg = DemoConfig(out=str(out), data=str(data) if data else None, scheme=scheme, synthetic_labels=labels,
                     per_class=per_class, max_per_class=max_per_class, image_size=size, model=model, epochs=epochs,
                     seed=seed, workers=workers, progress=progress)
    con = console()
    state = run_demo(cfg, log=lambda msg: con.print(msg, highlight=False, markup=False, soft_wrap=True))
    con.print(summary(state), highlight=False, markup=False, soft_wrap=True)
    if not state.ok:
        raise typer.Exit(1)


def _synthetic_labels(scheme: str) -> tuple[str, ...]:
    """Canonical labels to draw so that every class of the scheme has films."""
    from cxrlab.labels import load_scheme

    preferred = ("COVID", "Normal", "Pneumonia", "Pneumonia-Viral", "Pneumonia-Bacterial", "Lung_Opacity", "Other")
    chosen: dict[str, str] = {}
    loaded = load_scheme(scheme)
    for label in preferred:
        cls = loaded.map(label)
        if cls is not None and cls not in chosen:
            chosen[cls] = label
    return tuple(chosen.values())


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
