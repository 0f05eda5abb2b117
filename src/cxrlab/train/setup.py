"""Build everything a run needs from its config: data, model, loaders, loss, optimizer, schedule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from cxrlab.errors import ConfigError
from cxrlab.train.batch_mix import BatchMix, build_batch_mix
from cxrlab.train.config import TrainConfig
from cxrlab.train.train_data import TrainData
from cxrlab.train.distributed import DistContext
from cxrlab.train.history import RunLog
from cxrlab.train.loop import StepContext


@dataclass
class Run:
    """Everything the epoch loop needs."""

    cfg: TrainConfig
    ctx: DistContext
    run_dir: Path
    data: TrainData
    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    step: StepContext
    log: RunLog
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights_origin: dict
    ema: nn.Module | None = None  # timm ModelEmaV3 of ``model`` (optim.ema_decay > 0)
    mix: BatchMix | None = None  # MixUp / CutMix of the training batches (augment.mixup / cutmix > 0)

    @property
    def evaluated(self) -> nn.Module:
        """The weights that are validated and saved: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.model


def cpu_has_fast_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 autocast is then several times faster than fp32 (see benchmarks)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype. ``auto``: on GPU bf16 (fp16 where bf16 is missing); on CPU bf16 when the CPU
    has native bf16 (AVX512-BF16/AMX), else fp32."""
    cuda = device.type == "cuda"
    if amp == "off" or (amp == "auto" and not cuda and not cpu_has_fast_bf16()):
        return None
    if amp == "auto" and not cuda:
        return torch.bfloat16
    if amp == "fp16" and not cuda:
        raise ConfigError("amp=fp16 needs a GPU; use amp=bf16 (or off) on CPU")
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def setup_run(cfg: TrainConfig, ctx: DistContext, run_dir: Path, log: RunLog, resumed: bool = False) -> Run:
    from cxrlab.artifacts.run_folder import RunFolder
    from cxrlab.data.manifest import read_manifest, write_manifest
    from cxrlab.labels import load_scheme
    from cxrlab.models.registry import model_info
    from cxrlab.train.train_data import apply_population, load_train_data, make_datasets

    scheme = load_scheme(cfg.data.scheme)
    df, population_notes = apply_population(read_manifest(cfg.data.manifest), cfg.data.population, scheme)
    data = load_train_data(df, scheme, cfg.data.cache_dir, cfg.data.preprocess, ctx, cfg.data.cache_workers,
                           progress=cfg.progress and ctx.is_main, source=cfg.data.manifest)
    data.notes.extend(population_notes)
    for note in population_notes:
        log(note)
    if ctx.is_main and not resumed:
        write_manifest(data.rows.drop(columns=["target", "cache_row"]), RunFolder(run_dir).split_manifest)
    _log_data(log, data, ctx)
    info = model_info(cfg.model.name)
    mean, std = (float(info.mean),), (float(info.std),)
    device = torch.device(ctx.device)
    model = _build_model(cfg, len(scheme.classes), device, resumed)
    from cxrlab.models.registry import weights_origin

    origin = weights_origin(cfg.model.name, cfg.model.weights, cfg.model.pretrained)
    if origin:
        log(f"initial weights: {origin.get('package') or origin.get('file') or origin.get('model')} "
            f"{origin.get('sha256', '')[:12]}")
    size_note = input_size_note(origin, cfg.data.preprocess.size)
    if size_note:
        log(size_note)
    train_ds, val_ds = make_datasets(data, mean, std, cfg.model.in_chans, cfg.augment, cfg.data.preprocess.size,
                                     cfg.seed)
    train_loader, val_loader = _loaders(cfg, ctx, train_ds, val_ds, device)
    from cxrlab.train.losses import build_criterion

    criterion = build_criterion(cfg.loss.imbalance, train_ds.targets, len(data.scheme.classes),
                                cfg.loss.focal_gamma, cfg.loss.label_smoothing).to(device)
    from cxrlab.train.optim import build_optimizer, build_scheduler

    optimizer = build_optimizer(model, cfg.optim, cfg.model.backbone_lr_mult)
    scheduler = build_scheduler(optimizer, cfg.optim, len(train_loader), cfg.epochs)
    dtype = amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    step = StepContext(device, dtype, cfg.channels_last, cfg.optim.grad_clip)
    log(f"model {cfg.model.name} on {device} x{ctx.world}, amp={dtype}, channels_last={cfg.channels_last}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    lag = average_lag_note(cfg.optim.ema_decay, len(train_loader) * cfg.epochs)
    if lag:
        data.notes.append(lag)
        log(lag)
    return Run(cfg, ctx, run_dir, data, model, train_loader, val_loader, criterion, optimizer, scheduler,
               scaler, step, log, mean, std, origin, _weight_average(model, cfg.optim.ema_decay),
               build_batch_mix(cfg.augment, len(data.scheme.classes)))


def input_size_note(origin: dict, size: int) -> str:
    """A line for the log when the initial weights were trained at another input size ("" if not)."""
    native = origin.get("input_size")
    if not native or int(native) == size:
        return ""
    return f"the initial weights were trained on {native} px images; this run trains at {size} px (--size)"


def average_lag_note(decay: float, steps: int) -> str:
    """A warning when a moving average of ``decay`` over ``steps`` steps still leans on the initial
    weights (more than 10 % of it at the last step), with the decay that would not ("" if fine)."""
    if decay <= 0 or steps <= 0 or decay ** steps <= 0.10:
        return ""
    suggested = 0.01 ** (1 / steps)
    return (f"optim.ema_decay={decay:g} over {steps} steps: the average still holds {decay ** steps:.0%} of the "
            f"initial weights at the end; use optim.ema_decay={suggested:.4f} or less for this run's length")


def _weight_average(model: nn.Module, decay: float):
    """timm's per-step exponential moving average of ``model`` (None when ``decay`` is 0)."""
    if decay <= 0:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay)


def _log_data(log: RunLog, data: TrainData, ctx: DistContext) -> None:
    for name in sorted(set(data.rows["split"])):
        log(f"{name}: {len(data.split(name))} images {data.class_counts(name)}")
    if data.excluded:
        log(f"excluded by scheme {data.scheme.name}: {dict(data.excluded)}")
    for path, reason in data.unreadable.items():
        log(f"unreadable, skipped: {path}: {reason}")


def _build_model(cfg: TrainConfig, num_classes: int, device: torch.device, resumed: bool) -> nn.Module:
    from cxrlab.models.registry import create_model

    torch.manual_seed(cfg.seed)
    m = cfg.model
    model = create_model(m.name, num_classes, in_chans=m.in_chans, pretrained=m.pretrained and not resumed,
                         weights=None if resumed else m.weights, drop_rate=m.drop_rate,
                         img_size=cfg.data.preprocess.size)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _loaders(cfg: TrainConfig, ctx: DistContext, train_ds, val_ds, device) -> tuple[DataLoader, DataLoader]:
    from cxrlab.train.sampling import build_eval_sampler, build_train_sampler

    balanced = cfg.loss.imbalance == "sampler"
    if cfg.samples_per_epoch and not balanced:
        raise ConfigError("samples_per_epoch needs the class-balanced sampler (loss.imbalance=sampler)")
    sampler = build_train_sampler(train_ds.targets, balanced, cfg.seed, ctx.rank, ctx.world,
                                  num_samples=cfg.samples_per_epoch or None)
    common = {"num_workers": cfg.data.workers, "pin_memory": device.type == "cuda"}
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler,
                              drop_last=len(sampler) > cfg.batch_size, **common)
    val_loader = DataLoader(val_ds, batch_size=cfg.eval_batch_size,
                            sampler=build_eval_sampler(len(val_ds), ctx.rank, ctx.world), **common)
    return train_loader, val_loader
