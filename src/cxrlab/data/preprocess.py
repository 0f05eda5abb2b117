"""Gray 8-bit film -> square model-size uint8 array. Pure numpy + Pillow (no torch), so the
cache, training, evaluation, ONNX prediction and the web service all share one implementation.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from cxrlab.config import PreprocessConfig


def preprocess(gray: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Resize (per ``cfg.resize``) and equalise (per ``cfg.equalize``) a 2-D uint8 array."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"preprocess expects a 2-D uint8 array, got {gray.dtype} {gray.shape}")
    img = Image.fromarray(gray)
    size = cfg.size
    if cfg.resize == "stretch":
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    elif cfg.resize == "letterbox":
        img = ImageOps.pad(img, (size, size), method=Image.Resampling.BILINEAR, color=0)
    else:
        img = ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR)
    out = np.asarray(img, dtype=np.uint8)
    if cfg.equalize == "hist":
        out = np.asarray(ImageOps.equalize(Image.fromarray(out)), dtype=np.uint8)
    elif cfg.equalize == "clahe":
        out = clahe(out)
    return out


def clahe(gray: np.ndarray, clip_limit: float = 0.01, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation: clipped per-tile histograms, with the
    tile mappings blended bilinearly (the classic CLAHE algorithm, vectorised in numpy)."""
    h, w = gray.shape
    th, tw = max(h // tiles, 1), max(w // tiles, 1)
    ny, nx = (h + th - 1) // th, (w + tw - 1) // tw
    luts = np.empty((ny, nx, 256), dtype=np.float32)
    for i in range(ny):
        for j in range(nx):
            tile = gray[i * th:(i + 1) * th, j * tw:(j + 1) * tw]
            hist = np.bincount(tile.ravel(), minlength=256).astype(np.float64)
            limit = max(clip_limit * tile.size, 1.0)
            excess = np.maximum(hist - limit, 0).sum()
            hist = np.minimum(hist, limit) + excess / 256.0
            cdf = np.cumsum(hist)
            luts[i, j] = 255.0 * (cdf - cdf[0]) / max(cdf[-1] - cdf[0], 1e-9)
    yc = (np.arange(h) + 0.5) / th - 0.5
    xc = (np.arange(w) + 0.5) / tw - 0.5
    y0 = np.clip(np.floor(yc).astype(int), 0, ny - 1)
    x0 = np.clip(np.floor(xc).astype(int), 0, nx - 1)
    y1, x1 = np.clip(y0 + 1, 0, ny - 1), np.clip(x0 + 1, 0, nx - 1)
    fy = np.clip(yc - y0, 0, 1)[:, None]
    fx = np.clip(xc - x0, 0, 1)[None, :]
    g = gray
    top = luts[y0[:, None], x0[None, :], g] * (1 - fx) + luts[y0[:, None], x1[None, :], g] * fx
    bot = luts[y1[:, None], x0[None, :], g] * (1 - fx) + luts[y1[:, None], x1[None, :], g] * fx
    return np.clip(np.round(top * (1 - fy) + bot * fy), 0, 255).astype(np.uint8)


def to_model_input(images: np.ndarray, mean, std, in_chans: int = 1) -> np.ndarray:
    """uint8 ``(N, H, W)`` (or one ``(H, W)``) -> float32 ``(N, in_chans, H, W)`` normalised input.

    ``mean``/``std`` are sequences of length 1 or ``in_chans``. Pure numpy: the ONNX predictor and
    the service use exactly this, the torch data pipeline mirrors it (and is tested against it).
    """
    if images.ndim == 2:
        images = images[None]
    x = images.astype(np.float32)[:, None] / 255.0
    m = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    x = np.repeat(x, in_chans, axis=1) if in_chans > 1 else x
    return ((x - m) / s).astype(np.float32)
