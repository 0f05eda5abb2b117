"""``Predictor``: a verified bundle in ONNX Runtime. No torch; preprocessing is exactly
``cxrlab.data.preprocess`` (the same code training used), probabilities are temperature-scaled,
decisions follow the card's operating thresholds, heatmaps come from the graph's ``cams`` output.
Thread-safe: ``predict_*`` only read state (ONNX Runtime sessions may be run concurrently).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrlab.artifacts.bundle_card import BundleCard
from cxrlab.config import PreprocessConfig
from cxrlab.data.model_view import view_of
from cxrlab.data.preprocess import require_whole_film, to_model_input
from cxrlab.errors import ImageReadError
from cxrlab.explain.overlay import display_film, normalize_cam
from cxrlab.export.bundle_file import BundleError, read_bundle
from cxrlab.io.images import DEFAULT_MAX_PIXELS, read_image, to_uint8
from cxrlab.predict.decision import Decision, class_thresholds, decide


@dataclass(frozen=True)
class Prediction:
    probabilities: dict[str, float]
    label: str  # the most probable class
    decision: Decision  # at the operating thresholds
    image: np.ndarray  # (S, S) uint8: what the model saw
    heatmap: np.ndarray | None = None  # (S, S) float32 in [0, 1]
    heatmap_class: str = ""  # the decision's class when it is one, else ``label``


@dataclass(frozen=True)
class Film:
    """A decoded input: what the model will see, and what a person must be told about it."""

    view: np.ndarray  # (S, S) uint8: the model's input
    warnings: tuple[str, ...] = ()  # lateral view, degenerate image... (predictions still made)
    meta: dict[str, str] | None = None  # DICOM header fields (view, modality, patient_age...)
    width: int = 0
    height: int = 0
    display: np.ndarray | None = None  # the film in 8 bits at its aspect (<= OVERLAY_MAX_SIDE), for heatmaps


class Predictor:
    def __init__(self, session, card: BundleCard, source: str = "") -> None:
        self.session = session
        self.card = card
        self.source = source
        self.classes: tuple[str, ...] = card.classes
        self.preprocess_config: PreprocessConfig = card.preprocess
        require_whole_film(self.preprocess_config, source or "model")
        self.mean = card.mean
        self.std = card.std
        self.in_chans = card.in_chans
        self.temperature = card.temperature
        self.thresholds = class_thresholds(card.thresholds, self.classes)
        outputs = [o.name for o in session.get_outputs()]
        if "logits" not in outputs or [i.name for i in session.get_inputs()] != ["input"]:
            raise BundleError(f"{source}: model.onnx does not have the input/outputs its card describes")
        self.has_heatmaps = "cams" in outputs

    @classmethod
    def from_bundle(cls, path: str | Path, threads: int = 0) -> Predictor:
        """Verify and load a bundle (``threads``: ONNX Runtime intra-op threads, 0 = its default)."""
        return cls.from_read_bundle(read_bundle(path), path, threads)

    @classmethod
    def from_read_bundle(cls, bundle, path: str | Path, threads: int = 0) -> Predictor:
        """A predictor for an already verified ``read_bundle(path)`` result."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(int(threads), 0)
        try:
            session = ort.InferenceSession(bundle.onnx, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for invalid graphs
            raise BundleError(f"{path}: ONNX Runtime cannot load model.onnx ({str(exc)[:300]})") from None
        return cls(session, bundle.card, str(path))

    @property
    def size(self) -> int:
        return self.preprocess_config.size

    def load(self, source: str | Path | bytes, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Read a file or bytes (PNG/JPEG/DICOM...) into the model's ``(S, S)`` uint8 view.
        Raises ``ImageReadError``."""
        return self.read(source, name=name, max_pixels=max_pixels).view

    def read(self, source: str | Path | bytes, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
             keep_film: bool = False) -> Film:
        """Decode a file or bytes into a :class:`Film` (``keep_film``: also keep the film itself,
        scaled down for display, to draw heatmaps on). Raises ``ImageReadError`` (and its
        ``ImageRefusedError`` for files that are not chest radiographs). The warnings are the
        reader's (``LoadedImage.warnings``: degenerate image, non-frontal view, multi-frame...)."""
        try:
            image = read_image(source, name=name, max_pixels=max_pixels)
            gray = to_uint8(image)
            view = view_of(image, source, self.preprocess_config, name=name, max_pixels=max_pixels)
        except ImageReadError:
            raise
        except Exception as exc:  # a decoder bug on one odd file: that file's error, never a crash or a 500
            label = name or (str(source) if not isinstance(source, bytes) else "<upload>")
            raise ImageReadError(label, f"unexpected error while decoding ({type(exc).__name__}: {exc})") from None
        return Film(view=view, warnings=tuple(image.warnings),
                    meta=dict(image.meta), width=image.width, height=image.height,
                    display=display_film(gray) if keep_film else None)

    def predict_views(self, views: np.ndarray, heatmaps: bool = False) -> list[Prediction]:
        """Predict model-size views ``(N, S, S)`` uint8 in one ONNX Runtime call."""
        if len(views) == 0:
            return []
        x = to_model_input(np.asarray(views, dtype=np.uint8), self.mean, self.std, self.in_chans)
        want_cams = heatmaps and self.has_heatmaps
        outputs = self.session.run(["logits", "cams"] if want_cams else ["logits"], {"input": x})
        probs = _softmax(outputs[0].astype(np.float64) / self.temperature)
        results = []
        for i, row in enumerate(probs):
            label = self.classes[int(row.argmax())]
            decision = decide(row, self.classes, self.thresholds)
            explained = decision.label if decision.label in self.classes else label
            heat = None
            if want_cams:
                heat = normalize_cam(outputs[1][i, self.classes.index(explained)], (self.size, self.size))
            results.append(Prediction(
                probabilities={c: float(p) for c, p in zip(self.classes, row)},
                label=label,
                decision=decision,
                image=views[i],
                heatmap=heat,
                heatmap_class=explained if want_cams else "",
            ))
        return results


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
