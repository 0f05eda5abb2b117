"""Image reader benchmarks: pydicom's own test corpus, and hostile files.

- ``corpus``: every ``.dcm`` in the installed pydicom wheel (offline) through ``read_image``:
  outcome per file (accepted / refused / error), counts, decode time, once as the models see it and
  once with ``radiograph_only=False`` (does every pixel-bearing file decode?);
- ``bombs``: ``cxrlab predict`` on hostile files (deflated 10 x 7000² DICOM, J2K frame claiming
  30000², multi-frame native DICOM, 12000² JPEG with ``--max-pixels 200000000``, WindowWidth = 0,
  a PNG named .dcm) under ``/usr/bin/time -v`` and an 8 GB address-space cap: exit status, peak RSS, the CSV row. ``--src`` picks
  the cxrlab source tree, so that an older checkout can be measured the same way.

- ``decoders``: pydicom decoder plugins compared (``pylibjpeg``, ``gdcm``, ``pillow``: whichever are
  importable; e.g. ``pip install --target /tmp/gdcm python-gdcm`` and ``PYTHONPATH=/tmp/gdcm``):
  corpus files each decodes, and decode time of a 2048 x 2500 12-bit film in each lossless syntax
  (written with GDCM's encoders, so GDCM must be importable for that half).

    python benchmarks/bench_reader.py --parts corpus bombs decoders [--src OLD_CHECKOUT/src]
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

    from cxrlab import errors
    from cxrlab.errors import ImageReadError
    from cxrlab.io.images import read_image

    refused = getattr(errors, "ImageRefusedError", ())  # () for a reader older than the refusals

    warnings.simplefilter("ignore")
    rows, start = [], time.perf_counter()
    for path in sorted((Path(DATA_ROOT) / "test_files").glob("*.dcm")):
        try:
            kwargs = {} if radiograph_only else {"radiograph_only": False}
            image = read_image(path, **kwargs)
            rows.append((path.name, "accepted" if radiograph_only else "decoded", "; ".join(getattr(image, "warnings", ()))))
        except ImageReadError as exc:
            kind = "refused" if isinstance(exc, refused) else "no pixel data" if "no pixel data" in exc.reason \
                else "error"
            rows.append((path.name, kind, exc.reason))
        except Exception as exc:  # an old reader may let these through
            rows.append((path.name, "crash", f"{type(exc).__name__}: {exc}"))
    return {"seconds": time.perf_counter() - start, "counts": dict(Counter(r[1] for r in rows)), "rows": rows}


_FILM_SYNTAXES = {"JPEG lossless SV1": "JPEGLosslessProcess14_1", "JPEG-LS lossless": "JPEGLSLossless",
                  "JPEG 2000 lossless": "JPEG2000Lossless", "RLE": "RLELossless"}


def decoders(work: Path) -> dict:
    import warnings

    import pydicom
    from pydicom.data.data_manager import DATA_ROOT

    warnings.simplefilter("ignore")
    plugins = [p for p in ("pylibjpeg", "gdcm", "pillow") if _importable({"pylibjpeg": "libjpeg", "pillow": "PIL"}.get(p, p))]
    films = _films(work) if _importable("gdcm") else {}
    report: dict = {}
    for plugin in plugins:
        decoded, failed = 0, []
        for path in sorted((Path(DATA_ROOT) / "test_files").glob("*.dcm")):
            ds = pydicom.dcmread(path, force=True)
            if "PixelData" not in ds:
                continue
            try:
                syntax = ds.file_meta.TransferSyntaxUID
                ds.pixel_array_options(decoding_plugin=plugin if syntax.is_compressed else "")
                ds.pixel_array  # noqa: B018 - decoding is the point
                decoded += 1
            except Exception:  # noqa: BLE001 - counting failures
                failed.append(path.name)
        times = {}
        for name, path in films.items():
            try:
                ds = pydicom.dcmread(path)
                ds.pixel_array_options(decoding_plugin=plugin)
                start = time.perf_counter()
                ds.pixel_array  # noqa: B018
                times[name] = round((time.perf_counter() - start) * 1000)
            except Exception:  # noqa: BLE001
                times[name] = None
        report[plugin] = {"decoded": decoded, "failed": failed, "film_ms": times}
        print(plugin, json.dumps(report[plugin]), flush=True)
    return report


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _films(work: Path) -> dict[str, str]:
    import gdcm

    from cxrlab.data.synthetic.generate import save_dicom, synthetic_film, to_uint16_film

    film = to_uint16_film(synthetic_film("COVID", np.random.default_rng(0), 2048), 12)
    source = str(save_dicom(work / "film.dcm", np.ascontiguousarray(np.pad(film, ((0, 452), (0, 0)), mode="edge"))))
    out = {}
    for name, syntax in _FILM_SYNTAXES.items():
        reader = gdcm.ImageReader()
        reader.SetFileName(source)
        reader.Read()
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
        change.SetInput(reader.GetImage())
        change.Change()
        writer = gdcm.ImageWriter()
        out[name] = str(work / f"film-{syntax}.dcm")
        writer.SetFileName(out[name])
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        writer.Write()
    return out


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

    from cxrlab.config import PreprocessConfig
    from cxrlab.export.bundle import export_bundle
    from cxrlab.labels import builtin_schemes
    from cxrlab.models.registry import create_model, model_info
    from cxrlab.artifacts.checkpoint import make_meta, save_checkpoint

    scheme, info = builtin_schemes()["3class"], model_info("cnn-small")
    meta = make_meta(architecture="cnn-small", classes=scheme.classes, label_scheme=scheme, in_chans=1,
                     preprocess=PreprocessConfig(size=64), mean=[info.mean], std=[info.std])
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


_SERVE = """
import resource, sys
from fastapi.testclient import TestClient
from cxrlab.predict.predictor import Predictor
from cxrlab.serve.app import create_app
with TestClient(create_app(Predictor.from_bundle(sys.argv[1]))) as client:
    data = open(sys.argv[2], "rb").read()
    r = client.post("/v1/predict", files={"file": (sys.argv[2], data, "application/octet-stream")})
print(r.status_code, r.text[:160])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def serve_bomb(src: str, work: Path) -> dict:
    """The deflated bomb posted to ``/v1/predict`` (in-process TestClient): status and peak RSS."""
    path = work / "deflate_bomb.dcm"
    if not path.exists():
        deflate_bomb(path)
    bundle = work / "model.cxrlab"
    if not bundle.exists():
        make_bundle(work)
    proc = subprocess.run(["prlimit", f"--as={8 << 30}", sys.executable, "-c", _SERVE, str(bundle), str(path)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=src))
    lines = proc.stdout.strip().splitlines()
    result = {"case": "deflated DICOM bomb posted to /v1/predict", "rc": proc.returncode,
              "response": lines[0] if lines else proc.stderr[-300:],
              "peak_rss_mb": int(lines[-1]) / 1024 if len(lines) > 1 else None}
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", nargs="+", default=["corpus", "bombs"], choices=["corpus", "bombs", "decoders"])
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
        report["bombs"] = bombs(args.src, args.work) + [serve_bomb(args.src, args.work)]
    if "decoders" in args.parts:
        report["decoders"] = decoders(args.work)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
