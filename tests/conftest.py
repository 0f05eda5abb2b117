"""Shared fixtures: tiny generated images (never ../shared data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrlab.data.synthetic.generate import save_dicom, synthetic_film, to_uint8_film, to_uint16_film


@pytest.fixture
def one_thread():
    """One torch thread (much faster on a busy shared CPU), restored afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_film(label: str = "Normal", seed: int = 0, size: int = 64) -> np.ndarray:
    """A small synthetic film as uint8."""
    return to_uint8_film(synthetic_film(label, np.random.default_rng(seed), size))


@pytest.fixture
def image_files(tmp_path: Path) -> dict[str, Path]:
    """One file of every supported kind, all showing (about) the same picture."""
    film = synthetic_film("COVID", np.random.default_rng(7), 64)
    g8 = to_uint8_film(film)
    out = {}
    out["png8"] = tmp_path / "gray8.png"
    Image.fromarray(g8).save(out["png8"])
    out["png16"] = tmp_path / "gray16.png"
    Image.fromarray(to_uint16_film(film, 16)).save(out["png16"])
    out["jpeg"] = tmp_path / "gray.jpg"
    Image.fromarray(g8).save(out["jpeg"], quality=95)
    out["rgb"] = tmp_path / "rgb.png"
    Image.fromarray(np.stack([g8] * 3, -1)).save(out["rgb"])
    out["rgba"] = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([g8, g8, g8, np.full_like(g8, 255)])).save(out["rgba"])
    out["dicom_m2"] = save_dicom(tmp_path / "m2.dcm", to_uint16_film(film, 12), photometric="MONOCHROME2", patient_id="P1", view="PA")
    out["dicom_m1"] = save_dicom(tmp_path / "m1.dcm", to_uint16_film(film, 12), photometric="MONOCHROME1", patient_id="P2", view="AP")
    return out
