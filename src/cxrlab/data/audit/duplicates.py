"""Near-duplicate search on search thumbnails: candidates by k-nearest neighbours, then verification.

1. Descriptors: whitened band-passed thumbnails (:mod:`cxrlab.data.audit.descriptors`).
2. Candidates: each film's ``neighbours`` nearest films (scikit-learn ``NearestNeighbors``,
   brute force over compact vectors - no Python all-pairs loop) whose similarity is at least
   ``candidate_min``.
3. Verification: for candidates below ``near_threshold``, film A is aligned to film B (a small
   search over x/y scale and shift, scored by band-pass cross-correlation), and the similarity of
   the *aligned* descriptors decides. This recovers slight crops without letting two different
   films that merely share a pose through: after alignment, copies agree in every detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrlab.data.audit.descriptors import Whitener, bandpass, zoom_matrix

_BATCH = 2048


@dataclass(frozen=True)
class DuplicateConfig:
    """Settings of the near-duplicate search (the defaults were tuned on real chest films)."""

    thumb_size: int = 32  # side of the search thumbnail
    read_size: int = 128  # JPEG draft decoding target (pixels) when reading films
    neighbours: int = 10  # candidates per film
    candidate_min: float = 0.5  # descriptor similarity for a pair to be verified
    near_threshold: float = 0.82  # aligned similarity from which a pair is a near duplicate
    scales: tuple[float, ...] = (0.95, 1.0, 1.05)  # x/y zooms tried when aligning (crops of ~5%)
    max_shift: int = 2  # thumbnail pixels of shift tried when aligning
    components: int = 128  # PCA components of the whitened descriptor
    seed: int = 0


def descriptors(thumbs: np.ndarray, cfg: DuplicateConfig) -> tuple[np.ndarray, Whitener]:
    """Unit descriptors (N, D) for thumbnails and the whitener fitted on them."""
    bp = bandpass(thumbs)
    whitener = Whitener(components=cfg.components, seed=cfg.seed).fit(bp)
    return whitener.transform(bp), whitener


def candidate_pairs(z: np.ndarray, cfg: DuplicateConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, similarity) with a < b, each unordered pair once."""
    from sklearn import config_context
    from sklearn.neighbors import NearestNeighbors

    n = len(z)
    if n < 2:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    k = min(cfg.neighbours + 1, n)
    with config_context(working_memory=128):  # MiB per distance chunk: bounds peak memory at 20k+ films
        dist, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(z).kneighbors(z)
    sim = 1.0 - dist.astype(np.float32) ** 2 / 2.0
    a = np.repeat(np.arange(n), k)
    b, s = idx.ravel(), sim.ravel()
    keep = (a != b) & (s >= cfg.candidate_min)
    lo, hi, s = np.minimum(a, b)[keep], np.maximum(a, b)[keep], s[keep]
    _, first = np.unique(lo * n + hi, return_index=True)
    return lo[first], hi[first], s[first]


def verify_pairs(
    thumbs: np.ndarray, z: np.ndarray, whitener: Whitener, a: np.ndarray, b: np.ndarray, cfg: DuplicateConfig
) -> np.ndarray:
    """Similarity of ``z[b]`` with the descriptor of thumbnail ``a`` aligned onto thumbnail ``b``."""
    out = np.zeros(len(a), np.float32)
    size = thumbs.shape[-1]
    zooms = [zoom_matrix(size, s) for s in cfg.scales]
    for start in range(0, len(a), _BATCH):
        ia, ib = a[start:start + _BATCH], b[start:start + _BATCH]
        (iy, ix), (dy, dx) = _best_alignment(bandpass(thumbs[ia]), bandpass(thumbs[ib]), zooms, cfg.max_shift)
        scales = np.asarray(cfg.scales)
        my = np.stack([zoom_matrix(size, scales[i], d) for i, d in zip(iy, dy)])
        mx = np.stack([zoom_matrix(size, scales[i], d) for i, d in zip(ix, dx)])
        warped = my @ thumbs[ia].astype(np.float32) @ mx.transpose(0, 2, 1)
        out[start:start + len(ia)] = np.sum(whitener.transform(bandpass(warped)) * z[ib], axis=1)
    return out


def _best_alignment(bp_a: np.ndarray, bp_b: np.ndarray, zooms: list[np.ndarray], shift: int):
    """Per pair: the best (y, x) zoom indices and the sub-pixel shift (dy, dx) of A onto B, from the
    peak of the band-pass cross-correlation (integer search, then a parabola through the peak)."""
    p, size = len(bp_a), bp_a.shape[-1]
    conj_b = np.conj(np.fft.rfft2(bp_b))
    width = 2 * shift + 1
    best = np.full(p, -np.inf, np.float32)
    iy, ix = np.zeros(p, int), np.zeros(p, int)
    window = np.zeros((p, width, width), np.float32)
    for kx, zx in enumerate(zooms):
        ax = bp_a @ zx.T
        for ky, zy in enumerate(zooms):
            ah = zy @ ax
            ah /= np.linalg.norm(ah.reshape(p, -1), axis=1)[:, None, None] + 1e-8
            cc = np.fft.irfft2(np.fft.rfft2(ah) * conj_b, s=(size, size))
            cc = np.roll(cc, (shift, shift), axis=(1, 2))[:, :width, :width]
            val = cc.reshape(p, -1).max(axis=1)
            better = val > best
            best[better], iy[better], ix[better], window[better] = val[better], ky, kx, cc[better]
    arg = window.reshape(p, -1).argmax(axis=1)
    py, px = arg // width, arg % width
    rows = np.arange(p)
    dy = py - shift + _parabola(window, rows, py, px, axis=0)
    dx = px - shift + _parabola(window, rows, py, px, axis=1)
    return (iy, ix), (dy, dx)


def _parabola(win: np.ndarray, rows: np.ndarray, py: np.ndarray, px: np.ndarray, axis: int) -> np.ndarray:
    """Sub-pixel offset of the peak along one axis (0 where the peak is on the window's edge)."""
    width = win.shape[1]
    pos = py if axis == 0 else px
    inner = (pos > 0) & (pos < width - 1)
    lo, hi = np.clip(pos - 1, 0, width - 1), np.clip(pos + 1, 0, width - 1)
    if axis == 0:
        c0, cm, cp = win[rows, py, px], win[rows, lo, px], win[rows, hi, px]
    else:
        c0, cm, cp = win[rows, py, px], win[rows, py, lo], win[rows, py, hi]
    denom = cm - 2 * c0 + cp
    off = np.where(inner & (denom < 0), 0.5 * (cm - cp) / np.where(denom < 0, denom, -1.0), 0.0)
    return np.clip(off, -0.5, 0.5)


def near_duplicate_pairs(thumbs: np.ndarray, cfg: DuplicateConfig) -> pd.DataFrame:
    """Pairs (``a``, ``b`` row indices into ``thumbs``, ``score``) of near-duplicate films."""
    if len(thumbs) < 2:
        return pd.DataFrame({"a": pd.Series(dtype=int), "b": pd.Series(dtype=int), "score": pd.Series(dtype=float)})
    z, whitener = descriptors(thumbs, cfg)
    a, b, sim = candidate_pairs(z, cfg)
    score = sim.copy()
    check = sim < cfg.near_threshold
    if check.any():
        score[check] = np.maximum(sim[check], verify_pairs(thumbs, z, whitener, a[check], b[check], cfg))
    keep = score >= cfg.near_threshold
    return pd.DataFrame({"a": a[keep], "b": b[keep], "score": np.round(score[keep].astype(float), 4)})
