"""The options several commands share, declared once: flag names, default, bounds and help.

Each factory returns the ``typer.Option`` for a parameter's default, e.g.
``manifest: Path = options.manifest("Manifest CSV (audited).")``. Where a command's help or default
differs on purpose (another meaning, another safe limit), it passes its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cxrlab.cli.common import DEFAULT_CACHE, DEFAULT_MANIFEST

SCHEMES = "binary, covid-binary, 3class, 4class"


def manifest(help: str, default: Path | None = DEFAULT_MANIFEST) -> Any:
    """``--manifest/-m``: the manifest CSV a command reads (and may update)."""
    return typer.Option(default, "--manifest", "-m", help=help)


def out(default: Path | None, help: str, short: bool = True) -> Any:
    """``--out/-o``: where a command writes."""
    return typer.Option(default, "--out", *(("-o",) if short else ()), help=help)


def scheme(help: str = f"Label scheme: {SCHEMES} or a YAML file.", short: bool = True) -> Any:
    """``--scheme/-s``: a built-in label scheme name or a YAML file (default 3class)."""
    return typer.Option("3class", "--scheme", *(("-s",) if short else ()), help=help)


def workers(help: str, short: bool = True) -> Any:
    """``--workers/-w``: processes decoding images (at least 1, default 2)."""
    return typer.Option(2, "--workers", *(("-w",) if short else ()), min=1, help=help)


def decode_threads(help: str = "Threads decoding films.") -> Any:
    """``--workers``: threads decoding the films of a deployment tool (at least 1, default 2)."""
    return typer.Option(2, "--workers", min=1, help=help)


def progress(help: str | None = "Show a progress bar.") -> Any:
    """``--progress/--no-progress`` (default on)."""
    return typer.Option(True, "--progress/--no-progress", help=help)


def seed(help: str | None = None) -> Any:
    """``--seed`` (default 0)."""
    return typer.Option(0, "--seed", help=help)


def size(default: int, help: str, min: int | None = None) -> Any:
    """``--size``: the side of the square images, in pixels."""
    return typer.Option(default, "--size", min=min, help=help)


def batch_size(default: int, min: int | None = 1) -> Any:
    """``--batch-size``."""
    return typer.Option(default, "--batch-size", min=min)


def checkpoint(help: str = "Which checkpoint of the run: best or last.") -> Any:
    """``--checkpoint``: ``best`` or ``last`` checkpoint of a run."""
    return typer.Option("best", "--checkpoint", help=help)


def cache(help: str = "Preprocessing cache folder.") -> Any:
    """``--cache``: the preprocessing cache folder."""
    return typer.Option(DEFAULT_CACHE, "--cache", help=help)


def onnx_threads(default: int = 0, help: str = "ONNX Runtime threads (0 = its default).") -> Any:
    """``--threads``: ONNX Runtime threads (0 = its default)."""
    return typer.Option(default, "--threads", min=0, help=help)


def torch_threads() -> Any:
    """``--threads``: torch CPU threads of a segmentation command (0 = torch's default)."""
    return typer.Option(0, "--threads", help="torch CPU threads (0: torch's default; 1 is faster on a busy machine).")


def max_pixels(default: int, help: str) -> Any:
    """``--max-pixels``: the largest accepted image, width x height (the reader's one limit)."""
    return typer.Option(default, "--max-pixels", min=4096, help=help)
