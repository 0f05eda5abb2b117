"""SYNTHETIC films with their exact lung masks, written as image folders, mask zips/folders and
manifests for the segment tests (never real data)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxrlab.data.manifest import write_manifest
from cxrlab.data.synthetic.anatomy import anatomy, make_lungs, smooth_noise


def film_and_mask(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic frontal film (uint8) and its aerated-lung mask (bool)."""
    rng = np.random.default_rng(seed)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(grid, grid, indexing="ij")
    density, lung = anatomy(x, y, make_lungs(rng), rng)
    tilt = rng.uniform(-0.5, 0.5, 2)  # exposure gradient: makes each film's perceptual hash distinct
    shade = tilt[0] * (x - 0.5) + tilt[1] * (y - 0.5) + 0.4 * (smooth_noise(size, rng, 3) - 0.5)
    film = np.clip(density * rng.uniform(0.85, 1.1) + shade + rng.normal(0, 0.01, density.shape), 0, 1)
    return np.round(film * 255).astype(np.uint8), lung > 0.5


def write_pairs(root: Path, n: int, size: int = 64, mask_kind: str = "zip") -> tuple[Path, Path]:
    """``n`` films under ``root/data/Normal/`` and their masks as a zip (upper-case .PNG names, in
    a sub-folder, like the torchxrayvision zip) or a folder. Returns (data folder, mask path)."""
    data = root / "data" / "Normal"
    data.mkdir(parents=True, exist_ok=True)
    masks = {}
    for i in range(n):
        film, mask = film_and_mask(i, size)
        Image.fromarray(film).save(data / f"film-{i:03d}.png")
        masks[f"film-{i:03d}"] = mask
    if mask_kind == "zip":
        target = root / "masks.zip"
        with zipfile.ZipFile(target, "w") as zf:
            for stem, mask in masks.items():
                zf.writestr(f"lungs/{stem}.PNG", _png_bytes(mask))
            zf.writestr("lungs/readme.txt", "not a mask")
    else:
        target = root / "masks"
        target.mkdir()
        for stem, mask in masks.items():
            (target / f"{stem}.png").write_bytes(_png_bytes(mask))
    return root / "data", target


def write_manifest_for(data: Path, target: Path, patients_per: int = 1) -> Path:
    """A manifest of every film under ``data`` (patient id shared by ``patients_per`` films)."""
    files = sorted(data.rglob("*.png"))
    df = pd.DataFrame({
        "path": [str(f) for f in files], "label": "Normal", "source": "synthetic",
        "patient_id": [f"p{i // patients_per}" for i in range(len(files))],
    })
    return write_manifest(df, target)


def _png_bytes(mask: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return buf.getvalue()
