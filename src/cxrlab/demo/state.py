"""What the stages of ``cxrlab demo`` share: the configuration, the state they fill in, and the
bookkeeping helpers. Imports nothing of the pipeline, so :mod:`cxrlab.demo.stages` and
:mod:`cxrlab.demo.run` both build on it without importing each other in a circle."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from cxrlab.errors import ConfigError
from cxrlab.io.parallel import Progress

Log = Callable[[str], None]
#: ``bar(label)`` -> a context giving the ``progress(done, total)`` callback of one stage (or None).
BarFactory = Callable[[str], AbstractContextManager[Progress | None]]


def no_bar(label: str) -> AbstractContextManager[Progress | None]:
    return nullcontext(None)


@dataclass(frozen=True)
class DemoConfig:
    out: str = "cxrlab-out"  # the work folder the other commands read by default
    data: str | None = None  # a real dataset folder; None = generate SYNTHETIC films
    scheme: str = "3class"
    synthetic_labels: tuple[str, ...] = ("COVID", "Normal", "Pneumonia")
    per_class: int = 120  # SYNTHETIC films per class
    images_per_patient: int = 2  # SYNTHETIC films share patients, so the split must group them
    duplicates: int = 6  # resized copies of SYNTHETIC films under other patient ids, for the audit to find
    film_size: int = 128  # pixels of the SYNTHETIC films on disk
    max_per_class: int = 400  # real data: at most this many images per label are kept (0 = all)
    image_size: int = 64  # model input
    model: str = "cnn-small"
    epochs: int = 6
    batch_size: int = 32
    n_boot: int = 200
    predict_count: int = 6
    seed: int = 0
    workers: int = 2
    progress: bool = True

    def __post_init__(self) -> None:
        if self.per_class < 4:
            raise ConfigError(f"demo per_class must be >= 4 (train/val/test need images), got {self.per_class}")


class StageSkipped(Exception):
    """Raised by a stage that cannot run here; the message says why."""


@dataclass
class StageResult:
    name: str
    status: str  # ok | skipped | failed
    message: str
    seconds: float = 0.0


@dataclass
class DemoState:
    """What the stages have produced so far (paths inside the output folder)."""

    out: Path
    synthetic: bool = False
    data_root: Path | None = None
    manifest: Path | None = None
    audit: Path | None = None
    split_done: bool = False
    eda: Path | None = None
    cache_dir: Path | None = None
    run_dir: Path | None = None
    report: Path | None = None
    bundle: Path | None = None
    predictions: Path | None = None
    results: list[StageResult] = field(default_factory=list)
    bar: BarFactory = no_bar  # progress bars of the long stages (the CLI passes Rich ones)

    @property
    def ok(self) -> bool:
        return not any(r.status == "failed" for r in self.results)


def require(value, what: str):
    """The value an earlier stage should have produced, or skip this stage naming it."""
    if value is None or value is False:
        raise StageSkipped(f"needs {what}, which an earlier stage did not produce")
    return value


def clear_own_folder(path: Path, marker: str) -> None:
    """Remove a folder the demo made before (recognised by ``marker`` inside it), never another."""
    if path.exists():
        if not (path / marker).exists():
            raise ConfigError(f"{path}: exists and was not made by cxrlab demo (no {marker}); choose another --out")
        shutil.rmtree(path)
