"""Shared helpers for the explain/export/predict/serve tests: tiny checkpoints and bundles."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from cxrlab.config import PreprocessConfig
from cxrlab.data.synthetic.generate import synthetic_film, to_uint8_film
from cxrlab.labels import builtin_schemes

SIZE = 32  # model input size used by the deploy tests


def predict_images(predictor, grays, heatmaps: bool = False) -> list:
    """Predict 2-D uint8 films of any size with a ``Predictor`` (preprocessed here)."""
    from cxrlab.data.preprocess import preprocess

    views = [preprocess(np.asarray(g, dtype=np.uint8), predictor.preprocess_config) for g in grays]
    empty = np.zeros((0, predictor.size, predictor.size), np.uint8)
    return predictor.predict_views(np.stack(views) if views else empty, heatmaps)


def make_run(root: Path, arch: str = "cnn-small", size: int = SIZE, scheme: str = "3class",
             thresholds: dict | None = None, temperature: float = 1.0, seed: int = 0) -> Path:
    """A run folder ``root`` with ``checkpoints/best`` holding an untrained (seeded) model."""
    import torch

    from cxrlab.models.registry import create_model, model_info
    from cxrlab.artifacts.checkpoint import make_meta, save_checkpoint

    sch = builtin_schemes()[scheme]
    info = model_info(arch)
    meta = make_meta(architecture=arch, classes=sch.classes, label_scheme=sch, in_chans=1,
                     preprocess=PreprocessConfig(size=size), mean=[info.mean], std=[info.std],
                     temperature=temperature, thresholds=thresholds or {}, metrics={"val_accuracy": 0.5})
    torch.manual_seed(seed)
    model = create_model(arch, len(sch.classes), img_size=size).eval()
    save_checkpoint(Path(root) / "checkpoints" / "best", model, meta)
    return Path(root)


def film(label: str = "COVID", seed: int = 0, size: int = 64) -> np.ndarray:
    return to_uint8_film(synthetic_film(label, np.random.default_rng(seed), size))


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def write_evaluation(run: Path) -> Path:
    """A minimal evaluation metrics.json like ``cxrlab evaluate`` writes."""
    path = run / "evaluation" / "metrics.json"
    path.parent.mkdir(parents=True)
    cell = {"value": 0.81, "low": 0.75, "high": 0.86}
    path.write_text(json.dumps({
        "evaluated": {"name": "test", "external": False},
        "bootstrap": {"resamples": 200, "seed": 0, "level": 0.95, "unit": "patient"},
        "headline": {"accuracy": cell, "balanced_accuracy": cell, "macro_f1": cell, "auc": cell},
        "comparison": None,
    }))
    return path


def unsupported_dicom(path: Path, pixels: np.ndarray) -> Path:
    """A DICOM whose pixel data claims JPEG 2000 compression but is garbage (no decoder can read it)."""
    import pydicom
    from pydicom.encaps import encapsulate

    from cxrlab.data.synthetic.generate import save_dicom

    save_dicom(path, pixels.astype(np.uint16))
    ds = pydicom.dcmread(str(path))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEG2000Lossless
    ds.PixelData = encapsulate([b"\x00\x01garbage" * 10])
    ds["PixelData"].VR = "OB"
    ds.save_as(str(path), enforce_file_format=True)
    return path


def single_thread_torch():
    """Generator for a module-scoped fixture: one torch thread for the module's tests (tiny models run
    faster that way, and far faster when the machine is busy), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
