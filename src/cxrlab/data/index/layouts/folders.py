"""Folder layouts: class-per-folder at any depth (``COVID/``, ``Viral Pneumonia/``, ``NORMAL/``...),
split folders (Kermany ``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/``), ``masks/`` folders
(skipped), Kermany file names (``person1_virus_6.jpeg``) and DICOM files. Table layouts found on
the way (:mod:`cxrlab.data.index.layouts.tables`) take over their folder's whole subtree."""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from cxrlab.data.index.layouts.common import (
    IGNORED_DIRS, IGNORED_SUFFIXES, MASK, UNLISTED, Candidate, Found, folder_label, is_mask_dir,
    is_mask_file, split_name,
)
from cxrlab.data.index.layouts.tables import (
    index_manifest_table, index_metadata_table, manifest_table_problem, table_layout,
)
from cxrlab.io.images import SUPPORTED_SUFFIXES, is_dicom_bytes
from cxrlab.labels import PNEUMONIA, canonical_label

_IMAGE_DIRS = frozenset({"images", "image", "imgs", "img", "png", "jpg", "dicom", "dcm"})
_IGNORED_NAMES = frozenset({"license", "readme", "notice", "authors", "changelog", "makefile"})
_KERMANY_CAUSE = re.compile(r"^person\d+_(virus|bacteria)_", re.IGNORECASE)
_KERMANY_PATIENT = re.compile(r"^(person\d+)_|^((?:NORMAL2-)?IM-\d+)-\d+", re.IGNORECASE)


@dataclass(frozen=True)
class FolderContext:
    """What the folders above a file say about it."""

    label: str = ""
    original_label: str = ""
    split: str = ""
    mask: bool = False
    last_folder: str = ""  # nearest folder that is neither structural nor a class (for unknown labels)

    def enter(self, name: str) -> FolderContext:
        if is_mask_dir(name):
            return replace(self, mask=True)
        split = split_name(name)
        if split:
            return replace(self, split=split)
        label = folder_label(name)
        if label:
            return replace(self, label=label, original_label=name, last_folder="")
        if name.lower() in _IMAGE_DIRS:
            return self
        return replace(self, last_folder=name)


def list_folder(folder: Path, problems: list[tuple[str, str]] | None = None) -> tuple[list[Path], list[Path]]:
    """Files and sub-folders, sorted, without hidden entries or ignored folders. Entries that cannot
    be followed (a dangling symbolic link, a link loop) are left out and, when ``problems`` is
    given, appended to it as ``(path, reason)``."""
    files, dirs = [], []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith(".") or entry.name.lower() in IGNORED_DIRS:
                continue
            try:
                if entry.is_dir():
                    dirs.append(Path(entry.path))
                elif entry.is_file():
                    files.append(Path(entry.path))
                elif entry.is_symlink() and problems is not None:
                    problems.append((entry.path, f"dangling symbolic link (its target {os.readlink(entry.path)} does not exist)"))
            except OSError as exc:  # ELOOP: a link that points to itself, or round in a circle
                if problems is not None:
                    problems.append((entry.path, broken_entry_reason(entry.path, exc)))
    return files, dirs


def broken_entry_reason(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"symbolic link loop ({path} -> {os.readlink(path)} never reaches a file)"
    return f"cannot read ({exc.strerror or exc})"


def inside(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies below it (both real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def looks_like_dataset(folder: Path) -> bool:
    """True when a folder is itself a dataset (holds a table, images or class/split folders)."""
    files, dirs = list_folder(folder)
    if table_layout(folder, [f.name for f in files]):
        return True
    if any(f.suffix.lower() in SUPPORTED_SUFFIXES for f in files):
        return True
    return any(_is_structural(d.name) for d in dirs)


def _is_structural(name: str) -> bool:
    """A folder name that only makes sense inside a dataset (class, split, images, masks)."""
    return bool(is_mask_dir(name) or split_name(name) or folder_label(name) or name.lower() in _IMAGE_DIRS)


@dataclass
class FolderWalker:
    """Walks one dataset folder, filling ``found``.

    ``roots`` are the real paths of the folders being indexed. A symbolic link to a file or folder
    inside one is not followed (its films are indexed once, where they really sit, under their own class
    folder); a link to somewhere outside is followed, once. Loops and dangling links are skipped
    with the reason.
    """

    source: str
    found: Found
    frontal_only: bool = True
    seen: set[str] = field(default_factory=set)
    roots: tuple[str, ...] = ()

    def walk(self, folder: Path, ctx: FolderContext = FolderContext()) -> None:
        real = os.path.realpath(folder)
        if real in self.seen:  # symlink loop or a folder reached twice
            if folder.is_symlink():
                self.found.skip(str(folder), f"symbolic link loop (leads back to {real}, already indexed)")
            return
        self.seen.add(real)
        problems: list[tuple[str, str]] = []
        try:
            files, dirs = list_folder(folder, problems)
        except OSError as exc:
            self.found.skip(str(folder), f"cannot list folder ({exc.strerror or exc})")
            return
        for path, reason in problems:
            self.found.skip(path, reason)
        if self._table(folder, files):
            return
        for path in files:
            if not self._followed_link(path, "file"):
                self._add_file(path, ctx)
        for sub in dirs:
            if not self._followed_link(sub, "folder"):
                self.walk(sub, ctx.enter(sub.name))

    def _followed_link(self, path: Path, kind: str) -> bool:
        """True (and recorded as skipped) when ``path`` is a link that must not be followed."""
        if not path.is_symlink():
            return False
        target = os.path.realpath(path)
        if any(inside(root, target) for root in self.roots):
            reason = f"symbolic link loop ({kind} link to {target}, which holds the dataset itself)"
        elif any(inside(target, root) for root in self.roots):
            reason = (f"symbolic link to a {kind} inside the dataset ({target}): its films are indexed once, "
                      "where they really sit, under their own class folder")
        elif kind == "file" and target in self.seen:
            reason = f"second link to {target}, already indexed"
        else:
            if kind == "file":
                self.seen.add(target)
            return False
        self.found.skip(str(path), reason)
        return True

    def _table(self, folder: Path, files: list[Path]) -> bool:
        names = [f.name for f in files]
        problem = manifest_table_problem(folder, names)
        if problem:
            self.found.skip(str(folder / "manifest.csv"), problem)
        layout = table_layout(folder, names)
        if layout is None:
            return False
        kind, csv_path = layout
        reader = index_manifest_table if kind == "manifest" else index_metadata_table
        listed = reader(csv_path, self.source, self.found, self.frontal_only)
        if listed is None:
            return False
        for root, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d.lower() not in IGNORED_DIRS)
            for name in sorted(filenames):
                path = os.path.normpath(os.path.join(root, name))
                if path not in listed and _maybe_image(Path(path)):
                    self.found.exclude(path, UNLISTED)
        return True

    def _add_file(self, path: Path, ctx: FolderContext) -> None:
        if not _maybe_image(path):
            return
        name, text = path.name, str(path)
        if ctx.mask or is_mask_file(name):
            self.found.exclude(text, MASK)
        elif not ctx.label:
            if path.suffix.lower() in SUPPORTED_SUFFIXES or _has_dicom_magic(path):
                self.found.unknown(text, ctx.last_folder or "(no class folder)")
            else:
                self.found.skip(text, "not an image file (unknown type, not in a class folder)")
        else:
            label, original = ctx.label, ctx.original_label
            cause = _KERMANY_CAUSE.match(name)
            if cause and label == PNEUMONIA:
                original = f"{original}/{cause.group(1).lower()}"
                label = canonical_label(original) or label
            patient = _KERMANY_PATIENT.match(name)
            self.found.candidates.append(Candidate(
                path=text, source=self.source, label=label, original_label=original, split=ctx.split,
                patient_id=f"kermany:{patient.group(1) or patient.group(2)}" if patient else "",
            ))


def _maybe_image(path: Path) -> bool:
    """False for files that are certainly not images (docs, tables, code): ignored silently."""
    return (path.suffix.lower() not in IGNORED_SUFFIXES and path.name.lower() not in _IGNORED_NAMES
            and not path.name.startswith("."))


def _has_dicom_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return is_dicom_bytes(fh.read(132))
    except OSError:
        return False
