"""Download + verify + extract one catalog dataset into ``<dest>/<name>/`` for ``cxrlab index``."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from cxrlab.data.download.catalog import DatasetEntry, manual_instructions
from cxrlab.data.download.http_file import Progress, download, sha256_file
from cxrlab.data.download.errors import ChecksumError, DatasetError
from cxrlab.data.download.extract import safe_extract
from cxrlab.data.download.layout import apply_layout
from cxrlab.io.atomic import write_text

INFO_FILE = "DATASET.txt"


@dataclass(frozen=True)
class FetchResult:
    folder: Path  # the extracted dataset, ready for ``cxrlab index``
    archive: Path | None  # the downloaded archive (None once removed)
    sha256: str
    checked: str  # how the bytes were verified, in words
    files: int  # files extracted (0 when the folder was already there)
    reused: bool


def record_path(dest_root: Path, entry: DatasetEntry) -> Path:
    """Where the trust-on-first-use SHA-256 of an unpinned archive is kept (sha256sum format)."""
    return dest_root / f"{entry.filename}.sha256"


def _recorded_sha256(dest_root: Path, entry: DatasetEntry) -> str | None:
    path = record_path(dest_root, entry)
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8").split()
    return text[0].lower() if text else None


def fetch_dataset(
    entry: DatasetEntry,
    dest_root: str | Path,
    *,
    sha256: str | None = None,
    archive: str | Path | None = None,
    force: bool = False,
    keep_archive: bool = True,
    connect_timeout: float = 5.0,
    retries: int = 2,
    progress: Progress | None = None,
) -> FetchResult:
    """Get ``entry`` into ``dest_root/<name>/``. ``sha256`` pins a checksum (overrides the catalog);
    ``archive`` uses a file downloaded by other means instead of the URL (the only way for datasets
    that need an account; without it they raise :class:`DatasetError` holding the manual steps)."""
    dest_root = Path(dest_root)
    if entry.manual and archive is None:
        raise DatasetError(manual_instructions(entry, str(dest_root)))
    folder = dest_root / entry.name
    if folder.exists():
        if not force and (folder / INFO_FILE).exists():
            digest = _recorded_sha256(dest_root, entry) or entry.sha256 or ""
            return FetchResult(folder, None, digest, "already downloaded", 0, reused=True)
        if not force:
            raise DatasetError(f"{folder}: exists but holds no {INFO_FILE} (unfinished?); use --force to replace it")
        shutil.rmtree(folder)
    recorded = _recorded_sha256(dest_root, entry)
    expected = (sha256 or entry.sha256 or recorded or "").lower() or None
    checked = _how_checked(sha256, entry, recorded)
    if archive is not None:
        path = Path(archive)
        if not path.is_file():
            raise DatasetError(f"{path}: archive not found")
        digest = sha256_file(path)
        if expected and digest != expected:
            raise ChecksumError(f"{path}: checksum mismatch - expected SHA-256 {expected}, got {digest}")
    else:
        assert entry.url is not None
        result = download(entry.url, dest_root / entry.filename, sha256=expected,
                          connect_timeout=connect_timeout, retries=retries, progress=progress)
        path, digest = result.path, result.sha256
    files = safe_extract(path, folder, strip_components=entry.strip_components)
    apply_layout(entry.layout_step, folder)
    if not entry.sha256 and not sha256 and not recorded:
        write_text(record_path(dest_root, entry), f"{digest}  {entry.filename}\n")
    write_text(folder / INFO_FILE, describe(entry, digest, checked))
    if not keep_archive and archive is None:
        path.unlink()
    return FetchResult(folder, path if keep_archive or archive is not None else None, digest, checked, files, False)


def _how_checked(sha256: str | None, entry: DatasetEntry, recorded: str | None) -> str:
    if sha256:
        return "SHA-256 given on the command line"
    if entry.sha256:
        return "SHA-256 pinned in the catalog"
    if recorded:
        return "SHA-256 matched the one recorded at the first download (trust on first use)"
    return "not pinned: completeness and archive integrity checked; SHA-256 recorded now (trust on first use)"


def describe(entry: DatasetEntry, digest: str, checked: str) -> str:
    """The DATASET.txt written into the extracted folder: provenance, license, citation."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "\n".join([
        f"dataset: {entry.name} - {entry.title}",
        f"homepage: {entry.homepage}",
        f"url: {entry.url}",
        f"revision: {entry.revision or '(none)'}",
        f"archive sha256: {digest}",
        f"verification: {checked}",
        f"downloaded: {now}",
        f"layout: {entry.layout}",
        f"labels: {entry.labels}",
        f"license: {entry.license}",
        f"citation: {entry.citation}",
        f"notes: {entry.notes}",
        "",
    ])
