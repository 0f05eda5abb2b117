"""Heatmap colouring and blending in numpy (no torch), shared by ``cxrlab explain``, the
torch-free predictor and the web service so every heatmap looks the same.

Same recipe as pytorch-grad-cam's ``show_cam_on_image`` (jet colour map, 50/50 blend,
rescaled to the brightest pixel) without pulling torch/OpenCV into the serving path.

Heatmaps are shown on the film the user gave, at its aspect ratio and resolution
(:func:`film_overlay`), not on the small square the model saw: the map is laid back through the
preprocessing geometry. Films longer than :data:`OVERLAY_MAX_SIDE` are scaled down for the overlay.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from cxrlab.config import PreprocessConfig
from cxrlab.data.preprocess import view_map_to_film

#: Overlays on the user's film have at most this many pixels on the long side (bigger films are
#: scaled down keeping their aspect): a 4k film's overlay stays ~12 MB in memory, ~1-2 MB as PNG.
OVERLAY_MAX_SIDE = 1024


def normalize_cam(cam: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """ReLU, optional bilinear resize to ``(height, width)``, then scale to [0, 1] (all-zero stays 0)."""
    cam = np.maximum(np.asarray(cam, dtype=np.float32), 0.0)
    if size is not None and cam.shape != tuple(size):
        cam = np.asarray(Image.fromarray(cam).resize((size[1], size[0]), Image.Resampling.BILINEAR))
        cam = np.maximum(cam, 0.0)
    cam = cam - cam.min()
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam).astype(np.float32)


@lru_cache(maxsize=1)
def _jet_table() -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["jet"](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)


def colorize(cam: np.ndarray) -> np.ndarray:
    """``(H, W)`` in [0, 1] -> RGB float32 in [0, 1] with the jet colour map (256 levels: a table
    lookup, so a large map costs 12 bytes a pixel, not matplotlib's float64 RGBA)."""
    levels = np.round(np.clip(np.asarray(cam, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return _jet_table()[levels]


def heatmap_colors(cam: np.ndarray) -> np.ndarray:
    """The coloured heatmap alone, RGB uint8 (the web page blends it with an opacity slider)."""
    return np.round(colorize(cam) * 255.0).astype(np.uint8)


def display_film(gray: np.ndarray, max_side: int = OVERLAY_MAX_SIDE) -> np.ndarray:
    """The film at its own aspect and resolution, scaled down only past ``max_side`` pixels."""
    h, w = gray.shape
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return gray
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0), dtype=np.uint8)


def heatmap_on_film(film_gray: np.ndarray, view_cam: np.ndarray, cfg: PreprocessConfig,
                    max_side: int = OVERLAY_MAX_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """``(film, cam)`` of one shape: the (possibly scaled-down) 8-bit film and the model-view
    heatmap laid onto it through the preprocessing geometry, in [0, 1]."""
    shown = display_film(np.asarray(film_gray, dtype=np.uint8), max_side)
    cam = np.clip(view_map_to_film(view_cam, shown.shape, cfg), 0.0, 1.0)
    return shown, cam


def film_overlay(film_gray: np.ndarray, view_cam: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """RGB uint8 overlay of a model-view heatmap on the film itself (see the module docstring)."""
    shown, cam = heatmap_on_film(film_gray, view_cam, cfg)
    return overlay_heatmap(shown, cam)


def overlay_heatmap(gray: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heatmap over a 2-D uint8 image -> RGB uint8 of the image's size."""
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"overlay expects a 2-D gray image, got shape {gray.shape}")
    cam = normalize_cam(cam, gray.shape) if cam.shape != gray.shape else np.clip(cam, 0.0, 1.0)
    base = np.repeat((gray.astype(np.float32) / 255.0)[..., None], 3, axis=2)
    blended = (1.0 - image_weight) * colorize(cam) + image_weight * base
    blended = blended / max(float(blended.max()), 1e-7)
    return np.round(blended * 255.0).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode a uint8 gray or RGB array as PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
