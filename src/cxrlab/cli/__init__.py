"""The ``cxrlab`` command line. Only this package parses arguments; it calls library functions."""

from __future__ import annotations

import sys

import typer

from cxrlab.errors import CxrlabError


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="cxrlab",
        help="Train, evaluate, explain and serve chest X-ray classifiers - and see what they really learned.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def _root() -> None:
        """cxrlab: chest X-ray classifiers, end to end."""

    from cxrlab.cli import (audit, cache, datasets, demo, deploy, eda, evaluate, index, loso, population, segment, site,
                            split, train)
    from cxrlab.cli.common import reflow_app_help

    for module in (index, audit, split, population, eda, cache, train, loso, segment, evaluate, deploy, site, demo,
                   datasets):
        module.register(app)

    @app.command()
    def version() -> None:
        """Print the cxrlab version."""
        from cxrlab import __version__

        typer.echo(__version__)

    reflow_app_help(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user-facing errors are printed plainly, with exit code 2."""
    from cxrlab.cli.common import err_console

    app = build_app()
    try:
        app(args=argv, prog_name="cxrlab")
    except CxrlabError as exc:
        from rich.markup import escape

        err_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:  # a file or folder the user named cannot be read or written
        if exc.filename is None:
            raise
        import errno

        from rich.markup import escape

        hint = " (a file is in the way of a folder)" if exc.errno in (errno.EEXIST, errno.ENOTDIR) else ""
        err_console().print(f"[bold red]error:[/] {escape(str(exc.filename))}: {escape(exc.strerror or str(exc))}{hint}",
                            highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console().print("[yellow]interrupted[/]")
        sys.exit(130)
