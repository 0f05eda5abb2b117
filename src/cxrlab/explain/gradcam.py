"""Grad-CAM for any registry model with pytorch-grad-cam, on the model's own input view.

``gradcam(model, meta, images)`` returns heatmaps and (temperature-scaled) probabilities;
``gradcam_overlays(model, meta, images)`` returns RGB uint8 overlays ready for a report or a PNG.
Images are 2-D uint8 films: raw films are preprocessed exactly like training
(``cxrlab.data.preprocess``); arrays already of the model's input size are used as they are
(pass ``preprocessed=False`` to force preprocessing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cxrlab.data.preprocess import preprocess, to_model_input
from cxrlab.errors import CxrlabError
from cxrlab.explain.overlay import overlay_heatmap
from cxrlab.explain.targets import find_target_layer


@dataclass(frozen=True)
class GradCamResult:
    images: np.ndarray  # (N, S, S) uint8: what the model saw
    cams: np.ndarray  # (N, S, S) float32 in [0, 1]
    probs: np.ndarray  # (N, classes) float32, temperature applied
    targets: np.ndarray  # (N,) int: the class each heatmap explains
    layer: str  # the target layer's module name


def model_view(meta, images: Sequence[np.ndarray], preprocessed: bool | None = None) -> np.ndarray:
    """Stack 2-D uint8 films into ``(N, S, S)`` model-size images (see the module docstring)."""
    cfg = meta.preprocess
    out = []
    for img in images:
        img = np.asarray(img)
        if img.ndim != 2 or img.dtype != np.uint8:
            raise CxrlabError(f"Grad-CAM expects 2-D uint8 gray images, got {img.dtype} {img.shape}")
        ready = img.shape == (cfg.size, cfg.size) if preprocessed is None else preprocessed
        out.append(img if ready else preprocess(img, cfg))
    return np.stack(out) if out else np.zeros((0, cfg.size, cfg.size), np.uint8)


def class_index(meta, class_name: str | None) -> int | None:
    if class_name is None:
        return None
    if class_name not in meta.classes:
        raise CxrlabError(f"--class {class_name!r} is not a class of this model ({', '.join(meta.classes)})")
    return list(meta.classes).index(class_name)


def gradcam(
    model: nn.Module,
    meta,
    images: Sequence[np.ndarray],
    target_class: str | None = None,
    batch_size: int = 16,
    preprocessed: bool | None = None,
) -> GradCamResult:
    """Grad-CAM heatmaps for ``target_class`` (default: each image's predicted class)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    view = model_view(meta, images, preprocessed)
    model = model.eval()
    layer = find_target_layer(model, meta.in_chans, meta.input_size)
    fixed = class_index(meta, target_class)
    device = next(model.parameters()).device
    cams, logits = [], []
    with GradCAM(model=model, target_layers=[layer.module], reshape_transform=layer.reshape) as cam:
        for start in range(0, len(view), batch_size):
            x = torch.from_numpy(to_model_input(view[start:start + batch_size], meta.mean, meta.std, meta.in_chans))
            targets = None if fixed is None else [ClassifierOutputTarget(fixed)] * len(x)
            cams.append(cam(input_tensor=x.to(device), targets=targets))
            logits.append(cam.outputs.detach().cpu().float().numpy())
    logits_all = np.concatenate(logits) if logits else np.zeros((0, meta.num_classes), np.float32)
    probs = _softmax(logits_all / float(meta.temperature or 1.0))
    chosen = np.full(len(view), fixed) if fixed is not None else logits_all.argmax(axis=1)
    heat = np.concatenate(cams).astype(np.float32) if cams else np.zeros(view.shape, np.float32)
    return GradCamResult(view, np.clip(heat, 0.0, 1.0), probs.astype(np.float32), chosen.astype(int), layer.name)


def gradcam_overlays(
    model: nn.Module,
    meta,
    images_uint8: Sequence[np.ndarray],
    target_class: str | None = None,
    preprocessed: bool | None = None,
) -> list[np.ndarray]:
    """RGB uint8 overlays ``(S, S, 3)`` of Grad-CAM on the model's view of each image."""
    result = gradcam(model, meta, images_uint8, target_class, preprocessed=preprocessed)
    return [overlay_heatmap(img, cam) for img, cam in zip(result.images, result.cams)]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
