"""Which layer to explain, found automatically for any registry (or timm) model.

Rule: the Grad-CAM target is the *outermost module whose output is the tensor
``model.forward_features(x)`` returns* - the last spatial feature map before the head pools it.
That is ``layer4`` for ResNets, ``features`` for DenseNet/VGG/cnn-small, ``bn2`` for EfficientNet,
``blocks`` for MobileNetV3, without a per-family table that goes stale.

A head is *CAM-able* when ``forward_head(A) == classifier(mean_hw(A))``: global average pooling
followed by one linear layer. For such heads Grad-CAM equals the classic CAM
``relu(sum_c W[k, c] * A_c)``, which needs no gradients - the exported ONNX graph computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cxrlab.errors import CxrlabError


@dataclass(frozen=True)
class TargetLayer:
    name: str
    module: nn.Module
    channels: int


def find_target_layer(model: nn.Module, in_chans: int = 1, size: int = 64) -> TargetLayer:
    """The module producing ``forward_features``' output (see the module docstring)."""
    if getattr(model, "output_fmt", "NCHW") != "NCHW":  # timm's channels-last feature maps (Swin)
        raise CxrlabError(f"{type(model).__name__}: its feature map is {model.output_fmt}, not (N, C, H, W); Grad-CAM "
                          "needs a convolutional model (token models such as ViT/Swin are not supported)")
    if not hasattr(model, "forward_features"):
        raise CxrlabError(f"{type(model).__name__} has no forward_features(): cannot pick a Grad-CAM layer")
    names = {id(m): n for n, m in model.named_modules() if n}
    calls: list[tuple[str, nn.Module, object]] = []

    def hook(module, _inputs, output):
        if id(module) in names:
            calls.append((names[id(module)], module, output))

    handles = [m.register_forward_hook(hook) for n, m in model.named_modules() if n]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            result = model.forward_features(torch.zeros(1, in_chans, size, size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    matches = [(name, module) for name, module, out in calls if out is result]
    if not matches or result.ndim != 4:
        raise CxrlabError(f"{type(model).__name__}: no module returns a final (N, C, H, W) feature map (forward_features "
                          f"gives {tuple(result.shape)}); Grad-CAM needs a convolutional model (token models such as "
                          "ViT/Swin are not supported)")
    name, module = matches[-1]  # hooks fire inner-first, so the last match is the outermost module
    return TargetLayer(name=name, module=module, channels=int(result.shape[1]))


def cam_weights(model: nn.Module, in_chans: int = 1, size: int = 64) -> torch.Tensor | None:
    """The classifier weight ``(classes, channels)`` when the head is global-average-pool + linear
    (so CAM == Grad-CAM), else ``None``. Checked numerically on a random input."""
    if not all(hasattr(model, a) for a in ("forward_features", "forward_head", "get_classifier")):
        return None
    classifier = model.get_classifier()
    if not isinstance(classifier, nn.Linear):
        return None
    was_training = model.training
    try:
        model.eval()
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            feats = model.forward_features(torch.randn(2, in_chans, size, size, generator=gen))
            if feats.ndim != 4 or feats.shape[1] != classifier.in_features:
                return None
            expected = model.forward_head(feats)
            pooled = classifier(feats.mean(dim=(2, 3)))
    finally:
        model.train(was_training)
    if expected.shape != pooled.shape or not torch.allclose(expected, pooled, atol=1e-4, rtol=1e-4):
        return None
    return classifier.weight.detach()


def class_activation_maps(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-class CAMs ``(N, classes, h, w)`` = 1x1 convolution of the feature map with the
    classifier weight (no bias, no ReLU: callers pick a class, then ReLU and normalise)."""
    return nn.functional.conv2d(features, weight[:, :, None, None])
