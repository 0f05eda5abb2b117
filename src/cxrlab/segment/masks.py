"""Where lung masks come from: a zip file or a folder of binary mask images, matched to films by
file-name stem. By default the ~500 lung masks that ship inside the ``torchxrayvision`` package
(``torchxrayvision/data/semantic_masks_v7labs_lungs.zip``, V7 Labs annotations of ieee8023 films)
are used; they are located without importing ``torchxrayvision`` and never copied into cxrlab.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cxrlab.errors import CxrlabError
from cxrlab.io.images import IMAGE_SUFFIXES

PACKAGE = "torchxrayvision"
PACKAGE_ZIP = ("data", "semantic_masks_v7labs_lungs.zip")
INSTALL_HINT = "pip install 'cxrlab[segment]'"


class MaskSourceError(CxrlabError):
    """No usable lung masks (package missing, path missing, nothing readable)."""


def default_masks_path() -> Path:
    """The mask zip inside the installed ``torchxrayvision`` package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MaskSourceError(
            f"no lung masks: the optional package '{PACKAGE}' (which ships them) is not installed; "
            f"run {INSTALL_HINT} or pass --masks PATH (a zip or folder of lung mask images)"
        )
    for root in spec.submodule_search_locations:
        candidate = Path(root).joinpath(*PACKAGE_ZIP)
        if candidate.is_file():
            return candidate
    raise MaskSourceError(
        f"'{PACKAGE}' is installed but has no {'/'.join(PACKAGE_ZIP)}; "
        "upgrade it (pip install -U torchxrayvision) or pass --masks PATH"
    )


@dataclass(frozen=True)
class MaskSource:
    """Binary lung masks keyed by lower-case file-name stem (``members``: stem -> name in source)."""

    path: Path
    members: dict[str, str]

    @property
    def is_zip(self) -> bool:
        return self.path.is_file()

    def __len__(self) -> int:
        return len(self.members)

    def read(self, stem: str) -> np.ndarray:
        """The mask for ``stem`` as a bool array (True = lung)."""
        name = self.members[stem]
        where = f"{self.path}:{name}" if self.is_zip else name
        try:
            if self.is_zip:
                with zipfile.ZipFile(self.path) as zf:
                    data = zf.read(name)
            else:
                data = Path(name).read_bytes()
            with Image.open(io.BytesIO(data)) as img:
                arr = np.asarray(img.convert("L"))
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise MaskSourceError(f"{where}: unreadable mask ({exc})") from None
        return arr > 127


def open_masks(path: str | Path | None = None) -> MaskSource:
    """Open a mask zip or folder (``None``: the masks shipped with ``torchxrayvision``)."""
    path = Path(path) if path is not None else default_masks_path()
    if not path.exists():
        raise MaskSourceError(f"{path}: mask zip/folder not found")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        names = [str(p) for p in files]
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                names = sorted(n for n in zf.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)
        except (zipfile.BadZipFile, OSError) as exc:
            raise MaskSourceError(f"{path}: not a readable zip of mask images ({exc})") from None
    members: dict[str, str] = {}
    for name in names:
        members.setdefault(mask_stem(name), name)
    if not members:
        raise MaskSourceError(f"{path}: no mask images (.png/.jpg) found")
    return MaskSource(path=path, members=members)


def mask_stem(name: str) -> str:
    """Matching key of a mask or image file: its stem, lower-cased (``case_76_1-3.PNG`` -> ``case_76_1-3``)."""
    return Path(name.replace("\\", "/")).stem.lower()
