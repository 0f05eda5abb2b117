"""CLI command: ``cxrlab cache`` (the preprocessing cache that training reuses)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.choices import EqualizeMode, ResizeMode
from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_CACHE, console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("cache")(cache_command)


def cache_command(
    manifest: Path = options.manifest("Manifest CSV (from cxrlab index)."),
    size: int = options.size(224, "Side of the square cached images (pixels)."),
    resize: ResizeMode = typer.Option("stretch", "--resize", help="How a film becomes square: ignore its aspect, pad with black, or crop the long side."),
    equalize: EqualizeMode = typer.Option("none", "--equalize", help="Contrast: none, histogram equalisation, CLAHE, or 1-99 % percentile windowing."),
    cache_dir: Path = typer.Option(DEFAULT_CACHE, "--cache-dir", help="Cache root folder."),
    workers: int = options.workers("Decoding processes."),
    progress: bool = options.progress(),
) -> None:
    """Decode, convert to 8-bit and resize every manifest image once into a memory-mapped cache that
    training reuses. Rows already cached (same file, same settings) are reused, changed ones rebuilt."""
    from cxrlab.io.progress_bar import progress_bar
    from cxrlab.config import PreprocessConfig
    from cxrlab.data.cache.store import build_cache
    from cxrlab.data.manifest import read_manifest

    cfg = PreprocessConfig(size=size, resize=resize, equalize=equalize)
    df = read_manifest(manifest)
    with progress_bar("caching", progress) as bar:
        store = build_cache(df, cache_dir, cfg, workers=workers, progress=bar)
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
