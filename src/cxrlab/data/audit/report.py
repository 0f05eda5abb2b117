"""Write an :class:`~cxrlab.data.audit.run.AuditResult` to an audit folder.

- ``pairs.csv``: one row per duplicate pair (exact pairs link each copy to the group's first row);
- ``groups.csv``: one row per duplicate group with its sources, labels, splits and flags;
- ``patients_across_splits.csv``: patients whose films sit in more than one split;
- ``summary.json``: flat counts plus short lists (rendered by ``cxrlab eda``);
- ``near_pairs.png``: a contact sheet of sample near-duplicate pairs (the lowest-scoring ones, then
  random ones) to check by eye that reported copies are copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from cxrlab.data.audit.run import AuditResult
from cxrlab.errors import CxrlabError
from cxrlab.io.atomic import atomic_path, write_text
from cxrlab.io.images import read_image, to_uint8


@dataclass(frozen=True)
class AuditFiles:
    pairs: Path
    groups: Path
    patients: Path
    summary: Path
    sheet: Path | None


def write_audit(result: AuditResult, folder: str | Path, *, sheet_pairs: int = 24, seed: int = 0) -> AuditFiles:
    """Write all audit outputs into ``folder`` (created if needed), each file atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = AuditFiles(folder / "pairs.csv", folder / "groups.csv", folder / "patients_across_splits.csv",
                       folder / "summary.json", folder / "near_pairs.png")
    for frame, path in ((result.pairs, files.pairs), (result.groups, files.groups),
                        (result.patient_leaks, files.patients)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    write_text(files.summary, json.dumps(result.summary(), indent=2) + "\n")
    near = result.pairs[result.pairs["kind"] == "near"]
    if near.empty or sheet_pairs <= 0:
        if files.sheet.exists():
            files.sheet.unlink()  # do not leave a stale sheet from an earlier audit
        return AuditFiles(files.pairs, files.groups, files.patients, files.summary, None)
    contact_sheet(sample_pairs(near, sheet_pairs, seed), files.sheet)
    return files


def sample_pairs(near: pd.DataFrame, count: int, seed: int = 0) -> pd.DataFrame:
    """Half the lowest-scoring near pairs (the doubtful end), half a seeded random sample of the rest."""
    lowest = near.nsmallest(count // 2, "score")
    rest = near.drop(lowest.index)
    extra = rest.sample(min(len(rest), count - len(lowest)), random_state=seed) if len(rest) else rest
    return pd.concat([lowest, extra]).sort_values("score")


def contact_sheet(pairs: pd.DataFrame, path: str | Path, *, tile: int = 160, columns: int = 3) -> Path:
    """PNG grid: each cell shows film A | film B and a caption (score, sources, labels)."""
    rows = max(1, -(-len(pairs) // columns))
    cell_w, cell_h = 2 * tile + 12, tile + 28
    canvas = Image.new("L", (columns * cell_w, rows * cell_h), 0)
    draw = ImageDraw.Draw(canvas)
    for k, p in enumerate(pairs.itertuples(index=False)):
        x, y = (k % columns) * cell_w, (k // columns) * cell_h
        canvas.paste(_tile(p.path_a, tile), (x, y))
        canvas.paste(_tile(p.path_b, tile), (x + tile + 2, y))
        draw.text((x + 2, y + tile + 1), f"{p.score:.3f}  {p.label_a} | {p.label_b}", fill=255)
        draw.text((x + 2, y + tile + 13), f"{p.source_a[:22]} | {p.source_b[:22]}", fill=190)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return Path(path)


def _tile(path: str, size: int) -> Image.Image:
    out = Image.new("L", (size, size), 40)
    try:
        img = Image.fromarray(to_uint8(read_image(path, reduce_to=size)))
    except CxrlabError:
        return out
    img.thumbnail((size, size))
    out.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return out


def flag_counts(result: AuditResult) -> list[tuple[str, int]]:
    """(finding, count) rows for the terminal summary table."""
    s = result.summary()
    return [
        ("images audited", s["images"]),
        ("unreadable", s["unreadable"]),
        ("exact-duplicate groups (identical pixels)", s["exact_groups"]),
        ("near-duplicate groups", s["near_groups"]),
        ("images in duplicate groups", s["images_in_groups"]),
        ("redundant copies (images - groups)", s["redundant_images"]),
        ("groups across sources", s["cross_source_groups"]),
        ("groups with conflicting labels", s["label_conflict_groups"]),
        ("groups across splits", s["cross_split_groups"]),
        ("patients across splits", s["patients_across_splits"]),
    ]

