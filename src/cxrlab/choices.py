"""The fixed sets of values some config fields take, as ``Literal`` types: the one place each set is
written. The config dataclasses annotate their fields with them, ``cxrlab.config.from_dict`` checks
loaded values against them (a ``ConfigError`` naming the key, the value and the choices), and the
CLI's options take them as their types (Typer turns a ``Literal`` into a choice). Nothing heavy is
imported here, so the CLI can use them at start-up.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

#: ``PreprocessConfig.resize``: ignore the aspect, pad to square with black, or crop the long side.
ResizeMode = Literal["stretch", "letterbox", "center-crop"]
#: ``PreprocessConfig.equalize``: none, global histogram, CLAHE, or 1-99 % percentile windowing.
EqualizeMode = Literal["none", "hist", "clahe", "window"]
#: ``PreprocessConfig.crop``: the whole film, or its lung box (``lung_*`` manifest columns).
CropMode = Literal["none", "lungs"]
#: Which films train: every film, or adults only (pediatric train/val films dropped).
TrainPopulation = Literal["all", "adult"]
#: ``LossConfig.imbalance``: how class imbalance is handled.
Imbalance = Literal["none", "weighted-loss", "sampler", "focal"]
#: Values that were choices once and left the product because leave-one-source-out measured no gain
#: with them; a config that still names one is told why (docs/train.md, "Removed options").
REMOVED_CHOICES = {
    "source-balanced": "source-balanced sampling was removed: over two seeds it did no better than the "
                       "default class-balanced sampler on an unseen source (docs/train.md, 'Removed options'); "
                       "use sampler",
    "group-dro": "group DRO was removed: it did no better than the default class-balanced sampler on an unseen "
                 "source (docs/train.md, 'Removed options'); use sampler",
}
#: ``TrainConfig.monitor``: the validation metric that picks the best epoch.
Monitor = Literal["val_macro_f1", "val_auc", "val_loss", "val_accuracy"]
#: ``TrainConfig.amp``: mixed precision.
Amp = Literal["auto", "off", "bf16", "fp16"]


def choices(literal: Any) -> tuple[str, ...]:
    """The values a ``Literal`` type allows, in order."""
    return typing.get_args(literal)
