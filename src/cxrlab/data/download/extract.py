"""Safe extraction of zip and tar archives.

Every member is checked before anything is written: absolute paths, ``..`` components, drive
letters, links and device files are refused (zip-slip / tar-slip), as is an archive that would
unpack to more than ``max_bytes``. Members are written into a staging folder that is renamed to
``dest`` only when every member was read completely (zip CRCs and tar stream checked on the way),
so a corrupt archive leaves nothing behind. File modes and owners from the archive are ignored.
"""

from __future__ import annotations

import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cxrlab.data.download.errors import UnsafeArchiveError

_JUNK_PARTS = ("__MACOSX",)
_JUNK_NAMES = (".DS_Store", "Thumbs.db")
DEFAULT_MAX_BYTES = 64 * 1024**3


@dataclass(frozen=True)
class _Planned:
    member: object  # zipfile.ZipInfo | tarfile.TarInfo
    target: PurePosixPath  # relative path inside dest
    size: int


def safe_extract(archive: str | Path, dest: str | Path, *, strip_components: int = 0,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """Extract ``archive`` (zip, tar, tar.gz/bz2/xz) into the new folder ``dest``; returns the
    number of files written. Raises :class:`UnsafeArchiveError` (nothing written) on any problem."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise UnsafeArchiveError(f"{dest}: already exists; remove it first (nothing was extracted)")
    staging = dest.with_name(f".{dest.name}.extracting")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if zipfile.is_zipfile(archive):
            count = _extract_zip(archive, staging, strip_components, max_bytes)
        elif _is_tar(archive):
            count = _extract_tar(archive, staging, strip_components, max_bytes)
        else:
            raise UnsafeArchiveError(f"{archive}: not a zip or tar archive (truncated or wrong file?)")
        staging.mkdir(parents=True, exist_ok=True)
        staging.rename(dest)
        return count
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError):
        return False


def plan_member(name: str, strip_components: int, archive: Path) -> PurePosixPath | None:
    """The safe relative target of a member name, ``None`` to skip it, or raise if unsafe."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    parts = [p for p in PurePosixPath(clean).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} points outside the destination (..); refusing to extract")
    parts = parts[strip_components:]
    if not parts or any(p in _JUNK_PARTS for p in parts) or parts[-1] in _JUNK_NAMES:
        return None
    return PurePosixPath(*parts)


def _check_total(planned: list[_Planned], archive: Path, max_bytes: int) -> None:
    total = sum(p.size for p in planned)
    if total > max_bytes:
        raise UnsafeArchiveError(f"{archive}: would unpack to {total} bytes (limit {max_bytes}); refusing to extract")


def _extract_zip(archive: Path, staging: Path, strip: int, max_bytes: int) -> int:
    try:
        with zipfile.ZipFile(archive) as zf:
            planned = []
            for info in zf.infolist():
                target = plan_member(info.filename, strip, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
                if target is not None and not info.is_dir():
                    planned.append(_Planned(info, target, info.file_size))
            _check_total(planned, archive, max_bytes)
            for item in planned:
                _write(staging, item.target, lambda i=item: zf.open(i.member))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UnsafeArchiveError(f"{archive}: corrupt zip archive ({exc}); nothing was extracted") from None
    return len(planned)


def _extract_tar(archive: Path, staging: Path, strip: int, max_bytes: int) -> int:
    try:
        with tarfile.open(archive) as tf:
            planned = []
            for info in tf.getmembers():
                target = plan_member(info.name, strip, archive)
                if not (info.isfile() or info.isdir()):
                    raise UnsafeArchiveError(f"{archive}: member {info.name!r} is a link or device; refusing to extract")
                if target is not None and info.isfile():
                    planned.append(_Planned(info, target, info.size))
            _check_total(planned, archive, max_bytes)
            for item in planned:
                _write(staging, item.target, lambda i=item: tf.extractfile(i.member))
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise UnsafeArchiveError(f"{archive}: corrupt tar archive ({exc}); nothing was extracted") from None
    return len(planned)


def _write(staging: Path, rel: PurePosixPath, opener) -> None:
    out = staging.joinpath(*rel.parts)
    root = staging.resolve()
    if root not in out.resolve().parents:
        raise UnsafeArchiveError(f"member {str(rel)!r} resolves outside the destination; refusing to extract")
    out.parent.mkdir(parents=True, exist_ok=True)
    with opener() as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
