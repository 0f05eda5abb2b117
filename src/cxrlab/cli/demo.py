"""CLI command: ``cxrlab demo`` (the whole pipeline on SYNTHETIC films or --data)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_WORKDIR, console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("demo")(demo)


def demo(
    out: Path = options.out(DEFAULT_WORKDIR, "Folder for everything the demo writes (default: the work folder the other "
                                             "commands read).", short=False),
    data: Path | None = typer.Option(None, "--data", help="Run on this real dataset folder instead of SYNTHETIC films."),
    scheme: str = options.scheme(short=False),
    epochs: int = typer.Option(6, "--epochs", min=1, help="Training epochs."),
    size: int = options.size(64, "Model input size in pixels.", min=16),
    per_class: int = typer.Option(120, "--per-class", min=4, help="SYNTHETIC films per class."),
    max_per_class: int = typer.Option(400, "--max-per-class", min=0, help="With --data: keep at most this many images per label (0 = all)."),
    model: str = typer.Option("cnn-small", "--model", help="Model name (see 'cxrlab models')."),
    seed: int = options.seed(),
    workers: int = options.workers("Processes for indexing and caching.", short=False),
    progress: bool = options.progress(None),
) -> None:
    """Run the whole pipeline in one go: data -> index -> audit -> split -> eda -> cache -> train ->
    evaluate -> export -> predict. Without --data it generates SYNTHETIC chest films (not real
    patients). Writes into cxrlab-out/, where the other commands look, unless --out says otherwise."""
    from cxrlab.io.progress_bar import progress_bar
    from cxrlab.demo.run import run_demo, summary
    from cxrlab.demo.state import DemoConfig

    labels = _synthetic_labels(scheme)
    cfg = DemoConfig(out=str(out), data=str(data) if data else None, scheme=scheme, synthetic_labels=labels,
                     per_class=per_class, max_per_class=max_per_class, image_size=size, model=model, epochs=epochs,
                     seed=seed, workers=workers, progress=progress)
    con = console()
    state = run_demo(cfg, log=lambda msg: con.print(msg, highlight=False, markup=False, soft_wrap=True),
                     bar=lambda label: progress_bar(label, progress))
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

