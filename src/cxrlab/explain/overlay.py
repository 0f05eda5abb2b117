"""Heatmap colouring and blending in numpy (no torch), shared by ``cxrlab explain``, the
torch-free predictor and the web service so every heatmap looks the same.

Same recipe as pytorch-grad-cam's ``show_cam_on_image`` (jet colour map, 50/50 blend,
rescaled to the brightest pixel) without pulling torch/OpenCV into the serving path.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def normalize_cam(cam: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """ReLU, optional bilinear resize to ``(height, width)``, then scale to [0, 1] (all-zero stays 0)."""
    cam = np.maximum(np.asarray(cam, dtype=np.float32), 0.0)
    if size is not None and cam.shape != tuple(size):
        cam = np.asarray(Image.fromarray(cam).resize((size[1], size[0]), Image.Resampling.BILINEAR))
        cam = np.maximum(cam, 0.0)
    cam = cam - cam.min()
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam).astype(np.float32)


def colorize(cam: np.ndarray) -> np.ndarray:
    """``(H, W)`` in [0, 1] -> RGB float in [0, 1] with the jet colour map."""
    from matplotlib import colormaps

    return colormaps["jet"](np.clip(cam, 0.0, 1.0))[..., :3].astype(np.float32)


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
