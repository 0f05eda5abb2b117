"""Generated films with planted copies, and manifests for them (audit and split tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxrlab.data.index.fingerprint import fingerprint
from cxrlab.data.synthetic.generate import synthetic_film, to_uint8_film
from cxrlab.io.images import read_image, to_uint8

LABELS = ("COVID", "Normal", "Pneumonia")


def film(label: str, seed: int, size: int = 160) -> np.ndarray:
    return to_uint8_film(synthetic_film(label, np.random.default_rng(seed), size))


def near_variants(g: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    """name -> (pixels, file suffix): the same film re-encoded, resized, cropped or re-windowed."""
    h, w = g.shape
    img = Image.fromarray(g)
    c = max(1, int(round(0.03 * w)))
    f = g.astype(np.float64) / 255.0
    return {
        "resized": (np.asarray(img.resize((int(w * 0.6), int(h * 0.6)), Image.Resampling.BILINEAR)), ".png"),
        "crop3": (g[:, c:], ".png"),
        "gamma": (np.round(255.0 * f**0.7).astype(np.uint8), ".png"),
        "contrast": (np.clip((g.astype(np.float64) - 128) * 1.3 + 140, 0, 255).astype(np.uint8), ".png"),
        "jpeg": (g, ".jpg"),
    }


def save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        Image.fromarray(pixels).save(path, quality=75)
    else:
        Image.fromarray(pixels).save(path, compress_level=1 if "copy" in path.name else 6)
    return path


def manifest_rows(paths_and_meta: list[tuple[Path, dict]]) -> pd.DataFrame:
    """Manifest rows like the indexer's: path (absolute), meta columns and pixel fingerprints."""
    rows = []
    for path, meta in paths_and_meta:
        gray = to_uint8(read_image(path))
        rows.append({"path": str(path), "original_label": meta.get("label", ""), "view": "PA",
                     "width": gray.shape[1], "height": gray.shape[0], "bits": 8, "format": path.suffix[1:].upper(),
                     "sha1": "", **{"label": "", "source": "src", "patient_id": "", "split": ""}, **meta,
                     **fingerprint(gray)})
    return pd.DataFrame(rows)


def planted_dataset(root: Path, distinct: int = 24) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """``distinct`` different films plus planted copies of films 0 (exact: lossless re-save) and
    1-5 (one near variant each). Returns the manifest and {copy name: [original path, copy path]}."""
    items, planted = [], {}
    originals = []
    for i in range(distinct):
        label = LABELS[i % len(LABELS)]
        path = save(root / "a" / f"film{i:03d}.png", film(label, seed=100 + i))
        originals.append((path, label))
        items.append((path, {"label": label, "source": "a", "patient_id": f"p{i}"}))
    base0 = to_uint8(read_image(originals[0][0]))
    exact = save(root / "b" / "film000_copy.png", base0)
    items.append((exact, {"label": originals[0][1], "source": "b"}))
    planted["exact"] = [str(originals[0][0]), str(exact)]
    for k, name in enumerate(("resized", "crop3", "gamma", "contrast", "jpeg")):
        src_path, label = originals[1 + k]
        pixels, suffix = near_variants(to_uint8(read_image(src_path)))[name]
        copy = save(root / "b" / f"{src_path.stem}_{name}{suffix}", pixels)
        items.append((copy, {"label": label, "source": "b"}))
        planted[name] = [str(src_path), str(copy)]
    return manifest_rows(items), planted
