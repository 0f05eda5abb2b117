"""A set of films read from files: what the model sees, plus what the raw files look like.

``load_films(paths, cfg)`` decodes each file (PNG/JPEG/DICOM..., via :mod:`cxrlab.io.images`),
keeps its raw statistics (8-bit intensity mean/std in 0-1 as the manifest records them, width,
height, bit depth, format) and preprocesses it to the model's ``(S, S)`` uint8 view with
:mod:`cxrlab.data.preprocess`. Unreadable files are collected with their reason, never raised.
Used for the bundle's training profile (export) and for a site's films (``cxrlab.site``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrlab.config import PreprocessConfig
from cxrlab.data.model_view import view_of
from cxrlab.errors import ImageReadError
from cxrlab.io.images import DEFAULT_MAX_PIXELS, read_image, to_uint8

#: Per-film raw statistics kept for every readable film (numeric ones; ``format`` is text).
STAT_KEYS = ("mean", "std", "width", "height", "bits")


@dataclass(frozen=True)
class FilmSet:
    """Readable films in input order: ``paths[i]`` <-> ``views[i]`` <-> ``stats[k][i]``."""

    paths: tuple[str, ...]
    views: np.ndarray  # (N, S, S) uint8, preprocessed like training
    stats: dict[str, np.ndarray]  # STAT_KEYS -> (N,) float64
    formats: tuple[str, ...]
    errors: dict[str, str]  # unreadable path -> reason

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: Sequence[int] | np.ndarray) -> FilmSet:
        index = np.asarray(index, dtype=np.int64)
        return FilmSet(tuple(self.paths[i] for i in index), self.views[index],
                       {k: v[index] for k, v in self.stats.items()}, tuple(self.formats[i] for i in index),
                       dict(self.errors))


def film_stats(gray: np.ndarray, image) -> dict[str, float | str]:
    """What ``cxrlab index`` records about a decoded film (same definitions as the manifest)."""
    g = gray.astype(np.float32)
    return {"mean": float(g.mean()) / 255.0, "std": float(g.std()) / 255.0, "width": float(image.width),
            "height": float(image.height), "bits": float(image.bits), "format": str(image.format)}


def _load_one(path: str, cfg: PreprocessConfig, max_pixels: int):
    try:
        image = read_image(path, name=path, max_pixels=max_pixels)
        gray = to_uint8(image)
        return view_of(image, path, cfg, name=path, max_pixels=max_pixels), film_stats(gray, image)
    except ImageReadError as exc:
        return exc.reason
    except OSError as exc:
        return f"cannot read file ({exc.strerror or exc})"
    except Exception as exc:  # one odd file must not stop a site check
        return f"unexpected error while decoding ({type(exc).__name__}: {exc})"


def load_films(paths: Sequence[str | Path], cfg: PreprocessConfig, workers: int = 2,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> FilmSet:
    """Decode and preprocess ``paths`` (threads; order kept). Unreadable files go to ``errors``."""
    paths = [str(p) for p in paths]
    with ThreadPoolExecutor(max_workers=max(int(workers), 1)) as pool:
        results = list(pool.map(lambda p: _load_one(p, cfg, max_pixels), paths))
    ok = [(p, r) for p, r in zip(paths, results) if not isinstance(r, str)]
    errors = {p: r for p, r in zip(paths, results) if isinstance(r, str)}
    views = np.stack([r[0] for _, r in ok]) if ok else np.zeros((0, cfg.size, cfg.size), np.uint8)
    stats = {k: np.array([r[1][k] for _, r in ok], dtype=np.float64) for k in STAT_KEYS}
    return FilmSet(tuple(p for p, _ in ok), views, stats, tuple(str(r[1]["format"]) for _, r in ok), errors)
