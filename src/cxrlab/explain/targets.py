"""Which layer to explain, found automatically for any registry (or timm) model.

Rule: the Grad-CAM target is the *outermost module whose output is the tensor
``model.forward_features(x)`` returns* - the last spatial feature map before the head pools it.
That is ``layer4`` for ResNets, ``features`` for DenseNet/VGG/cnn-small, ``bn2`` for EfficientNet,
``blocks`` for MobileNetV3, without a per-family table that goes stale.

Token models get a ``reshape`` that turns the layer's output into ``(N, C, h, w)`` (what pytorch-grad-cam
calls a ``reshape_transform``):

- channels-last maps (timm's Swin, ``output_fmt == "NHWC"``): the same rule, permuted to NCHW;
- ViT-style models (``blocks``, ``patch_embed``, ``num_prefix_tokens``: ViT, DeiT, BEiT, EVA...): the
  *input norm of the last block* (``blocks.<last>.norm1``), its class/register tokens dropped and the patch
  tokens laid back on the patch grid. Not the final norm: a class-token head reads only the class token
  there, so the patch tokens would get no gradient; before the last attention they still reach it.

A head is *CAM-able* when ``forward_head(A) == classifier(mean_hw(A))``: global average pooling
followed by one linear layer. For such heads Grad-CAM equals the classic CAM
``relu(sum_c W[k, c] * A_c)``, which needs no gradients - the exported ONNX graph computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cxrlab.errors import CxrlabError


@dataclass(frozen=True)
class TargetLayer:
    name: str
    module: nn.Module
    channels: int
    reshape: Callable[[torch.Tensor], torch.Tensor] | None = None  # layer output -> (N, C, h, w); None = as is


def find_target_layer(model: nn.Module, in_chans: int = 1, size: int = 64) -> TargetLayer:
    """The layer Grad-CAM explains, and how its output becomes a map (see the module docstring)."""
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
    if result.ndim == 3:
        return _token_layer(model, names, calls, result)
    if not matches or result.ndim != 4:
        raise CxrlabError(f"{type(model).__name__}: no module returns a final feature map (forward_features gives "
                          f"{tuple(result.shape)}); Grad-CAM needs an (N, C, H, W) map, an NHWC one or ViT-style tokens")
    name, module = matches[-1]  # hooks fire inner-first, so the last match is the outermost module
    if getattr(model, "output_fmt", "NCHW") == "NHWC":  # timm's channels-last feature maps (Swin)
        return TargetLayer(name=name, module=module, channels=int(result.shape[3]), reshape=channels_last_to_first)
    return TargetLayer(name=name, module=module, channels=int(result.shape[1]))


def channels_last_to_first(x: torch.Tensor) -> torch.Tensor:
    """``(N, H, W, C)`` -> ``(N, C, H, W)``."""
    return x.permute(0, 3, 1, 2)


@dataclass(frozen=True)
class TokensToGrid:
    """``(N, prefix + h*w, C)`` tokens -> ``(N, C, h, w)``: drops the class/register tokens, patches row-major.

    pytorch-grad-cam's own ``vit_reshape_transform`` drops exactly one token, which misplaces every patch of
    a distilled DeiT (two prefix tokens) or a model with register tokens; this takes the model's count."""

    prefix: int
    grid: tuple[int, int]

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        h, w = self.grid
        patches = tokens[:, self.prefix:, :]
        return patches.reshape(patches.shape[0], h, w, patches.shape[2]).permute(0, 3, 1, 2)


def _token_layer(model: nn.Module, names: dict, calls: list, result: torch.Tensor) -> TargetLayer:
    blocks = getattr(model, "blocks", None)
    norm1 = getattr(blocks[-1], "norm1", None) if isinstance(blocks, nn.Sequential | nn.ModuleList) and blocks else None
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    prefix = getattr(model, "num_prefix_tokens", None)
    if norm1 is None or grid is None or prefix is None:
        raise CxrlabError(f"{type(model).__name__}: forward_features gives tokens {tuple(result.shape)} but the model "
                          "has no ViT-style blocks[-1].norm1 / patch_embed.grid_size / num_prefix_tokens to lay "
                          "them on a grid; Grad-CAM is not supported for it")
    grid = (int(grid[0]), int(grid[1]))
    seen = next((out for _, module, out in calls if module is norm1), None)
    if seen is None or seen.ndim != 3 or seen.shape[1] != prefix + grid[0] * grid[1]:
        shape = None if seen is None else tuple(seen.shape)
        raise CxrlabError(f"{type(model).__name__}: the last block's norm1 gives {shape}, not {prefix} prefix tokens "
                          f"+ a {grid[0]}x{grid[1]} patch grid; Grad-CAM is not supported for it")
    return TargetLayer(name=names[id(norm1)], module=norm1, channels=int(seen.shape[2]),
                       reshape=TokensToGrid(prefix, grid))


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
