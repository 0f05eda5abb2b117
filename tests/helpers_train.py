"""Tiny generated training data for the training tests (synthetic films, index-free manifest)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxrlab.data.index.fingerprint import fingerprint
from cxrlab.data.manifest import write_manifest
from cxrlab.data.synthetic.generate import make_synthetic_dataset

LABELS = ("COVID", "Normal", "Pneumonia")


def make_manifest(root: Path, per_class: int = 12, size: int = 48, seed: int = 0, val_every: int = 5) -> Path:
    """Synthetic films + ``manifest.csv`` (every ``val_every``-th image of a class is val, the next test)."""
    data = make_synthetic_dataset(root / "data", LABELS, per_class=per_class, size=size, seed=seed)
    rows = []
    for label in LABELS:
        for i, path in enumerate(sorted((data / label).glob("*.png"))):
            gray = np.asarray(Image.open(path).convert("L"))
            split = "val" if i % val_every == 0 else "test" if i % val_every == 1 else "train"
            rows.append({"path": str(path), "label": label, "original_label": label, "source": "synthetic",
                         "patient_id": f"{label}-{i}", "view": "PA", "width": size, "height": size, "bits": 8,
                         "format": "PNG", "sha1": hashlib.sha1(path.read_bytes()).hexdigest(), **fingerprint(gray),
                         "split": split})
    return write_manifest(pd.DataFrame(rows), root / "manifest.csv")


def tiny_overrides(root: Path, name: str = "run", epochs: int = 2, size: int = 32) -> list[str]:
    """``--set`` style overrides for a fast CPU run under ``root``."""
    return [f"data.manifest={root / 'manifest.csv'}", f"data.cache_dir={root / 'cache'}", f"runs_dir={root / 'runs'}",
            f"name={name}", f"epochs={epochs}", f"data.preprocess.size={size}", "batch_size=8", "eval_batch_size=16",
            "progress=false", "data.cache_workers=0", "optim.warmup_epochs=0.5", "threads=1",
            # the from-scratch recipe these tests were written for (the default is ImageNet efficientnet_lite0)
            "model.name=cnn-small", "model.weights=none", "optim.lr=0.001", "samples_per_epoch=0"]
