"""Training augmentation for chest films (torchvision transforms v2) and the model-input
normalisation, which mirrors :func:`cxrlab.data.preprocess.to_model_input` exactly.

Augmentation works on the cached ``uint8 (1, H, W)`` tensor: small rotation / translation /
scale, brightness / contrast / gamma, mild Gaussian noise and blur, optionally a "web copy"
degradation (shrink, enlarge, JPEG). No vertical flip (films are
never upside down) and horizontal flip off by default (the heart is on the left: laterality is
anatomy, and a flipped film is not a plausible film).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from cxrlab.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation for chest films: small geometry and exposure changes, no vertical flip."""

    enabled: bool = True
    rotation: float = 7.0  # degrees, +/-
    translate: float = 0.05  # fraction of the size, +/-
    scale: float = 0.08  # +/- fraction
    brightness: float = 0.15
    contrast: float = 0.15
    gamma: float = 0.15  # gamma drawn in [1 - g, 1 + g]
    noise: float = 0.02  # std of Gaussian noise on the 0-1 scale (0 = off)
    blur_p: float = 0.1  # probability of a mild Gaussian blur
    hflip_p: float = 0.0  # off by default: laterality (heart on the left) is anatomy, not noise
    # probability of a "web copy": downscaled, upscaled and JPEG-compressed again; off by default:
    # better on the unseen ieee8023 source, worse on unseen COVID-QU-Ex (benchmarks/results/loso_adult.md)
    degrade_p: float = 0.0
    # batch mixing during training (cxrlab.train.batch_mix): the alpha of Beta(alpha, alpha) that draws
    # the mixing weight of MixUp (pixel blend of two films and their labels) and CutMix (a patch of one
    # film pasted on another); 0 = off, both > 0 = one of the two per batch
    mixup: float = 0.0
    cutmix: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rotation", "translate", "scale", "brightness", "contrast", "gamma", "noise", "mixup", "cutmix"):
            if getattr(self, name) < 0:
                raise ConfigError(f"augment.{name} must be >= 0")
        for name in ("blur_p", "hflip_p", "degrade_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"augment.{name} must be a probability in [0, 1]")


class RandomGamma(v2.Transform):
    """Gamma correction with gamma drawn uniformly from ``[1 - amount, 1 + amount]``."""

    def __init__(self, amount: float) -> None:
        super().__init__()
        self.amount = amount

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        low, high = max(1.0 - self.amount, 0.05), 1.0 + self.amount
        return {"gamma": float(torch.empty(1).uniform_(low, high))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return F.adjust_gamma(inpt, params["gamma"])


class RandomDegrade(v2.Transform):
    """What a film goes through on its way into a paper or a web collection: shrunk to 35-80 % of
    its size, enlarged back (bilinear) and JPEG-compressed at quality 30-85 - on ``uint8`` tensors.
    Public COVID sources are such copies and the normal films mostly are not; making every class
    look like both teaches the model that this look is not a finding."""

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"factor": float(torch.empty(1).uniform_(0.35, 0.8)), "quality": int(torch.randint(30, 86, (1,)))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        h, w = inpt.shape[-2:]
        small = F.resize(inpt, [max(8, round(h * params["factor"])), max(8, round(w * params["factor"]))], antialias=True)
        return _jpeg(F.resize(small, [h, w], antialias=False), params["quality"])


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of a ``uint8 (1, H, W)`` tensor with Pillow (torchvision's encoder is deprecated)."""
    buffer = io.BytesIO()
    Image.fromarray(image[0].numpy()).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return torch.from_numpy(np.asarray(Image.open(buffer), dtype=np.uint8).copy())[None]


def build_augment(cfg: AugmentConfig, size: int) -> v2.Transform | None:
    """The training augmentation for ``uint8 (1, size, size)`` tensors, or None when disabled.

    Randomness comes from torch's global generator; :class:`cxrlab.data.torch_dataset.CachedImageDataset`
    seeds it per (seed, epoch, sample) so every run and every resume sees the same augmentations.
    """
    if not cfg.enabled:
        return None
    steps: list[v2.Transform] = []
    if cfg.degrade_p > 0:
        steps.append(v2.RandomApply([RandomDegrade()], p=cfg.degrade_p))
    if cfg.hflip_p > 0:
        steps.append(v2.RandomHorizontalFlip(cfg.hflip_p))
    if cfg.rotation or cfg.translate or cfg.scale:
        steps.append(v2.RandomAffine(
            degrees=cfg.rotation,
            translate=(cfg.translate, cfg.translate) if cfg.translate else None,
            scale=(1 - cfg.scale, 1 + cfg.scale) if cfg.scale else None,
            interpolation=v2.InterpolationMode.BILINEAR,
        ))
    if cfg.brightness or cfg.contrast:
        steps.append(v2.ColorJitter(brightness=cfg.brightness or None, contrast=cfg.contrast or None))
    if cfg.gamma:
        steps.append(RandomGamma(cfg.gamma))
    if cfg.noise:
        steps.append(v2.RandomApply([v2.GaussianNoise(sigma=cfg.noise)], p=0.5))
    if cfg.blur_p:
        kernel = max(3, (size // 64) * 2 + 1)
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 1.0))], p=cfg.blur_p))
    return v2.Compose(steps) if steps else None


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float], in_chans: int = 1) -> torch.Tensor:
    """uint8 ``(..., 1, H, W)`` -> float32 ``(..., in_chans, H, W)``: ``(x / 255 - mean) / std``.

    The same arithmetic, in the same order and precision, as ``to_model_input`` (numpy), which the
    ONNX predictor and the service use; ``tests/test_dataset.py`` checks they agree.
    """
    x = images.to(torch.float32) / 255.0
    if in_chans > 1:
        x = x.repeat_interleave(in_chans, dim=-3)
    shape = (-1, 1, 1)
    m = torch.as_tensor(mean, dtype=torch.float32).reshape(shape)
    s = torch.as_tensor(std, dtype=torch.float32).reshape(shape)
    return (x - m) / s
