"""The manifest: one row per image, the contract between every cxrlab stage.

Stored as CSV (readable in a spreadsheet, diffable, no extra dependency). In the file, ``path``
is relative to the manifest's own folder (so a manifest moves with its data); in memory, after
:func:`read_manifest`, ``path`` is absolute.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from cxrlab.errors import ConfigError
from cxrlab.io.atomic import atomic_path

#: Columns every manifest has, in file order. Later stages add their own (``dup_group``,
#: ``group``, ``split``...) after these.
CORE_COLUMNS = (
    "path", "label", "original_label", "source", "patient_id", "view",
    "width", "height", "bits", "format", "sha1", "pixel_sha1", "phash", "mean", "std", "split",
)
REQUIRED_COLUMNS = ("path", "label", "source")
_TEXT_COLUMNS = ("path", "label", "original_label", "source", "patient_id", "view", "format",
                 "sha1", "pixel_sha1", "phash", "split", "group", "dup_group")


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Load a manifest CSV; ``path`` column becomes absolute. Clear errors for bad files."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: manifest not found (create one with 'cxrlab index DATA_DIR')")
    try:
        df = pd.read_csv(path, dtype={c: "string" for c in _TEXT_COLUMNS}, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{path}: not a readable manifest CSV ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    for col in _TEXT_COLUMNS:
        if col in df.columns:
            df[col] = df[col].astype(object).fillna("")
    root = path.resolve().parent
    df["path"] = [str(p) if os.path.isabs(p) else os.path.normpath(str(root / p)) for p in df["path"]]
    return df


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write atomically, with ``path`` stored relative to the manifest's folder."""
    path = Path(path)
    root = path.resolve().parent
    out = df.copy()
    out["path"] = [_relative(p, root) for p in out["path"]]
    ordered = [c for c in CORE_COLUMNS if c in out.columns] + [c for c in out.columns if c not in CORE_COLUMNS]
    with atomic_path(path) as tmp:
        out[ordered].to_csv(tmp, index=False)
    return path


def _relative(p: str, root: Path) -> str:
    try:
        return Path(os.path.relpath(p, root)).as_posix()
    except ValueError:  # different drive on Windows
        return Path(p).as_posix()
