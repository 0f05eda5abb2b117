"""Shared CLI bits: consoles, default locations, option helpers."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

#: Where commands put their outputs unless told otherwise (relative to the current folder).
DEFAULT_WORKDIR = Path("cxrlab-out")
DEFAULT_MANIFEST = DEFAULT_WORKDIR / "manifest.csv"


def console() -> Console:
    return Console()


def err_console() -> Console:
    return Console(stderr=True)


def say(text: str) -> None:
    """Print a line of Rich markup to stdout, wrapping softly, without syntax highlighting."""
    console().print(text, highlight=False, soft_wrap=True)
