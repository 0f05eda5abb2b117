"""SYNTHETIC films: anatomy where it should be, class patterns that differ, labelled everywhere."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cxrlab.data.synthetic.generate import make_synthetic_dataset, synthetic_film, synthetic_grid
from cxrlab.io.images import read_image

SIZE = 96


def _mean_films(label: str, n: int = 12) -> np.ndarray:
    return np.mean([synthetic_film(label, np.random.default_rng(100 + i), SIZE) for i in range(n)], axis=0)


def _zone(img: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    h, w = img.shape
    return img[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)]


def test_film_is_deterministic_float_in_unit_range():
    a = synthetic_film("COVID", np.random.default_rng(3), 64)
    b = synthetic_film("COVID", np.random.default_rng(3), 64)
    assert a.shape == (64, 64) and a.dtype == np.float32
    assert np.array_equal(a, b) and 0 <= a.min() and a.max() <= 1


def test_anatomy_lungs_dark_mediastinum_and_spine_bright_abdomen_soft_tissue():
    normal = _mean_films("Normal")
    lung = _zone(normal, 0.22, 0.38, 0.30, 0.50).mean()
    spine = _zone(normal, 0.47, 0.53, 0.30, 0.50).mean()
    below_diaphragm = _zone(normal, 0.22, 0.38, 0.85, 0.95).mean()
    outside_body = _zone(normal, 0.0, 0.03, 0.4, 0.6).mean()
    assert lung + 0.1 < spine and lung + 0.1 < below_diaphragm and outside_body < lung


def test_covid_adds_peripheral_lower_zone_opacity_on_both_sides():
    normal, covid = _mean_films("Normal"), _mean_films("COVID")
    for x0, x1 in ((0.15, 0.25), (0.75, 0.85)):  # both lungs, lateral third
        diff = _zone(covid, x0, x1, 0.45, 0.62).mean() - _zone(normal, x0, x1, 0.45, 0.62).mean()
        assert diff > 0.04
    central = _zone(covid, 0.36, 0.42, 0.25, 0.35).mean() - _zone(normal, 0.36, 0.42, 0.25, 0.35).mean()
    assert central < 0.04


def test_consolidation_is_unilateral_unlike_bilateral_covid():
    def asymmetry(label: str) -> float:
        out = []
        for i in range(16):
            film = synthetic_film(label, np.random.default_rng(i), SIZE)
            out.append(abs(_zone(film, 0.15, 0.35, 0.2, 0.65).mean() - _zone(film, 0.65, 0.85, 0.2, 0.65).mean()))
        return float(np.mean(out))

    lobar = asymmetry("Pneumonia-Bacterial")
    assert lobar > 2 * asymmetry("Normal") and lobar > 2 * asymmetry("COVID")


def test_viral_interstitial_pattern_adds_fine_texture_near_hila():
    def texture(label: str) -> float:
        out = []
        for i in range(8):
            film = synthetic_film(label, np.random.default_rng(i), 128)
            zone = _zone(film, 0.25, 0.42, 0.35, 0.55)
            out.append(np.abs(np.diff(zone, axis=1)).mean())
        return float(np.mean(out))

    assert texture("Pneumonia-Viral") > 1.2 * texture("Normal")


@pytest.mark.parametrize("label", ["Lung_Opacity", "Other"])
def test_other_findings_change_the_lungs(label):
    assert np.abs(_mean_films(label, 6) - _mean_films("Normal", 6)).max() > 0.03


def test_dataset_is_labelled_synthetic_everywhere(tmp_path):
    root = make_synthetic_dataset(tmp_path / "ds", labels=("COVID", "Normal"), per_class=4, size=48,
                                  images_per_patient=2, manifest=True)
    files = sorted(p for p in root.rglob("*.png"))
    assert len(files) == 8 and all(p.name.startswith("synthetic_") for p in files)
    assert "SYNTHETIC" in (root / "SYNTHETIC.txt").read_text()
    rows = list(csv.DictReader(open(root / "manifest.csv")))
    assert len(rows) == 8 and all((root / r["file"]).exists() for r in rows)
    assert len({r["patient_id"] for r in rows if r["class"] == "COVID"}) == 2
    img = read_image(files[0])
    assert img.pixels.shape == (48, 48) and img.pixels.dtype == np.uint8


def test_grid_has_one_row_per_label():
    grid = synthetic_grid(("Normal", "COVID"), per_label=3, size=32)
    assert grid.shape == (64, 96) and grid.dtype == np.uint8


def test_duplicates_are_resized_copies_and_some_conflict(tmp_path):
    root = make_synthetic_dataset(tmp_path / "ds", labels=("COVID", "Normal"), per_class=5, size=64,
                                  manifest=True, duplicates=3)
    rows = list(csv.DictReader(open(root / "manifest.csv")))
    copies = [r for r in rows if "copy" in r["file"]]
    assert len(rows) == 13 and len(copies) == 3
    assert all(Path(root / r["file"]).name.startswith("synthetic_") for r in copies)
    assert all(int(r["width"]) < 64 and read_image(root / r["file"]).pixels.shape[0] == int(r["width"]) for r in copies)


def test_saved_films_carry_a_burned_in_synthetic_marker(tmp_path):
    root = make_synthetic_dataset(tmp_path / "ds", labels=("Normal",), per_class=1, size=96, seed=5)
    saved = read_image(next(root.rglob("*.png"))).pixels
    plain = synthetic_film("Normal", np.random.default_rng(5), 96)
    corner, rest = np.s_[0:12, 0:56], np.s_[12:, :]
    assert np.abs(saved[corner].astype(int) - np.round(plain[corner] * 255)).max() > 100
    assert np.array_equal(saved[rest], np.round(plain[rest] * 255).astype(np.uint8))
