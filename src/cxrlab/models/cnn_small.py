"""``cnn-small``: a compact CNN for 1-channel chest X-rays, trained from scratch.

Design: a stride-2 stem, then four stages of two 3x3 conv-BN-ReLU layers with doubling width and
max-pooling, global average pooling, dropout and a linear head (L2 via the optimiser's weight
decay). About 1.2 M parameters; BatchNorm makes it train stably with AdamW from scratch.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 1, widths=(32, 64, 128, 256), drop_rate: float = 0.3):
        super().__init__()
        stem = widths[0] // 2
        layers: list[nn.Module] = [_conv_bn(in_chans, stem, stride=2)]
        prev = stem
        for width in widths:
            layers += [_conv_bn(prev, width), _conv_bn(width, width), nn.MaxPool2d(2)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(prev, num_classes)
        self.num_classes = num_classes
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier
