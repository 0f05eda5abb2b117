"""What every evaluation starts from: the model, its metadata, its run folder and manifests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrlab.artifacts.checkpoint import resolve_checkpoint_dir
from cxrlab.artifacts.checkpoint_meta import CheckpointMeta
from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.data.manifest import read_manifest
from cxrlab.errors import ConfigError
from cxrlab.evaluate.selection import fit_rows, map_targets


@dataclass(frozen=True)
class RunContext:
    model: Any
    meta: CheckpointMeta  # with the run's calibration
    ckpt_dir: Path
    run_dir: Path | None
    split_manifest: Path | None  # the run's split_manifest.csv, when it exists
    run_df: pd.DataFrame | None  # its rows
    df: pd.DataFrame  # the manifest to evaluate (--manifest, else the run's)
    manifest: Path  # its path

    @property
    def other_manifest(self) -> Path | None:
        """The evaluated manifest when it is not the run's own."""
        if self.split_manifest and self.manifest.resolve() == self.split_manifest.resolve():
            return None
        return self.manifest

    def training_labels(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Sources and classes of the rows the run trained/validated on (for the class balance)."""
        fit = fit_rows(self.run_df)
        if fit is None or not len(fit):
            return None, None
        mapped, _ = map_targets(fit, self.meta.label_scheme)
        return mapped["source"].to_numpy(), mapped["class"].to_numpy()


def run_folder(path: Path, ckpt_dir: Path) -> Path | None:
    """The run folder (``runs/<name>/``) of a run or checkpoint path, if there is one."""
    for cand in (RunFolder(path), RunFolder(ckpt_dir.parent.parent)):
        if cand.is_run():
            return cand.root
    return None


def load_context(run: str | Path, manifest: str | Path | None = None, which: str = "best") -> RunContext:
    from cxrlab.models.loading import load_checkpoint

    run = Path(run).absolute()
    ckpt_dir = resolve_checkpoint_dir(run, which)
    model, meta = load_checkpoint(ckpt_dir)
    run_dir = run_folder(run, ckpt_dir)
    split_manifest = RunFolder(run_dir).split_manifest if run_dir else None
    if split_manifest is not None and not split_manifest.exists():
        split_manifest = None
    run_df = read_manifest(split_manifest) if split_manifest else None
    if manifest is None and run_df is None:
        raise ConfigError(f"{run}: the run has no split_manifest.csv; pass --manifest")
    path = Path(manifest).absolute() if manifest is not None else split_manifest
    df = read_manifest(path) if manifest is not None else run_df
    return RunContext(model, meta, ckpt_dir, run_dir, split_manifest, run_df, df, path)
