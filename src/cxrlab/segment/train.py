"""Train the compact U-Net on paired films/masks (CPU-sized), keep the best epoch by val Dice."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from cxrlab.errors import ConfigError
from cxrlab.segment.checkpoint import make_seg_meta, save_segmenter
from cxrlab.segment.pairs import PairedData
from cxrlab.segment.predict import MEAN, STD, predict_probs, to_tensor
from cxrlab.segment.unet import UNet, dice_bce_loss


@dataclass(frozen=True)
class SegTrainConfig:
    size: int = 128
    width: int = 16
    depth: int = 4
    epochs: int = 15
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    seed: int = 0
    max_minutes: float = 0.0  # stop after the epoch that passes this (0 = no limit)
    threads: int = 0  # torch intra-op threads (0 = torch's default); 1 is much faster on a busy machine

    def __post_init__(self) -> None:
        step = 2 ** (self.depth + 1)
        if self.size % step or not 32 <= self.size <= 1024:
            raise ConfigError(f"segment size must be in 32..1024 and divisible by {step}, got {self.size}")
        if self.epochs < 1 or self.batch_size < 1 or not 0 < self.val_fraction < 1:
            raise ConfigError("segment epochs and batch size must be >= 1 and val_fraction in (0, 1)")


@dataclass(frozen=True)
class SegTrainResult:
    checkpoint: Path
    best_epoch: int
    metrics: dict[str, float]  # val dice / iou (mean over films) of the best epoch
    history: list[dict[str, float]]
    seconds: float


def augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Same random affine (rotate ±10°, scale 0.9-1.1, shift ±6%, mirror) on films and masks, plus
    per-film gamma/contrast/brightness jitter on the films."""
    n = x.shape[0]
    r = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)  # noqa: E731
    angle, scale = r(-10, 10) * math.pi / 180, r(0.9, 1.1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, r(-0.12, 0.12)], 1), torch.stack([sin * flip, cos, r(-0.12, 0.12)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    raw = (x * STD + MEAN).clamp(0, 1)
    raw = F.grid_sample(raw, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = (F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.5).float()
    raw = raw.clamp(1e-4, 1) ** r(0.7, 1.4).view(n, 1, 1, 1)
    raw = (raw - 0.5) * r(0.8, 1.2).view(n, 1, 1, 1) + 0.5 + r(-0.08, 0.08).view(n, 1, 1, 1)
    return (raw.clamp(0, 1) - MEAN) / STD, y


def train_segmenter(
    data: PairedData, cfg: SegTrainConfig, out: str | Path, log: Callable[[str], None] = print, data_info: dict | None = None
) -> SegTrainResult:
    """Train on ``data``'s train split, validate on its val split each epoch, save the best to ``out/checkpoint``."""
    out = Path(out)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    x_train, y_train = data.subset("train")
    x_val, y_val = data.subset("val")
    if len(x_train) == 0 or len(x_val) == 0:
        raise ConfigError(f"segment training needs films in both splits (train {len(x_train)}, val {len(x_val)})")
    xt, yt = to_tensor(x_train), torch.from_numpy(y_train).float()[:, None]
    model = UNet(width=cfg.width, depth=cfg.depth)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(xt) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    history: list[dict[str, float]] = []
    best = (-1.0, 0, {})
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        loss = _train_epoch(model, opt, sched, xt, yt, cfg.batch_size, gen)
        dice, iou = evaluate_masks(model, x_val, y_val)
        row = {"epoch": epoch, "train_loss": loss, "val_dice": dice, "val_iou": iou, "seconds": time.perf_counter() - start}
        history.append(row)
        log(f"epoch {epoch}/{cfg.epochs}  loss {loss:.4f}  val Dice {dice:.4f}  IoU {iou:.4f}  ({row['seconds']:.0f} s)")
        if dice > best[0]:
            metrics = {"val_dice": dice, "val_iou": iou, "train_films": len(xt), "val_films": len(x_val)}
            meta = make_seg_meta(architecture="unet", width=cfg.width, depth=cfg.depth, size=cfg.size, mean=MEAN, std=STD,
                                 epoch=epoch, metrics=metrics, data=data_info or {}, config=asdict(cfg))
            save_segmenter(out / "checkpoint", model, meta)
            best = (dice, epoch, metrics)
        if cfg.max_minutes and row["seconds"] > cfg.max_minutes * 60:
            log(f"stopping after epoch {epoch}: time limit of {cfg.max_minutes} min reached")
            break
    return SegTrainResult(out / "checkpoint", best[1], best[2], history, time.perf_counter() - start)


def _train_epoch(model, opt, sched, xt: torch.Tensor, yt: torch.Tensor, batch_size: int, gen: torch.Generator) -> float:
    model.train()
    order = torch.randperm(len(xt), generator=gen)
    total, count = 0.0, 0
    for i in range(0, len(xt), batch_size):
        idx = order[i:i + batch_size]
        if len(idx) < 2:  # BatchNorm needs 2+ samples
            continue
        x, y = augment(xt[idx], yt[idx], gen)
        loss = dice_bce_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total, count = total + loss.item() * len(idx), count + len(idx)
    return total / max(count, 1)


def evaluate_masks(model, images: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> tuple[float, float]:
    """Mean per-film Dice and IoU of the thresholded predictions against ``masks``."""
    from cxrlab.segment.lungs import dice_iou

    probs = predict_probs(model, images)
    scores = np.array([dice_iou(p >= threshold, m) for p, m in zip(probs, masks)])
    return float(scores[:, 0].mean()), float(scores[:, 1].mean())
