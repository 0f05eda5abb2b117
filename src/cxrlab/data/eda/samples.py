"""Random sample thumbnails for the EDA report (seeded, so a report is reproducible)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxrlab.errors import ImageReadError
from cxrlab.io.images import read_image, to_uint8

THUMB_PX = 128


def thumbnail_png(path: str | Path, px: int = THUMB_PX) -> bytes:
    """A small 8-bit gray PNG of an image (aspect ratio kept). Raises ImageReadError."""
    gray = to_uint8(read_image(path, reduce_to=px))
    img = Image.fromarray(gray)
    img.thumbnail((px, px), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def sample_thumbs(
    df: pd.DataFrame, by: str, caption: str, per_group: int, seed: int
) -> dict[str, list[tuple[bytes, str, str]]]:
    """``{group: [(png, caption, tooltip), ...]}``: up to ``per_group`` random readable images per group.

    Unreadable files are skipped (the next random candidate is tried), so a broken file never breaks
    the report.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[bytes, str, str]]] = {}
    for group in sorted(df[by].astype(str).unique()):
        rows = df[df[by].astype(str) == group]
        order = rng.permutation(len(rows))
        thumbs: list[tuple[bytes, str, str]] = []
        for i in order:
            if len(thumbs) >= per_group:
                break
            row = rows.iloc[int(i)]
            try:
                png = thumbnail_png(row["path"])
            except ImageReadError:
                continue
            tip = f"{Path(str(row['path'])).name} | {row.get('label', '')} | {row.get('source', '')}"
            thumbs.append((png, str(row.get(caption, "")), tip))
        out[group] = thumbs
    return out
