import pytest
import torch

from cxrlab.errors import ConfigError, CxrlabError
from cxrlab.models.registry import create_model, list_models, model_info
from cxrlab.train.config import OptimConfig
from cxrlab.train.optim import build_optimizer, head_parameter_names, set_backbone_frozen

NAMES = [m.name for m in list_models()]


def test_registry_lists_the_required_models():
    assert {"cnn-small", "vgg16", "resnet18", "resnet50", "densenet121", "efficientnet_b0",
            "mobilenetv3_large_100"} <= set(NAMES)
    assert model_info("cnn-small").source == "cxrlab"
    assert model_info("convnext_atto").timm_name == "convnext_atto"  # any timm name


@pytest.mark.parametrize("name", NAMES)
def test_freeze_trains_only_the_new_head(name):
    model = create_model(name, num_classes=3, in_chans=1)
    head = head_parameter_names(model)
    assert head and len(head) < len(list(model.parameters()))
    set_backbone_frozen(model, True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == head
    optimizer = build_optimizer(model, OptimConfig(lr=1e-3), backbone_lr_mult=0.1)
    rates = {group["lr"] for group in optimizer.param_groups}
    assert rates == {1e-3, 1e-4}
    set_backbone_frozen(model, False)
    assert all(p.requires_grad for p in model.parameters())


def test_cnn_small_is_a_real_cnn_for_grayscale():
    model = create_model("cnn-small", 3).eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < n_params < 5e6
    with torch.no_grad():
        assert model(torch.randn(2, 1, 224, 224)).shape == (2, 3)
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3)
    assert create_model("cnn-small", 2, in_chans=3)(torch.randn(2, 3, 32, 32)).shape == (2, 2)


def test_local_safetensors_weights_for_cnn_small(tmp_path):
    from safetensors.torch import save_file

    source = create_model("cnn-small", 4)
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    model = create_model("cnn-small", 3, weights=tmp_path / "w.safetensors")
    assert torch.equal(model.features[0][0].weight, source.features[0][0].weight)
    assert model.classifier.out_features == 3  # head of a different size is not loaded
    with pytest.raises(ConfigError, match="no published pretrained"):
        create_model("cnn-small", 3, pretrained=True)


def test_offline_pretrained_without_file_says_what_to_do(monkeypatch):
    import timm

    real = timm.create_model

    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("Network is unreachable")
        return real(name, pretrained=pretrained, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(CxrlabError, match="--weights FILE"):
        create_model("resnet18", 3, pretrained=True)
