"""torch model -> ONNX graph with a dynamic batch, and the ONNX Runtime vs PyTorch parity check.

The graph has input ``input`` ``(batch, in_chans, S, S)`` float32 and outputs ``logits``
``(batch, classes)``; for CAM-able heads (global average pool + linear; see
:mod:`cxrlab.explain.targets`) ``cams`` ``(batch, classes, h, w)``: the class activation maps,
which for these heads equal Grad-CAM exactly - so the torch-free service can draw heatmaps; and,
for models with a timm-style ``forward_head(x, pre_logits=True)``, ``features`` ``(batch, D)``: the
pooled penultimate features (what ``cxrlab site-check`` compares between training and a new site).
Every consumer reads outputs by name, so bundles with fewer outputs still load.

Exporters: ``torchscript`` (``dynamo=False``) exports every registry model at multiples of 32
pixels in about a second; ``dynamo`` (torch.export, the default in recent torch) exports every
registry model at any size, including VGG16 below 224 px, but is ~10x slower. ``auto`` tries
TorchScript and falls back to dynamo. Parity is checked whichever is used.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cxrlab.errors import CxrlabError
from cxrlab.explain.targets import cam_weights, class_activation_maps

OPSET = 18
EXPORTERS = ("auto", "torchscript", "dynamo")


class ExportError(CxrlabError):
    """The model could not be exported, or the exported graph disagrees with PyTorch."""


class BundleGraph(nn.Module):
    """What goes into ONNX: logits, per-class activation maps when the head allows it, and the
    pooled penultimate features when the model exposes them."""

    def __init__(self, model: nn.Module, with_cams: bool, with_features: bool = False) -> None:
        super().__init__()
        self.model = model
        self.with_cams = with_cams
        self.with_features = with_features

    def forward(self, x: torch.Tensor):
        if not (self.with_cams or self.with_features):
            return self.model(x)
        feats = self.model.forward_features(x)
        logits = self.model.forward_head(feats)
        outputs = [logits]
        if self.with_cams:
            outputs.append(class_activation_maps(feats, self.model.get_classifier().weight))
        if self.with_features:
            outputs.append(feats.mean(dim=(2, 3)) if self.with_cams else pooled_features(self.model, feats))
        return tuple(outputs)

    @property
    def output_names(self) -> list[str]:
        return ["logits"] + (["cams"] if self.with_cams else []) + (["features"] if self.with_features else [])


def pooled_features(model: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    """``forward_head(feats, pre_logits=True)``, averaged over space when it is still a map
    (VGG's pre-logits are convolutional), so the result is always ``(batch, D)``."""
    pre = model.forward_head(feats, pre_logits=True)
    return pre.mean(dim=tuple(range(2, pre.ndim))) if pre.ndim > 2 else pre.flatten(1)


def _has_pre_logits(model: nn.Module, in_chans: int, size: int) -> bool:
    """Whether ``forward_head(x, pre_logits=True)`` works and gives per-image features."""
    if not all(hasattr(model, a) for a in ("forward_features", "forward_head")):
        return False
    try:
        with torch.no_grad():
            out = pooled_features(model, model.forward_features(torch.zeros(2, in_chans, size, size)))
    except Exception:  # a model without a pre_logits argument, or one that does not support it
        return False
    return out.ndim == 2 and out.shape[0] == 2 and out.shape[1] > 0


def bundle_graph(model: nn.Module, in_chans: int, size: int, features: bool = True) -> BundleGraph:
    model = model.eval()
    cams = cam_weights(model, in_chans, size) is not None  # the model's own size: ViT-like models take no other
    with_features = features and _has_pre_logits(model, in_chans, size)
    return BundleGraph(model, cams, with_features).eval()


def export_onnx(graph: BundleGraph, in_chans: int, size: int, exporter: str = "auto") -> tuple[bytes, str]:
    """Serialise ``graph`` to ONNX bytes; returns ``(bytes, exporter used)``."""
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}: use one of {', '.join(EXPORTERS)}")
    sample = torch.zeros(2, in_chans, size, size)
    tries = ["torchscript", "dynamo"] if exporter == "auto" else [exporter]
    failures = []
    for name in tries:
        try:
            return _export(graph, sample, name), name
        except Exception as exc:  # exporters raise many error types
            failures.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
    raise ExportError("ONNX export failed (" + "; ".join(failures) + ")")


def _export(graph: BundleGraph, sample: torch.Tensor, exporter: str) -> bytes:
    names = graph.output_names
    buf = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(graph, (sample,), buf, input_names=["input"], output_names=names, opset_version=OPSET,
                              dynamic_axes={n: {0: "batch"} for n in ["input", *names]}, dynamo=False)
        else:
            torch.onnx.export(graph, (sample,), buf, input_names=["input"], output_names=names, opset_version=OPSET,
                              dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), dynamo=True,
                              verbose=False, optimize=True)
    return buf.getvalue()


@dataclass(frozen=True)
class Parity:
    logits_max_abs_diff: float
    probs_max_abs_diff: float
    cams_max_rel_diff: float | None  # max |diff| / max |cam| (None without a cams output)
    samples: int
    features_max_rel_diff: float | None = None  # max |diff| / max |feature| (None without features)


def check_parity(onnx_bytes: bytes, graph: BundleGraph, inputs: np.ndarray, temperature: float = 1.0) -> Parity:
    """Run ``inputs`` through ONNX Runtime (all at once and one by one, which exercises the
    dynamic batch) and through PyTorch; return the largest differences."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    names = graph.output_names
    with torch.no_grad():
        ref = graph(torch.from_numpy(inputs))
    ref = dict(zip(names, [t.numpy() for t in (ref if isinstance(ref, tuple) else (ref,))]))
    batched = dict(zip(names, session.run(names, {"input": inputs})))
    single = [session.run(names, {"input": inputs[i:i + 1]}) for i in range(len(inputs))]
    singles = {n: np.concatenate([s[k] for s in single]) for k, n in enumerate(names)}
    diff_logits = max(_max_abs(batched["logits"], ref["logits"]), _max_abs(singles["logits"], ref["logits"]))
    t = float(temperature or 1.0)
    diff_probs = _max_abs(_softmax(batched["logits"] / t), _softmax(ref["logits"] / t))
    rel = {}
    for name in ("cams", "features"):
        if name in ref:
            scale = max(float(np.abs(ref[name]).max()), 1e-6)
            rel[name] = max(_max_abs(batched[name], ref[name]), _max_abs(singles[name], ref[name])) / scale
    return Parity(diff_logits, diff_probs, rel.get("cams"), len(inputs), rel.get("features"))


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ExportError(f"ONNX output shape {a.shape} differs from PyTorch {b.shape}")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
