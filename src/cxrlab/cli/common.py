"""Shared CLI bits: consoles, default locations, option helpers."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console

from cxrlab.errors import CxrlabError

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


def writable(path: Path, folder: bool = False) -> Path:
    """``path`` (a file to write, or with ``folder`` a folder to write into), after checking that it
    can be written, so that an unwritable ``--out`` fails at once with a plain message instead of
    a traceback after the work is done. Creates the folder."""
    where = Path(path) if folder else Path(path).parent
    if not folder and Path(path).is_dir():
        raise CxrlabError(f"{path}: is a folder; give a file name to write")
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise CxrlabError(f"{path}: cannot write there ({exc.strerror or exc}: {exc.filename or where})") from None
    return Path(path)
