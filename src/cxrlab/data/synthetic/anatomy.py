"""Procedural drawing of SYNTHETIC frontal chest films (used by :mod:`cxrlab.data.synthetic.generate`).

Everything here is a density map in [0, ~1] on normalised coordinates ``(x, y)`` in [0, 1]
(x = image column, 0 = image left = patient right; y = row, 0 = top). Anatomy: soft-tissue
torso and shoulders, two lung fields with domed hemidiaphragms and costophrenic angles,
mediastinum and heart shadow (bulging to the patient's left), spine, posterior and anterior ribs,
clavicles, hila, vascular markings and a gastric bubble. Findings: bilateral peripheral lower-zone
ground-glass opacity (COVID), lobar consolidation with a sharp fissure edge and air bronchograms
(bacterial / unspecified pneumonia), bilateral perihilar reticular interstitial pattern (viral),
multifocal patchy opacity (Lung_Opacity), small nodules (Other), nothing (Normal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Lung:
    side: int  # -1 image left (patient right), +1 image right (patient left)
    cx: float
    top: float
    bottom: float  # height of the diaphragm dome at the lung's centre
    half_width: float


def smooth_noise(size: int, rng: np.random.Generator, cells: int = 8) -> np.ndarray:
    """Smooth random field in [0, 1], ``cells`` control points across the image."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    img = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def _soft(signed: np.ndarray, width: float) -> np.ndarray:
    """1 where ``signed`` > 0, 0 where < 0, with a smooth edge ``width`` wide."""
    return 1.0 / (1.0 + np.exp(-np.clip(signed / width, -30, 30)))


def _band(dist: np.ndarray, half: float) -> np.ndarray:
    return np.exp(-((dist / half) ** 2))


def make_lungs(rng: np.random.Generator) -> tuple[Lung, Lung]:
    right = Lung(-1, 0.5 - 0.19 + rng.normal(0, 0.008), 0.16 + rng.normal(0, 0.01),
                 0.70 + rng.normal(0, 0.015), 0.16 + rng.normal(0, 0.006))
    left = Lung(1, 0.5 + 0.19 + rng.normal(0, 0.008), 0.17 + rng.normal(0, 0.01),
                right.bottom + 0.025 + rng.normal(0, 0.01), 0.15 + rng.normal(0, 0.006))
    return right, left


def diaphragm(x: np.ndarray, lung: Lung) -> np.ndarray:
    """Height of the hemidiaphragm dome under ``lung`` (lower at the costophrenic angle)."""
    return lung.bottom + 0.09 * ((x - lung.cx) / lung.half_width) ** 2


def lung_mask(x: np.ndarray, y: np.ndarray, lung: Lung) -> np.ndarray:
    t = np.clip((y - lung.top) / (lung.bottom + 0.08 - lung.top), 0, 1)
    width = lung.half_width * (0.35 + 0.65 * np.sqrt(t))  # narrow apex, wide base
    inside_x = width - np.abs(x - lung.cx - lung.side * 0.02 * (1 - t))
    return _soft(inside_x, 0.012) * _soft(y - lung.top, 0.015) * _soft(diaphragm(x, lung) - y, 0.008)


def heart(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cx, cy = 0.545 + rng.normal(0, 0.008), 0.64 + rng.normal(0, 0.01)
    rx, ry = 0.155 + rng.normal(0, 0.01), 0.13
    u, v = (x - cx) / rx, (y - cy) / ry
    tilt = u - 0.35 * v  # the cardiac silhouette leans down and to the patient's left
    return _soft(1 - tilt**2 - v**2, 0.25) * _soft(y - 0.42, 0.03)


def anatomy(x: np.ndarray, y: np.ndarray, lungs: tuple[Lung, Lung], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The normal film's density and the (soft) mask of aerated lung."""
    size = x.shape[0]
    d = np.abs(x - 0.5)
    shoulders = _soft(0.47 - d - 0.25 * np.clip(0.16 - y, 0, None), 0.02)
    torso = shoulders * _soft(0.44 - d + 0.1 * np.clip(y - 0.75, 0, None), 0.025) + 0.5 * shoulders * (d > 0.3)
    neck = _soft(0.09 - d, 0.01) * (y < 0.15)
    body = np.clip(torso + neck, 0, 1) * 0.55
    lung = np.maximum(lung_mask(x, y, lungs[0]), lung_mask(x, y, lungs[1]))
    cardiac = heart(x, y, rng)
    lung = lung * (1 - 0.85 * cardiac)
    mediastinum = _soft(0.055 + 0.03 * np.clip(y - 0.3, 0, None) - d, 0.012) * _soft(y - 0.08, 0.02)
    spine = _band(d, 0.03) * (0.8 + 0.2 * np.cos(y * 2 * np.pi * 14)) * _soft(y - 0.05, 0.02)
    density = body - 0.40 * lung + 0.12 * mediastinum + 0.16 * cardiac + 0.10 * spine
    density += 0.07 * ribs(x, y, rng) * torso * (0.5 + 0.5 * lung) + 0.14 * clavicles(x, y, rng)
    hila = sum(_band(np.hypot((x - (0.5 + s * 0.09)) / 0.6, y - 0.45), 0.035) for s in (-1, 1))
    branches = np.exp(-((smooth_noise(size, rng, max(10, size // 8)) - 0.5) ** 2) / 0.01)
    vessels = branches * np.exp(-(((d - 0.09) / 0.16) ** 2)) * lung
    density += 0.08 * hila + 0.05 * vessels + 0.04 * lung * np.clip(y - 0.3, 0, 1)
    bubble = _band(np.hypot((x - (lungs[1].cx + 0.02)) / 1.6, y - (lungs[1].bottom + 0.08)), 0.03)
    density -= 0.08 * bubble * (1 - lung)
    return density.astype(np.float32), lung.astype(np.float32)


def ribs(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = np.abs(x - 0.5)
    out = np.zeros_like(x)
    start, step = 0.13 + rng.normal(0, 0.01), 0.058 + rng.normal(0, 0.002)
    lateral = _soft(0.40 - d, 0.02) * _soft(d - 0.045, 0.01)
    for k in range(10):
        posterior = start + k * step - 0.10 * d + 0.95 * d**2
        out += _band(y - posterior, 0.011) * lateral
        anterior = start + k * step + 0.10 + 0.45 * (0.38 - d) ** 2 - 0.06
        out += 0.5 * _band(y - anterior, 0.010) * _soft(0.38 - d, 0.02) * _soft(d - 0.12, 0.03)
    return np.clip(out, 0, 1.4)


def clavicles(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = np.abs(x - 0.5)
    level = 0.15 + rng.normal(0, 0.008)
    curve = level - 0.22 * (d - 0.05) + 0.35 * (d - 0.05) ** 2
    return _band(y - curve, 0.013) * _soft(d - 0.05, 0.01) * _soft(0.33 - d, 0.02)


# --- findings --------------------------------------------------------------------------------

def covid_ggo(x, y, lungs, size, rng) -> np.ndarray:
    """Bilateral, peripheral, lower-zone predominant hazy (ground-glass) opacity."""
    out = np.zeros_like(x)
    for lung in lungs:
        periph = np.clip((np.abs(x - 0.5) - 0.10) / 0.22, 0, 1)
        lower = np.clip((y - lung.top - 0.15) / 0.35, 0, 1)
        texture = 0.45 + 0.55 * smooth_noise(size, rng, 7)
        out += rng.uniform(0.7, 1.0) * periph * lower * texture
    return 0.30 * out


def lobar_consolidation(x, y, lungs, size, rng) -> np.ndarray:
    """Dense homogeneous opacity filling one lobe, sharp along the fissure, with air bronchograms."""
    lung = lungs[rng.integers(0, 2)]
    if lung.side == 1 or rng.random() < 0.6:  # lower lobe below an oblique fissure
        fissure = lung.top + 0.22 + 0.35 * np.abs(x - lung.cx + lung.side * lung.half_width)
        lobe = _soft(y - fissure, 0.006)
    else:  # right upper lobe above the horizontal fissure
        lobe = _soft(lung.top + 0.24 + rng.normal(0, 0.02) - y, 0.006)
    patch = lobe * _soft(lung.half_width * 1.1 - np.abs(x - lung.cx), 0.02)
    bronchi = np.zeros_like(x)
    for _ in range(3):
        angle = rng.uniform(0.3, 1.2) if lobe[int(0.8 * x.shape[0]), x.shape[0] // 2] > 0.5 else rng.uniform(-1.0, -0.3)
        dx, dy = lung.side * np.cos(angle), np.sin(angle)
        rel_x, rel_y = x - (0.5 + lung.side * 0.08), y - 0.45
        along, across = rel_x * dx + rel_y * dy, rel_x * dy - rel_y * dx
        bronchi += _band(across, 0.003 + 0.004 * np.clip(0.2 - along, 0, 0.2)) * (along > 0.04) * (along < 0.2)
    return 0.42 * patch * (0.85 + 0.15 * smooth_noise(size, rng, 10)) * (1 - 0.25 * np.clip(bronchi, 0, 1))


def interstitial(x, y, lungs, size, rng) -> np.ndarray:
    """Bilateral perihilar reticular (net-like) lines of an interstitial pneumonia."""
    field = smooth_noise(size, rng, max(8, size // 5))
    net = np.exp(-((field - 0.5) ** 2) / 0.004)
    perihilar = np.exp(-((np.abs(x - 0.5) - 0.12) / 0.16) ** 2) * np.exp(-(((y - 0.48) / 0.22) ** 2))
    return 0.16 * net * perihilar + 0.05 * perihilar


def patchy(x, y, lungs, size, rng) -> np.ndarray:
    """Several ill-defined patches of opacity, anywhere in either lung."""
    out = np.zeros_like(x)
    for _ in range(rng.integers(2, 6)):
        lung = lungs[rng.integers(0, 2)]
        cx = lung.cx + rng.uniform(-0.7, 0.7) * lung.half_width
        cy = rng.uniform(lung.top + 0.08, lung.bottom - 0.02)
        r = rng.uniform(0.04, 0.08)
        out += _band(np.hypot(x - cx, y - cy), r)
    return 0.32 * np.clip(out, 0, 1) * (0.6 + 0.4 * smooth_noise(size, rng, 12))


def nodules(x, y, lungs, size, rng) -> np.ndarray:
    out = np.zeros_like(x)
    for _ in range(rng.integers(3, 8)):
        lung = lungs[rng.integers(0, 2)]
        cx = lung.cx + rng.uniform(-0.6, 0.6) * lung.half_width
        cy = rng.uniform(lung.top + 0.06, lung.bottom - 0.03)
        out += _soft(rng.uniform(0.008, 0.018) - np.hypot(x - cx, y - cy), 0.003)
    return 0.3 * np.clip(out, 0, 1)


FINDINGS = {
    "COVID": covid_ggo,
    "Pneumonia": lobar_consolidation,
    "Pneumonia-Bacterial": lobar_consolidation,
    "Pneumonia-Viral": interstitial,
    "Lung_Opacity": patchy,
    "Other": nodules,
}
