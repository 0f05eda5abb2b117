"""Image descriptors for the near-duplicate search (numpy + Pillow only).

Each film becomes a small *rank-normalised* square thumbnail: uniform padding bars are trimmed,
the rest is squeezed to ``size x size`` (so aspect changes and resizes vanish), and grey levels are
replaced by their rank (so any monotone re-windowing - brightness, contrast, gamma - vanishes).
From thumbnails we compute band-passed, tapered images (edges and texture, no global shading) and,
via a PCA fitted on the data set, *whitened* unit descriptors: the directions in which all chest
films look alike are scaled down, so two different patients' films are far apart while two copies
of one film stay close.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def trim_borders(gray: np.ndarray, tol: float = 0.03, max_frac: float = 0.3) -> np.ndarray:
    """Cut uniform bars (letterbox/padding, any grey level) off each edge, at most ``max_frac``
    of the size per side. Works on grey-level ranks so that re-windowing does not change the cut."""
    ranks = rank_normalise(gray).astype(np.float32) / 255.0
    h, w = ranks.shape
    rows, cols = ranks.std(axis=1), ranks.std(axis=0)
    top, bottom = _leading(rows, tol, int(h * max_frac)), _leading(rows[::-1], tol, int(h * max_frac))
    left, right = _leading(cols, tol, int(w * max_frac)), _leading(cols[::-1], tol, int(w * max_frac))
    return gray[top:h - bottom, left:w - right]


def _leading(values: np.ndarray, tol: float, limit: int) -> int:
    above = np.flatnonzero(values[:limit] >= tol)
    return int(above[0]) if above.size else limit


def rank_normalise(gray: np.ndarray) -> np.ndarray:
    """uint8 image -> uint8 mid-ranks of its grey levels (histogram equalisation without clipping)."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    cdf = np.cumsum(hist) - hist / 2.0
    lut = np.round(cdf / max(gray.size, 1) * 255.0).astype(np.uint8)
    return lut[gray]


def dup_thumbnail(gray: np.ndarray, size: int = 32) -> np.ndarray:
    """The search thumbnail of a uint8 image: trimmed, squeezed to ``size x size``, rank-normalised."""
    trimmed = trim_borders(gray)
    if min(trimmed.shape) < 4:  # blank or degenerate image: keep it whole
        trimmed = gray
    small = np.asarray(Image.fromarray(trimmed).resize((size, size), Image.Resampling.BOX), dtype=np.uint8)
    return rank_normalise(small)


def taper(size: int, frac: float = 0.12) -> np.ndarray:
    """2-D raised-cosine window: 1 inside, falling to ~0 over ``frac`` of each edge."""
    w = np.ones(size, np.float32)
    k = max(1, int(round(size * frac)))
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, k + 2, dtype=np.float32)))[1:-1]
    w[:k], w[-k:] = ramp, ramp[::-1]
    return np.outer(w, w)


def _dog_response(size: int, fine: float, coarse: float) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f2 = fx**2 + fy**2
    return (np.exp(-2 * np.pi**2 * fine**2 * f2) - np.exp(-2 * np.pi**2 * coarse**2 * f2)).astype(np.float32)


def bandpass(thumbs: np.ndarray, fine: float = 0.8, coarse: float = 3.0, chunk: int = 4096) -> np.ndarray:
    """(N, S, S) thumbnails -> tapered difference-of-Gaussians images with zero mean, unit norm."""
    n, size = thumbs.shape[0], thumbs.shape[-1]
    window, response = taper(size) / 255.0, _dog_response(size, fine, coarse)
    out = np.empty((n, size, size), np.float32)
    for start in range(0, n, chunk):  # chunks bound the FFT temporaries
        x = thumbs[start:start + chunk].astype(np.float32) * window
        out[start:start + chunk] = np.fft.irfft2(np.fft.rfft2(x) * response, s=(size, size))
    out -= out.mean(axis=(1, 2), keepdims=True)
    out /= np.linalg.norm(out.reshape(n, -1), axis=1)[:, None, None] + 1e-8
    return out


class Whitener:
    """PCA whitening of band-passed thumbnails, fitted on (a seeded sample of) the data set.

    Eigenvalues are shrunk (``+ shrink * mean eigenvalue``) so that tiny data sets do not blow up
    noise directions. :meth:`transform` returns unit vectors: their dot product is the similarity.
    """

    def __init__(self, components: int = 128, max_fit: int = 5000, shrink: float = 0.05, seed: int = 0) -> None:
        self.components, self.max_fit, self.shrink, self.seed = components, max_fit, shrink, seed
        self.mean_: np.ndarray | None = None
        self.basis_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, bp: np.ndarray) -> Whitener:
        flat = bp.reshape(len(bp), -1)
        if len(flat) > self.max_fit:
            flat = flat[np.sort(np.random.default_rng(self.seed).choice(len(flat), self.max_fit, replace=False))]
        flat = flat.astype(np.float64)
        self.mean_ = flat.mean(axis=0)
        k = max(1, min(self.components, len(flat) - 1, flat.shape[1]))
        ev, basis = _principal_axes(flat - self.mean_, k, self.seed)
        shrink = self.shrink + k / len(flat)  # few films -> noisy small eigenvalues -> whiten less
        self.basis_ = basis.astype(np.float32)
        self.scale_ = (1.0 / np.sqrt(ev + shrink * ev.mean() + 1e-12)).astype(np.float32)
        return self

    def transform(self, bp: np.ndarray) -> np.ndarray:
        if self.basis_ is None:
            raise RuntimeError("Whitener.transform before fit")
        flat = bp.reshape(len(bp), -1)
        z = (flat @ self.basis_.T - self.mean_.astype(np.float32) @ self.basis_.T) * self.scale_
        return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-8)


def _principal_axes(centred: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` variances and axes (k, D): exact SVD for small inputs, randomised SVD otherwise."""
    n = max(len(centred) - 1, 1)
    if min(centred.shape) <= 256:
        _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    else:
        from sklearn.utils.extmath import randomized_svd

        _, sing, vt = randomized_svd(centred, n_components=k, n_iter=4, random_state=seed)
    return sing[:k] ** 2 / n, vt[:k]


def zoom_matrix(size: int, scale: float, shift: float = 0.0) -> np.ndarray:
    """R (size x size) with ``(R @ x)[k] = x[(k + shift - c) / scale + c]``: the columns of ``x`` zoomed
    by ``scale`` about the centre ``c`` and moved by ``shift`` pixels (linear interpolation, 0 outside)."""
    centre = (size - 1) / 2.0
    src = (np.arange(size) + shift - centre) / scale + centre
    i0 = np.floor(src).astype(int)
    frac = (src - i0).astype(np.float32)
    out = np.zeros((size, size), np.float32)
    for j, weight in ((i0, 1.0 - frac), (i0 + 1, frac)):
        ok = (j >= 0) & (j < size)
        out[np.flatnonzero(ok), j[ok]] += weight[ok]
    return out
