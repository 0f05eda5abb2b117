"""Dataset indexing: dataset folders -> manifest (one row per usable image).

:func:`index_datasets` walks the roots (layouts in :mod:`cxrlab.data.index.layouts`), decodes every
candidate image in worker processes (:mod:`cxrlab.data.index.decode`), and returns the manifest plus
what was excluded on purpose (lateral views, CT, masks, unknown labels, degenerate films...) and what was skipped
because it could not be read. :func:`write_index` writes all three next to each other.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cxrlab.data.index.decode import describe_chunk
from cxrlab.data.index.layouts import Candidate, discover
from cxrlab.data.index.layouts.common import LATERAL, NOT_XRAY, is_lateral, is_xray_modality, namespaced
from cxrlab.data.manifest import CORE_COLUMNS, write_manifest
from cxrlab.io.atomic import atomic_path
from cxrlab.io.images import HEADER_FIELDS
from cxrlab.io.parallel import Progress, parallel_map

SKIPPED_NAME = "index_skipped.csv"
EXCLUDED_NAME = "index_excluded.csv"
_MAX_CHUNK = 64


@dataclass(frozen=True)
class IndexResult:
    """The manifest (``path`` absolute) and the files left out of it."""

    manifest: pd.DataFrame
    skipped: list[tuple[str, str]]  # (path, reason): could not be read / not an image / missing
    excluded: list[tuple[str, str]]  # (path, reason): left out on purpose
    unknown_labels: Counter = field(default_factory=Counter)  # label text -> images excluded for it
    seconds: float = 0.0  # wall time of the whole index

    @property
    def excluded_counts(self) -> Counter:
        """Images excluded, by reason."""
        return Counter(reason for _, reason in self.excluded)

    def label_table(self) -> pd.DataFrame:
        """Images per source (rows) and canonical label (columns)."""
        if self.manifest.empty:
            return pd.DataFrame()
        return pd.crosstab(self.manifest["source"], self.manifest["label"])


@dataclass(frozen=True)
class IndexFiles:
    manifest: Path
    skipped: Path
    excluded: Path


def index_datasets(
    roots: list[Path], *, workers: int = 2, progress: Progress | None = None, frontal_only: bool = True
) -> IndexResult:
    """Index every dataset found under ``roots`` (see docs/index.md for the layouts recognised).

    ``progress(done, total)`` is called as images are decoded. Raises
    :class:`~cxrlab.errors.ConfigError` when a root does not exist; unreadable files are reported in
    ``skipped`` and never stop the run.
    """
    start = time.perf_counter()
    found = discover([Path(r) for r in roots], frontal_only=frontal_only)
    candidates = list({c.path: c for c in reversed(found.candidates)}.values())[::-1]  # first wins
    infos = decode_all([c.path for c in candidates], workers=workers, progress=progress)
    rows = []
    for cand, info in zip(candidates, infos):
        if "error" in info:
            found.skip(cand.path, str(info["error"]))
            continue
        if "refused" in info:
            found.exclude(cand.path, str(info["refused"]))  # "not a chest radiograph: Modality CT"
            continue
        row, modality = _manifest_row(cand, info)
        if not is_xray_modality(modality):
            found.exclude(cand.path, NOT_XRAY)
        elif frontal_only and is_lateral(row["view"]):
            found.exclude(cand.path, LATERAL)
        elif info.get("degenerate"):
            found.exclude(cand.path, str(info["degenerate"]))
        else:
            rows.append(row)
    manifest = pd.DataFrame(rows, columns=list(CORE_COLUMNS) + [f for f in HEADER_FIELDS if f not in CORE_COLUMNS])
    manifest = manifest.sort_values(["source", "path"], kind="stable").reset_index(drop=True)
    return IndexResult(
        manifest=manifest, skipped=sorted(found.skipped), excluded=sorted(found.excluded),
        unknown_labels=found.unknown_labels, seconds=time.perf_counter() - start,
    )


def _manifest_row(cand: Candidate, info: dict) -> tuple[dict[str, object], str]:
    """One manifest row; DICOM header fields fill what the layout did not say."""
    meta = info.get("meta") or {}
    row = {
        "path": cand.path, "label": cand.label, "original_label": cand.original_label, "source": cand.source,
        "patient_id": cand.patient_id or namespaced(meta.get("patient_id", ""), cand.source),
        "view": cand.view or meta.get("view", ""), "split": cand.split,
    }
    row.update({k: info[k] for k in CORE_COLUMNS if k in info})
    row.update({k: meta.get(k, "") for k in HEADER_FIELDS if k not in row})  # DICOM header fields
    return row, meta.get("modality", "")


def decode_all(paths: list[str], *, workers: int = 2, progress: Progress | None = None) -> list[dict]:
    """Describe every file (in ``workers`` processes, in chunks), in the order given."""
    if not paths:
        return []
    size = max(1, min(_MAX_CHUNK, math.ceil(len(paths) / (max(workers, 1) * 8))))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    described = parallel_map(describe_chunk, chunks, workers=workers, weights=[len(c) for c in chunks],
                             progress=progress, start_method=None)  # fork: the workers start fast
    return [info for chunk in described for info in chunk]


def write_index(result: IndexResult, manifest_path: str | Path) -> IndexFiles:
    """Write the manifest, and the skipped / excluded file lists beside it (always, even if empty)."""
    manifest_path = Path(manifest_path)
    write_manifest(result.manifest, manifest_path)
    folder = manifest_path.parent
    files = IndexFiles(manifest_path, folder / SKIPPED_NAME, folder / EXCLUDED_NAME)
    for target, entries in ((files.skipped, result.skipped), (files.excluded, result.excluded)):
        with atomic_path(target) as tmp:
            pd.DataFrame(entries, columns=["path", "reason"]).to_csv(tmp, index=False)
    return files
