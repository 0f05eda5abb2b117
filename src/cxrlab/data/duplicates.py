"""Near-duplicate search on search thumbnails: candidates by k-nearest neighbours, then verification.

1. Descriptors: whitened band-passed thumbnails (:mod:`cxrlab.data.dup_descriptors`).
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

from cxrlab.data.dup_descriptors import Whitener, bandpass, zoom_matrix

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
    zooms = [zoom_matrix(thumbs.shape[-1], s) for s in cfg.scales]
    for start in range(0, len(a), _BATCH):
        ia, ib = a[start:start + _BATCH], b[start:start + _BATCH]
        hyp, dy, dx = _best_alignment(bandpass(thumbs[ia]), bandpass(thumbs[ib]), zooms, cfg.max_shift)
        warped = _warp(thumbs[ia].astype(np.float32), hyp, dy, dx, zooms)
        out[start:start + len(ia)] = np.sum(whitener.transform(bandpass(warped)) * z[ib], axis=1)
    return out


def _best_alignment(bp_a: np.ndarray, bp_b: np.ndarray, zooms: list[np.ndarray], shift: int):
    """Per pair: index of the best (y-zoom, x-zoom) hypothesis and the shift (dy, dx) of A onto B."""
    p, size = len(bp_a), bp_a.shape[-1]
    conj_b = np.conj(np.fft.rfft2(bp_b))
    best = np.full(p, -np.inf, np.float32)
    hyp, dy, dx = np.zeros(p, int), np.zeros(p, int), np.zeros(p, int)
    width = 2 * shift + 1
    for ix, zx in enumerate(zooms):
        ax = bp_a @ zx.T
        for iy, zy in enumerate(zooms):
            ah = zy @ ax
            ah /= np.linalg.norm(ah.reshape(p, -1), axis=1)[:, None, None] + 1e-8
            cc = np.fft.irfft2(np.fft.rfft2(ah) * conj_b, s=(size, size))
            cc = np.roll(cc, (shift, shift), axis=(1, 2))[:, :width, :width].reshape(p, -1)
            arg = cc.argmax(axis=1)
            val = cc[np.arange(p), arg]
            better = val > best
            best[better] = val[better]
            hyp[better] = iy * len(zooms) + ix
            dy[better], dx[better] = arg[better] // width - shift, arg[better] % width - shift
    return hyp, dy, dx


def _warp(imgs: np.ndarray, hyp: np.ndarray, dy: np.ndarray, dx: np.ndarray, zooms: list[np.ndarray]) -> np.ndarray:
    out = np.empty_like(imgs)
    for h in np.unique(hyp):
        sel = np.flatnonzero(hyp == h)
        zy, zx = zooms[h // len(zooms)], zooms[h % len(zooms)]
        out[sel] = zy @ imgs[sel] @ zx.T
    size = imgs.shape[-1]
    rows = (np.arange(size)[None, :] + dy[:, None]) % size  # circular shift; the taper hides the seam
    cols = (np.arange(size)[None, :] + dx[:, None]) % size
    return out[np.arange(len(imgs))[:, None, None], rows[:, :, None], cols[:, None, :]]


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
