"""A compact U-Net (Ronneberger et al. 2015) for one-class lung-field segmentation on CPU."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A stride-2 stem, an encoder of ``depth`` down-sampling stages (widths ``width * 2**k``), a
    mirrored decoder with skip connections and a 1x1 head whose half-resolution logits are
    upsampled bilinearly. The stem keeps CPU training cheap (no full-resolution double convs);
    lung borders are smooth, so little is lost. Input ``(N, 1, H, W)`` with H, W divisible by
    ``2**(depth+1)``; output ``(N, 1, H, W)`` logits."""

    def __init__(self, width: int = 16, depth: int = 4, in_chans: int = 1) -> None:
        super().__init__()
        widths = [width * 2**k for k in range(depth + 1)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        self.down = nn.ModuleList([_conv_block(widths[0], widths[0])])
        self.down.extend(_conv_block(widths[k], widths[k + 1]) for k in range(depth))
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2) for k in reversed(range(depth)))
        self.merge = nn.ModuleList(_conv_block(2 * widths[k], widths[k]) for k in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], 1, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = self.stem(x)
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return F.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy + soft Dice loss (per image, averaged), ``target`` float 0/1."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    tgt = target.flatten(1)
    dice = (2 * (prob * tgt).sum(1) + eps) / (prob.sum(1) + tgt.sum(1) + eps)
    return bce + (1 - dice).mean()
