"""Pair lung masks with films (by file-name stem), load them at model size and split them by group.

The same film often exists several times (other sources, other names, other sizes) and a patient
may have several films, so the train/val split is by *group*: patient id ∪ the manifest's
``group``/``dup_group`` ∪ near-identical pictures (perceptual hash within a few bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxrlab.data.index.fingerprint import phash_hex, phash_to_int
from cxrlab.data.index.layouts import discover
from cxrlab.errors import CxrlabError, ImageReadError
from cxrlab.io.images import read_image, to_uint8
from cxrlab.segment.masks import MaskSource, mask_stem

#: phash Hamming distance at or below which two films count as one. Generous on purpose: merging
#: two look-alike films only makes the split coarser, missing a copy leaks it into validation.
NEAR_DUPLICATE_BITS = 6


@dataclass(frozen=True)
class PairedData:
    """Films and masks resized to ``size`` x ``size`` (stretch), row i = ``table.iloc[i]``."""

    table: pd.DataFrame  # path, source, patient_id, mask (stem), group, split
    images: np.ndarray  # uint8 (N, S, S)
    masks: np.ndarray  # uint8 0/1 (N, S, S)
    skipped: list[tuple[str, str]]

    def subset(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        keep = (self.table["split"] == split).to_numpy()
        return self.images[keep], self.masks[keep]


def images_from_folder(root: str | Path) -> pd.DataFrame:
    """Image rows (path, source, patient_id) found under a data folder, without decoding them."""
    found = discover([Path(root)], frontal_only=True)
    rows = [{"path": c.path, "source": c.source, "patient_id": c.patient_id} for c in found.candidates]
    return pd.DataFrame(rows, columns=["path", "source", "patient_id"])


def match_masks(images: pd.DataFrame, masks: MaskSource) -> pd.DataFrame:
    """Rows of ``images`` whose file stem has a mask (one row per mask: the first by source, path)."""
    df = images.copy()
    df["mask"] = [mask_stem(p) for p in df["path"]]
    df = df[df["mask"].isin(masks.members)]
    df = df.sort_values(["source", "path"], kind="stable").drop_duplicates("mask")
    return df.reset_index(drop=True)


def load_pairs(table: pd.DataFrame, masks: MaskSource, size: int, near_bits: int = NEAR_DUPLICATE_BITS) -> PairedData:
    """Decode each film and its mask at ``size``; unreadable films are skipped and listed.
    Films whose perceptual hashes differ by ``near_bits`` or fewer bits share a group."""
    images, labels, keep, skipped, hashes = [], [], [], [], []
    for i, row in enumerate(table.itertuples(index=False)):
        try:
            gray = to_uint8(read_image(row.path))
        except ImageReadError as exc:
            skipped.append((row.path, exc.reason))
            continue
        mask = masks.read(row.mask)
        images.append(resize_gray(gray, size))
        labels.append(resize_mask(mask, size))
        hashes.append(phash_hex(gray))
        keep.append(i)
    if not keep:
        raise CxrlabError("no film with a lung mask could be read (see the skipped list)")
    out = table.iloc[keep].reset_index(drop=True)
    out["group"] = group_ids(out, hashes, near_bits)
    out["split"] = ""
    return PairedData(out, np.stack(images), np.stack(labels).astype(np.uint8), skipped)


def resize_gray(gray: np.ndarray, size: int) -> np.ndarray:
    img = Image.fromarray(gray).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(img, dtype=np.uint8)


def resize_mask(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bool mask -> 0/1 uint8 at ``size`` (square int, or (height, width))."""
    h, w = (size, size) if isinstance(size, int) else size
    img = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR)
    return (np.asarray(img) >= 128).astype(np.uint8)


def group_ids(table: pd.DataFrame, hashes: list[str], near_bits: int = NEAR_DUPLICATE_BITS) -> list[str]:
    """Connected components of: same patient id, same manifest group/dup_group, near-same phash."""
    n = len(table)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    for col in ("patient_id", "group", "dup_group"):
        if col in table.columns:
            first: dict[str, int] = {}
            for i, key in enumerate(table[col].astype(str)):
                if key and key.lower() not in ("nan", "none"):
                    union(i, first.setdefault(f"{col}:{key}", i))
    ints = np.array([phash_to_int(h) for h in hashes], dtype=np.uint64)
    bits = np.unpackbits(ints.view(np.uint8).reshape(n, 8), axis=1).astype(bool)  # (n, 64)
    for i in range(n):
        dist = (bits[i + 1:] != bits[i]).sum(axis=1)
        for j in np.flatnonzero(dist <= near_bits):
            union(i, i + 1 + int(j))
    return [f"g{find(i)}" for i in range(n)]


def assign_split(data: PairedData, val_fraction: float, seed: int) -> PairedData:
    """Group-aware train/val split (whole groups go to one side)."""
    from sklearn.model_selection import GroupShuffleSplit

    table = data.table.copy()
    if table["group"].nunique() < 2:
        raise CxrlabError(f"need films from at least 2 patients/groups to validate, got {len(table)} film(s) in 1 group")
    gss = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    _, val_idx = next(gss.split(table, groups=table["group"]))
    table["split"] = "train"
    table.loc[val_idx, "split"] = "val"
    return PairedData(table, data.images, data.masks, data.skipped)
