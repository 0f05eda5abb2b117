"""Image reader benchmarks: pydicom's own test corpus, and hostile files.

- ``corpus``: every ``.dcm`` in the installed pydicom wheel (offline) through ``read_image``:
  outcome per file (accepted / refused / error), counts, decode time, once as the models see it and
  once with ``radiograph_only=False`` (does every pixel-bearing file decode?);
- ``bombs``: ``cxrlab predict`` on hostile files (deflated 10 x 7000² DICOM, J2K frame claiming
  30000², multi-frame native DICOM, 12000² JPEG with ``--max-pixels 200000000``, WindowWidth = 0,
  a PNG named .dcm) under ``/usr/bin/time -v`` and an 8 GB address-space cap: exit status, peak RSS, the CSV row. ``--src`` picks
  the cxrlab source tree, so that an older checkout can be measured the same way.

    python benchmarks/bench_reader.py --parts corpus bombs [--src OLD_CHECKOUT/src]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

DX = "1.2.840.10008.5.1.4.1.1.1.1"


def corpus(radiograph_only: bool) -> dict:
    import warnings

    from pydicom.data.data_manager import DATA_ROOT

    from cxrlab.errors import ImageReadError, ImageRefusedError
    from cxrlab.io.images import read_image

    warnings.simplefilter("ignore")
    rows, start = [], time.perf_counter()
    for path in sorted((Path(DATA_ROOT) / "test_files").glob("*.dcm")):
        try:
            kwargs = {} if radiograph_only else {"radiograph_only": False}
            image = read_image(path, **kwargs)
            rows.append((path.name, "accepted" if radiograph_only else "decoded", "; ".join(image.warnings)))
        except ImageRefusedError as exc:
            rows.append((path.name, "refused", exc.reason))
        except ImageReadError as exc:
            kind = "no pixel data" if "no pixel data" in exc.reason else "error"
            rows.append((path.name, kind, exc.reason))
        except Exception as exc:  # an old reader may let these through
            rows.append((path.name, "crash", f"{type(exc).__name__}: {exc}"))
    return {"seconds": time.perf_counter() - start, "counts": dict(Counter(r[1] for r in rows)), "rows": rows}


def _dataset_bytes(ds) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    return buf.getvalue()


def _header(rows: int, cols: int, frames: int = 1, **extra):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = DX, "1.2.3.4", "DX"
    ds.PatientID, ds.BodyPartExamined, ds.ViewPosition = "BOMB", "CHEST", "PA"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for key, value in extra.items():
        setattr(ds, key, value)
    return ds


def _file_meta(syntax: str) -> bytes:
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = DX, "1.2.3.4", syntax
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_file_meta_info(buf, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + buf.getvalue()


def deflate_bomb(path: Path, side: int = 7000, frames: int = 10) -> Path:
    """A deflated DICOM of ``frames`` zero frames of ``side``² 16-bit: ~1 MB on disk, ~1 GB inflated."""
    length = frames * side * side * 2
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    with open(path, "wb") as fh:
        fh.write(_file_meta("1.2.840.10008.1.2.1.99"))
        fh.write(packer.compress(_dataset_bytes(_header(side, side, frames))))
        fh.write(packer.compress(b"\xe0\x7f\x10\x00OW\x00\x00" + length.to_bytes(4, "little")))
        chunk = bytes(1 << 24)
        for start in range(0, length, len(chunk)):
            fh.write(packer.compress(chunk[:min(len(chunk), length - start)]))
        fh.write(packer.flush())
    return path


def native_multiframe(path: Path, side: int = 2000, frames: int = 10) -> Path:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 4096, (side, side), dtype=np.uint16).tobytes()
    with open(path, "wb") as fh:
        fh.write(_file_meta("1.2.840.10008.1.2.1"))
        fh.write(_dataset_bytes(_header(side, side, frames)))
        fh.write(b"\xe0\x7f\x10\x00OW\x00\x00" + (len(frame) * frames).to_bytes(4, "little"))
        for _ in range(frames):
            fh.write(frame)
    return path


def j2k_size_bomb(path: Path) -> Path:
    """A 64² DICOM whose JPEG 2000 frame's SIZ marker claims 30000 x 30000 pixels (one tile)."""
    from pydicom.encaps import encapsulate

    codestream = bytearray(_j2k_codestream(64))
    at = codestream.find(b"\xff\x4f\xff\x51")
    codestream[at + 8:at + 16] = (30000).to_bytes(4, "big") * 2  # Xsiz, Ysiz
    codestream[at + 24:at + 32] = (30000).to_bytes(4, "big") * 2  # XTsiz, YTsiz
    return _encapsulated(path, _header(64, 64), "1.2.840.10008.1.2.4.90", encapsulate([bytes(codestream)]))


def _j2k_codestream(side: int) -> bytes:
    from openjpeg import encode

    return bytes(encode(np.zeros((side, side), dtype=np.uint16) + 7, bits_stored=12, codec_format=0))


def _encapsulated(path: Path, ds, syntax: str, pixel_data: bytes) -> Path:
    with open(path, "wb") as fh:
        fh.write(_file_meta(syntax))
        fh.write(_dataset_bytes(ds))
        fh.write(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff" + pixel_data + b"\xfe\xff\xdd\xe0" + bytes(4))
    return path


def window_zero(path: Path) -> Path:
    ds = _header(64, 64, WindowCenter=100, WindowWidth=0)
    with open(path, "wb") as fh:
        fh.write(_file_meta("1.2.840.10008.1.2.1"))
        fh.write(_dataset_bytes(ds))
        fh.write(b"\xe0\x7f\x10\x00OW\x00\x00" + (64 * 64 * 2).to_bytes(4, "little") + bytes([100, 0]) * 64 * 64)
    return path


def big_jpeg(path: Path, side: int = 12000) -> Path:
    from PIL import Image

    yy, xx = np.mgrid[0:side:16, 0:side:16]
    small = Image.fromarray(((xx + yy) % 256).astype(np.uint8))
    small.resize((side, side)).save(path, quality=80)
    return path


def png_named_dcm(path: Path) -> Path:
    from PIL import Image

    yy, xx = np.mgrid[0:256, 0:256]
    Image.fromarray(((xx * yy) % 256).astype(np.uint8)).save(path, format="PNG")
    return path


def make_bundle(root: Path) -> Path:
    import torch

    from cxrlab.config import PreprocessConfig, to_dict
    from cxrlab.export.bundle import export_bundle
    from cxrlab.labels import builtin_schemes
    from cxrlab.models.registry import create_model, model_info
    from cxrlab.train.checkpoint import make_meta, save_checkpoint

    scheme, info = builtin_schemes()["3class"], model_info("cnn-small")
    meta = make_meta(architecture="cnn-small", classes=scheme.classes, label_scheme=scheme.to_dict(), in_chans=1,
                     preprocess=to_dict(PreprocessConfig(size=64)), mean=[info.mean], std=[info.std])
    torch.manual_seed(0)
    save_checkpoint(root / "run" / "checkpoints" / "best", create_model("cnn-small", 3).eval(), meta)
    return export_bundle(root / "run", root / "model.cxrlab").path


CASES = [
    ("deflated DICOM, 10 frames of 7000² (953 KB)", "deflate_bomb.dcm", deflate_bomb, []),
    ("JPEG 2000 frame claiming 30000² in a 64² DICOM", "j2k_siz.dcm", j2k_size_bomb, []),
    ("native DICOM, 10 frames of 2000² (80 MB)", "multiframe.dcm", native_multiframe, []),
    ("12000² JPEG, --max-pixels 200000000", "big.jpg", big_jpeg, ["--max-pixels", "200000000"]),
    ("DICOM with WindowWidth = 0, constant pixels", "ww0.dcm", window_zero, []),
    ("PNG named .dcm", "png.dcm", png_named_dcm, []),
]


def bombs(src: str, work: Path) -> list[dict]:
    bundle = work / "model.cxrlab"
    if not bundle.exists():
        make_bundle(work)
    results = []
    for title, name, make, args in CASES:
        path = work / name
        if not path.exists():
            make(path)
        out = work / f"{name}.csv"
        out.unlink(missing_ok=True)
        env = dict(os.environ, PYTHONPATH=src)
        # An 8 GB address-space cap keeps a reader that does fall for a bomb from taking the machine down.
        cmd = ["prlimit", f"--as={8 << 30}", "/usr/bin/time", "-v", sys.executable, "-m", "cxrlab", "predict", str(bundle), str(path), "--out", str(out),
               "--workers", "1", *args]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        row = next(csv.DictReader(out.open())) if out.exists() else {}
        traceback = "Traceback" in proc.stderr
        outcome = (row.get("error") or f"{row.get('label')} (p={row.get('probability')})") if row else \
            ("traceback" if traceback else proc.stderr.strip().splitlines()[-1][:200])
        results.append({"case": title, "file_bytes": path.stat().st_size, "rc": proc.returncode,
                        "peak_rss_mb": int(rss.group(1)) / 1024 if rss else None, "seconds": round(seconds, 1),
                        "outcome": outcome})
        print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", nargs="+", default=["corpus", "bombs"], choices=["corpus", "bombs"])
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cxrlab-bench-reader")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every result")
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    if "corpus" in args.parts:
        for mode in (True, False):
            res = corpus(mode)
            report[f"corpus_radiograph_only_{mode}"] = res
            print(f"radiograph_only={mode}: {res['counts']} in {res['seconds']:.2f} s")
    if "bombs" in args.parts:
        report["bombs"] = bombs(args.src, args.work)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
