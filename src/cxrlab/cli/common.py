"""Shared CLI bits: consoles, default locations, option helpers."""

from __future__ import annotations

import inspect
import re
import tempfile
from pathlib import Path

from rich.console import Console

from cxrlab.errors import CxrlabError

#: Where commands put their outputs unless told otherwise (relative to the current folder).
DEFAULT_WORKDIR = Path("cxrlab-out")
DEFAULT_MANIFEST = DEFAULT_WORKDIR / "manifest.csv"
#: The preprocessing cache that ``cxrlab cache`` builds and training/evaluation reuse.
DEFAULT_CACHE = DEFAULT_WORKDIR / "cache"


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


def console_for(table) -> Console:
    """The console; when output is piped/captured, wide enough that the table is not squeezed."""
    con = console()
    if con.is_terminal:
        return con
    width = con.measure(table, options=con.options.update_width(1000)).maximum
    return Console(width=max(con.width, width))


def reflow_help(text: str) -> str:
    """A docstring's paragraphs as one line each, so Rich wraps them at the terminal's width instead
    of breaking at the source's line ends (Typer's rich mode keeps single newlines: at 80 columns
    that split sentences in two). Paragraphs that are lists or tables keep their lines."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(text))
    kept = [p if re.match(r"\s*([-*|\b]|\d+\.)", p) else " ".join(line.strip() for line in p.splitlines())
            for p in paragraphs]
    return "\n\n".join(kept)


def reflow_app_help(app) -> None:
    """Apply :func:`reflow_help` to every command of a Typer app and its sub-apps."""
    for info in app.registered_commands:
        doc = info.help if info.help is not None else inspect.getdoc(info.callback)
        if doc:
            info.help = reflow_help(doc)
    for group in app.registered_groups:
        reflow_app_help(group.typer_instance)
