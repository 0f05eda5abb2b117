"""Shared helpers for the site tests: a run with real (generated) films, and site folders with a
known shift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from helpers_deploy import film, make_run

LABELS = ("COVID", "Normal", "Pneumonia")


def invert(pixels: np.ndarray) -> np.ndarray:
    """Inverted contrast (a MONOCHROME1 film shown as MONOCHROME2, or a different processing)."""
    return 255 - pixels


def washed_out(pixels: np.ndarray) -> np.ndarray:
    """Brighter and flatter: a different exposure / processing."""
    return np.clip(pixels.astype(np.float64) * 0.5 + 110, 0, 255).astype(np.uint8)


def write_films(folder: Path, n: int, seed: int, shift: Callable | None = None, labels=LABELS,
                size: int = 64, fmt: str = "png") -> list[tuple[Path, str]]:
    """``n`` generated films cycling through ``labels`` (seeds ``seed..seed+n-1``), optionally shifted."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        label = labels[i % len(labels)]
        pixels = film(label, seed + i, size)
        if shift is not None:
            pixels = shift(pixels)
        path = folder / f"{label}_{seed + i}.{fmt}"
        Image.fromarray(pixels).save(path)
        out.append((path, label))
    return out


def make_site_run(root: Path, films: int = 120, seed: int = 0) -> Path:
    """A run (untrained seeded cnn-small, 32 px) whose split_manifest lists ``films`` real films,
    every class in every split."""
    run = make_run(root / "run", seed=seed)
    items = write_films(root / "train-films", films, 0)
    splits = ("train", "val", "test")
    rows = ["path,label,source,patient_id,split"]
    rows += [f"{p},{label},public,p{i},{splits[(i // 3) % 3]}" for i, (p, label) in enumerate(items)]
    (run / "split_manifest.csv").write_text("\n".join(rows) + "\n")
    return run


def labels_csv(path: Path, items, root: Path | None = None) -> Path:
    """A ``file,label`` CSV (paths relative to ``root`` when given)."""
    lines = ["file,label"] + [f"{p.relative_to(root) if root else p},{label}" for p, label in items]
    path.write_text("\n".join(lines) + "\n")
    return path
