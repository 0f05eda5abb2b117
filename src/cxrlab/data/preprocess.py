"""Gray 8-bit film -> square model-size uint8 array. Pure numpy + Pillow (no torch), so the
cache, training, evaluation, ONNX prediction and the web service all share one implementation.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from cxrlab.config import PreprocessConfig
from cxrlab.errors import ConfigError


BoxFraction = tuple[float, float, float, float]


#: ``equalize=window`` clips this percentage of pixels at each end of the histogram.
WINDOW_CUTOFF_PERCENT = 1


def preprocess(gray: np.ndarray, cfg: PreprocessConfig, box: BoxFraction | None = None) -> np.ndarray:
    """Crop to ``box`` (fractions of width/height, grown by ``cfg.crop_margin``) when one is given,
    then resize (per ``cfg.resize``) and equalise (per ``cfg.equalize``) a 2-D uint8 array."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"preprocess expects a 2-D uint8 array, got {gray.dtype} {gray.shape}")
    if box is not None:
        gray = crop_to_box(gray, box, cfg.crop_margin)
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
    elif cfg.equalize == "window":
        out = np.asarray(ImageOps.autocontrast(Image.fromarray(out), cutoff=WINDOW_CUTOFF_PERCENT), dtype=np.uint8)
    return out


def view_map_to_film(view_map: np.ndarray, film_shape: tuple[int, int], cfg: PreprocessConfig) -> np.ndarray:
    """A per-pixel map on the model's ``(S, S)`` view (a heatmap) laid back onto a film of
    ``film_shape`` (H, W), inverting the geometry of :func:`preprocess` (``box`` cropping aside):
    ``stretch`` resizes it back, ``letterbox`` drops the padding first, ``center-crop`` puts it over
    the cropped middle (0 elsewhere). Float32 ``(H, W)``; any film size with the same aspect works."""
    h, w = int(film_shape[0]), int(film_shape[1])
    size = view_map.shape[0]
    src = Image.fromarray(np.asarray(view_map, dtype=np.float32))
    if cfg.resize == "stretch":
        return np.asarray(src.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    if cfg.resize == "letterbox":
        fit_w, fit_h = (size, max(round(h / w * size), 1)) if w >= h else (max(round(w / h * size), 1), size)
        x, y = round((size - fit_w) / 2), round((size - fit_h) / 2)
        inner = src.crop((x, y, x + fit_w, y + fit_h))
        return np.asarray(inner.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    side = min(h, w)  # center-crop: ImageOps.fit's central square
    left, top = round((w - side) / 2), round((h - side) / 2)
    out = np.zeros((h, w), dtype=np.float32)
    out[top:top + side, left:left + side] = np.asarray(src.resize((side, side), Image.Resampling.BILINEAR))
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


def expand_box(box_frac: BoxFraction, shape: tuple[int, int], margin: float = 0.1) -> tuple[int, int, int, int]:
    """A fractional box grown by ``margin`` x its width/height on every side, in pixels of
    ``shape`` (H, W), clipped to the image."""
    h, w = shape
    x0, y0, x1, y1 = box_frac
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    left, top = int(np.floor((x0 - mx) * w)), int(np.floor((y0 - my) * h))
    right, bottom = int(np.ceil((x1 + mx) * w)), int(np.ceil((y1 + my) * h))
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(max(right, left + 1), w), min(max(bottom, top + 1), h)
    return left, top, right, bottom


def crop_to_box(gray: np.ndarray, box_frac: BoxFraction, margin: float = 0.1) -> np.ndarray:
    """Crop a film to a fractional box (e.g. the ``lung_*`` manifest columns) plus margin."""
    x0, y0, x1, y1 = expand_box(box_frac, gray.shape[:2], margin)
    return np.ascontiguousarray(gray[y0:y1, x0:x1])


def row_box(row) -> BoxFraction | None:
    """The lung box of a manifest row (``lung_*`` columns from ``cxrlab segment predict``), or
    ``None`` when the segmenter found no plausible lungs (``lung_ok`` false): such films stay whole."""
    if str(row.get("lung_ok", False)).strip().lower() not in ("true", "1"):
        return None
    return tuple(float(row[k]) for k in ("lung_x0", "lung_y0", "lung_x1", "lung_y1"))


LUNG_COLUMNS = ("lung_x0", "lung_y0", "lung_x1", "lung_y1", "lung_ok")


def row_boxes(df, cfg: PreprocessConfig) -> list[BoxFraction | None]:
    """Per manifest row (a pandas DataFrame) the box to crop to: ``None`` everywhere unless
    ``cfg.crop == "lungs"``, which needs the ``lung_*`` columns of ``cxrlab segment predict``."""
    if cfg.crop != "lungs":
        return [None] * len(df)
    missing = [c for c in LUNG_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"preprocess.crop=lungs needs the lung box columns ({', '.join(missing)} missing): "
                          "run 'cxrlab segment predict SEG_RUN --manifest MANIFEST' and use the manifest it writes")
    return [row_box(row) for row in df[list(LUNG_COLUMNS)].to_dict("records")]


def require_whole_film(cfg: PreprocessConfig, where: str) -> None:
    """Raise a clear error where a film arrives without a manifest row (a file or an upload) but
    the model was trained on lung crops, which need the row's lung box."""
    if cfg.crop != "none":
        raise ConfigError(f"{where}: this model was trained on lung-cropped films (preprocess.crop={cfg.crop}); "
                          "single files cannot be cropped the same way yet - evaluate it on a manifest with "
                          "lung boxes ('cxrlab segment predict') instead")
