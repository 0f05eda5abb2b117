"""``load_checkpoint``: rebuild a model from a checkpoint folder alone (architecture, classes and
input channels from ``checkpoint.json``, weights checked against their SHA-256)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cxrlab.artifacts.calibration import calibrated, read_calibration
from cxrlab.artifacts.checkpoint import read_meta, read_weights, resolve_checkpoint_dir
from cxrlab.artifacts.checkpoint_meta import CheckpointMeta
from cxrlab.models.registry import create_model


def load_checkpoint(path: str | Path, which: str = "best", device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """``(model in eval mode, meta)`` for a run or checkpoint folder. ``meta`` carries the run's
    calibration (:func:`cxrlab.artifacts.calibration.read_calibration`: the temperature and
    thresholds ``cxrlab evaluate`` fitted for these weights, else the checkpoint's own)."""
    folder = resolve_checkpoint_dir(path, which)
    meta = calibrated(read_meta(folder), read_calibration(folder))
    model = create_model(meta.architecture, meta.num_classes, in_chans=meta.in_chans, pretrained=False,
                         img_size=meta.input_size)
    model.load_state_dict(read_weights(folder))
    return model.to(device).eval(), meta
