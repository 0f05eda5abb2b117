"""CLI commands: ``cxrlab eda`` (HTML dataset report) and ``cxrlab cache`` (preprocessing cache)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.choices import EqualizeMode, ResizeMode
from cxrlab.cli.common import DEFAULT_MANIFEST, DEFAULT_WORKDIR, console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("eda")(eda_command)
    app.command("cache")(cache_command)


def eda_command(
    manifest: Path = typer.Option(DEFAULT_MANIFEST, "--manifest", "-m", help="Manifest CSV (from cxrlab index)."),
    out: Path = typer.Option(DEFAULT_WORKDIR / "eda.html", "--out", "-o", help="HTML report to write."),
    audit: Path = typer.Option(DEFAULT_WORKDIR / "audit", "--audit", help="Audit folder (its summary.json is shown)."),
    samples: int = typer.Option(8, "--samples", min=1, max=64, help="Random thumbnails per class and per source."),
    seed: int = typer.Option(0, "--seed", help="Seed for the random samples."),
) -> None:
    """Write a self-contained HTML dataset report: class counts per source and split, image sizes and
    bit depth, intensity (mean vs std per class), random samples per class and source, audit summary."""
    from cxrlab.data.eda import make_eda_report
    from cxrlab.data.manifest import read_manifest

    df = read_manifest(manifest)
    with console().status(f"Writing the report for {len(df):,} images..."):
        path = make_eda_report(df, out, audit_dir=audit if audit.is_dir() else None,
                               samples_per_class=samples, seed=seed)
    note = "" if audit.is_dir() else f" (no audit in {audit}: run 'cxrlab audit' to include it)"
    console().print(f"[bold]Report:[/] {path}{note}", highlight=False)


def cache_command(
    manifest: Path = typer.Option(DEFAULT_MANIFEST, "--manifest", "-m", help="Manifest CSV (from cxrlab index)."),
    size: int = typer.Option(224, "--size", help="Side of the square cached images (pixels)."),
    resize: ResizeMode = typer.Option("stretch", "--resize", help="How a film becomes square: ignore its aspect, pad with black, or crop the long side."),
    equalize: EqualizeMode = typer.Option("none", "--equalize", help="Contrast: none, histogram equalisation, CLAHE, or 1-99 % percentile windowing."),
    cache_dir: Path = typer.Option(DEFAULT_WORKDIR / "cache", "--cache-dir", help="Cache root folder."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Decoding processes."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Decode, convert to 8-bit and resize every manifest image once into a memory-mapped cache that
    training reuses. Rows already cached (same file, same settings) are reused, changed ones rebuilt."""
    from cxrlab.config import PreprocessConfig
    from cxrlab.data.cache import build_cache
    from cxrlab.data.manifest import read_manifest

    cfg = PreprocessConfig(size=size, resize=resize, equalize=equalize)
    df = read_manifest(manifest)
    store = build_cache(df, cache_dir, cfg, workers=workers, progress=progress)
    con = console()
    rate = store.decoded / store.seconds if store.seconds > 0 and store.decoded else 0.0
    con.print(f"[bold]Cache:[/] {store.path} ({len(store):,} x {size} x {size}, {store.path.stat().st_size / 1e6:,.0f} MB)",
              highlight=False)
    con.print(f"decoded {store.decoded:,}, reused {store.reused:,}, {store.seconds:.1f} s"
              + (f" ({rate:,.0f} images/s decoded)" if rate else ""), highlight=False)
    if store.errors:
        con.print(f"[yellow]{len(store.errors):,} unreadable image(s)[/] (kept as blank rows marked not ok):")
        for row, reason in list(store.errors.items())[:10]:
            con.print(f"  {df['path'].iloc[row]}: {reason}", highlight=False)
        if len(store.errors) > 10:
            con.print(f"  ... and {len(store.errors) - 10:,} more")
