"""Every path of a run folder (``cxrlab-out/runs/<name>/``), named once.

::

    config.yaml            the TrainConfig that was run
    split_manifest.csv     the manifest rows used, with their split
    checkpoints/best/      checkpoint folders (see cxrlab.artifacts.checkpoint)
    checkpoints/last/      ... with train_state.pt, for --resume
    history.csv/.json      one row per epoch
    curves.png             loss and validation metrics per epoch
    log.txt                timestamped log lines
    evaluation/            metrics.json, predictions.csv, report.html (EvaluationFolder)
                           and calibration.json (temperature, thresholds: CalibrationRecord)
    evaluation-<what>/     evaluations of another split, source or manifest
    shortcut/              shortcut.json, shortcut.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHECKPOINTS = "checkpoints"
EVALUATION = "evaluation"


def run_folder(checkpoint_dir: str | Path) -> Path:
    """``runs/<name>/`` for ``runs/<name>/checkpoints/<which>``; the folder itself otherwise."""
    checkpoint_dir = Path(checkpoint_dir)
    return checkpoint_dir.parent.parent if checkpoint_dir.parent.name == CHECKPOINTS else checkpoint_dir


@dataclass(frozen=True)
class EvaluationFolder:
    """The files of one evaluation (``evaluation/`` or ``evaluation-<what>/``)."""

    root: Path

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.csv"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    def is_evaluation(self) -> bool:
        return self.metrics.exists() and self.predictions.exists()


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of_checkpoint(cls, checkpoint_dir: str | Path) -> RunFolder:
        """The run of a checkpoint folder (see :func:`run_folder`)."""
        return cls(run_folder(checkpoint_dir))

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def split_manifest(self) -> Path:
        return self.root / "split_manifest.csv"

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    def checkpoint(self, which: str = "best") -> Path:
        """``checkpoints/<which>`` (``best`` or ``last``)."""
        return self.checkpoints / which

    @property
    def history_csv(self) -> Path:
        return self.root / "history.csv"

    @property
    def history_json(self) -> Path:
        return self.root / "history.json"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def evaluation(self) -> Path:
        return self.root / EVALUATION

    def evaluation_of(self, slug: str) -> Path:
        """``evaluation-<slug>/``: an evaluation of another split, source or manifest."""
        return self.root / f"{EVALUATION}-{slug}"

    @property
    def metrics(self) -> Path:
        """The run's own evaluation (its test split): ``evaluation/metrics.json``."""
        return EvaluationFolder(self.evaluation).metrics

    @property
    def calibration(self) -> Path:
        return self.evaluation / "calibration.json"

    @property
    def shortcut(self) -> Path:
        return self.root / "shortcut"

    def is_run(self) -> bool:
        """Whether this looks like a training run (has checkpoints or a split manifest)."""
        return self.checkpoints.is_dir() or self.split_manifest.exists()
