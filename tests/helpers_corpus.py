"""A corpus of hostile inputs, generated: good films of every container, degenerate pictures,
lateral and odd DICOMs, broken and misnamed files. Each entry says what must hold for it whatever
the image reader decides (``None`` = the reader may accept or refuse it, with a reason either way)."""

from __future__ import annotations

import io
import zlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cxrlab.data.synthetic.generate import save_dicom, synthetic_film, to_uint8_film, to_uint16_film


@dataclass(frozen=True)
class Case:
    name: str
    ok: bool | None  # True: predicted; False: an error row / 4xx; None: either, with a reason
    warning: str = ""  # a predicted film must carry a warning containing this
    excluded: str = ""  # index must list it as excluded with a reason containing this


def _film8(seed: int = 0, size: int = 96) -> np.ndarray:
    return to_uint8_film(synthetic_film("COVID", np.random.default_rng(seed), size))


def _save(path: Path, pixels: np.ndarray, **kwargs) -> None:
    Image.fromarray(pixels).save(path, **kwargs)


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width x height`` with a tiny (truncated) body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def build_corpus(folder: Path) -> list[Case]:
    """Write every case into ``folder``; returns them in a fixed order."""
    folder.mkdir(parents=True, exist_ok=True)
    f = _film8()
    cases: list[Case] = []

    def add(case: Case) -> None:
        cases.append(case)

    _save(folder / "good.png", f); add(Case("good.png", True))
    _save(folder / "good.jpg", f, quality=90); add(Case("good.jpg", True))
    _save(folder / "good16.png", to_uint16_film(synthetic_film("Normal", np.random.default_rng(1), 96), 16))
    add(Case("good16.png", True))
    _save(folder / "rgba.png", np.dstack([f, f, f, np.full_like(f, 200)])); add(Case("rgba.png", True))
    Image.fromarray(f).convert("P").save(folder / "palette.png"); add(Case("palette.png", True))
    _save(folder / "thorax été #1.png", f); add(Case("thorax été #1.png", True))
    wide = np.hstack([f, _film8(2)])
    _save(folder / "wide.png", wide); add(Case("wide.png", True))
    big = np.asarray(Image.fromarray(f).resize((4000, 5000), Image.Resampling.BILINEAR))
    _save(folder / "big.png", big); add(Case("big.png", True))
    save_dicom(folder / "pa.dcm", f.astype(np.uint16) * 16, view="PA"); add(Case("pa.dcm", True))
    save_dicom(folder / "m1.dcm", f.astype(np.uint16) * 16, photometric="MONOCHROME1", view="AP")
    add(Case("m1.dcm", True))
    save_dicom(folder / "lateral.dcm", f.astype(np.uint16) * 16, view="LL")
    add(Case("lateral.dcm", None, warning="lateral", excluded="lateral"))
    _save(folder / "dot.png", np.full((1, 1), 128, np.uint8)); add(Case("dot.png", None, "degenerate", "degenerate"))
    _save(folder / "sliver.png", np.random.default_rng(3).integers(0, 255, (1, 20000), dtype=np.uint8))
    add(Case("sliver.png", None, "degenerate", "degenerate"))
    _save(folder / "blank.png", np.full((256, 256), 90, np.uint8)); add(Case("blank.png", None, "constant pixels", "blank"))
    _save(folder / "blank16.png", np.full((128, 128), 3000, np.uint16))
    add(Case("blank16.png", None, "constant pixels", "blank"))
    (folder / "empty.png").write_bytes(b""); add(Case("empty.png", False))
    (folder / "notes.png").write_text("this is not an image\n"); add(Case("notes.png", False))
    good = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 3]); add(Case("truncated.png", False))
    (folder / "bomb.png").write_bytes(_bomb_png(30000, 30000)); add(Case("bomb.png", False))
    (folder / "png-named.dcm").write_bytes(good); add(Case("png-named.dcm", None))
    buf = io.BytesIO()
    Image.fromarray(f).save(buf, format="GIF", save_all=True, append_images=[Image.fromarray(255 - f)])
    (folder / "two-frames.gif").write_bytes(buf.getvalue()); add(Case("two-frames.gif", None))
    _save(folder / "tiny16.png", np.zeros((8, 8), np.uint16)); add(Case("tiny16.png", None, "degenerate", "degenerate"))
    _odd_dicoms(folder, f, add)
    return cases


def _odd_dicoms(folder: Path, f: np.ndarray, add) -> None:
    import pydicom

    path = save_dicom(folder / "window0.dcm", f.astype(np.uint16) * 16)
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 2000, 0
    ds.save_as(path)
    add(Case("window0.dcm", None))
    path = save_dicom(folder / "nopixels.dcm", f.astype(np.uint16))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    add(Case("nopixels.dcm", False))
    path = save_dicom(folder / "huge-header.dcm", f.astype(np.uint16))
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 60000, 60000  # claims 3.6 G pixels over a few kB of data
    ds.save_as(path)
    add(Case("huge-header.dcm", False))
    path = save_dicom(folder / "ct.dcm", f.astype(np.uint16))
    ds = pydicom.dcmread(path)
    ds.Modality = "CT"
    ds.save_as(path)
    add(Case("ct.dcm", None, excluded="not a chest radiograph: Modality CT"))
