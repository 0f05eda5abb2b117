"""The training loss of a run from its config: the imbalance loss, optionally group DRO over
(class, source) cells, optionally the source adversary on top; and the per-sample source index
the training set must then yield (``None`` when the loss does not need it)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cxrlab.train.adversary import FeatureTap, SourceAdversarialLoss
from cxrlab.train.config import TrainConfig
from cxrlab.train.train_data import TRAIN, TrainData
from cxrlab.train.group_dro import GroupDROLoss, cell_counts, source_ids
from cxrlab.train.losses import build_criterion


def needs_sources(cfg: TrainConfig) -> bool:
    return cfg.loss.imbalance == "group-dro" or cfg.loss.source_adversary > 0


def train_source_ids(cfg: TrainConfig, data: TrainData) -> tuple[np.ndarray | None, list[str]]:
    """Source index per training row and the source names; ``(None, [])`` when not needed."""
    if not needs_sources(cfg):
        return None, []
    return source_ids(data.split(TRAIN)["source"].to_numpy())


def build_run_criterion(cfg: TrainConfig, data: TrainData, model: nn.Module, device: torch.device,
                        sources: np.ndarray | None, source_names: list[str]) -> nn.Module:
    """The loss ``train_one_epoch`` calls as ``criterion(logits, target[, source])``."""
    classes = list(data.scheme.classes)
    targets = data.split(TRAIN)["target"].to_numpy()
    counts = cell_counts(targets, sources, len(classes), len(source_names)) if sources is not None else None
    if cfg.loss.imbalance == "group-dro":
        criterion = GroupDROLoss(counts, cfg.loss.dro_eta, cfg.loss.dro_adjustment, cfg.loss.label_smoothing,
                                 classes, source_names)
    else:
        criterion = build_criterion(cfg.loss.imbalance, targets, len(classes), cfg.loss.focal_gamma,
                                    cfg.loss.label_smoothing)
    if cfg.loss.source_adversary > 0:
        criterion = SourceAdversarialLoss(criterion, FeatureTap(model), counts, cfg.loss.source_adversary,
                                          min_films=cfg.loss.adversary_min_films)
    return criterion.to(device)
