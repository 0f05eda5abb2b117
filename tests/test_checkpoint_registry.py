import json

import pytest
import torch

from cxrlab.artifacts.checkpoint import make_meta, save_checkpoint, update_meta
from cxrlab.config import PreprocessConfig
from cxrlab.errors import ConfigError
from cxrlab.labels import builtin_schemes
from cxrlab.models.loading import load_checkpoint
from cxrlab.models.registry import create_model, list_models


@pytest.mark.parametrize("name", [m.name for m in list_models()])
def test_every_registry_model_builds_for_grayscale(name):
    model = create_model(name, num_classes=3, in_chans=1).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 64, 64))
    assert out.shape == (2, 3)


def test_local_weights_file_adapts_stem_and_replaces_head(tmp_path):
    import timm
    from safetensors.torch import save_file

    rgb = timm.create_model("resnet18", num_classes=1000, in_chans=3)
    save_file(rgb.state_dict(), str(tmp_path / "imagenet.safetensors"))
    model = create_model("resnet18", num_classes=3, in_chans=1, weights=tmp_path / "imagenet.safetensors")
    expected = rgb.conv1.weight.sum(dim=1, keepdim=True)
    assert torch.allclose(model.conv1.weight, expected, atol=1e-6)
    assert model.fc.out_features == 3
    torch.save(rgb.state_dict(), tmp_path / "plain.pt")
    model2 = create_model("resnet18", num_classes=3, in_chans=1, weights=tmp_path / "plain.pt")
    assert torch.allclose(model2.conv1.weight, expected, atol=1e-6)


def test_bad_model_name_and_weights(tmp_path):
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("resnet9000", 3)
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="cannot load weights"):
        create_model("resnet18", 3, weights=tmp_path / "junk.pt")


def _meta():
    scheme = builtin_schemes()["3class"]
    return make_meta(architecture="cnn-small", classes=scheme.classes, label_scheme=scheme, in_chans=1,
                     preprocess=PreprocessConfig(size=64), mean=[0.5], std=[0.25], epoch=3)


def test_checkpoint_roundtrip_rebuilds_model_from_file_alone(tmp_path):
    model = create_model("cnn-small", 3).eval()
    save_checkpoint(tmp_path / "run" / "checkpoints" / "best", model, _meta(), train_state={"epoch": torch.tensor(3)})
    loaded, meta = load_checkpoint(tmp_path / "run")
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    assert meta.classes == ("COVID", "Normal", "Pneumonia") and meta.input_size == 64 and meta.label_scheme.map("Pneumonia-Viral") == "Pneumonia"
    assert json.loads((tmp_path / "run/checkpoints/best/checkpoint.json").read_text())["weights_sha256"]
    assert update_meta(tmp_path / "run", temperature=1.7).temperature == 1.7


def test_tampered_weights_are_refused(tmp_path):
    folder = save_checkpoint(tmp_path / "ck", create_model("cnn-small", 3), _meta())
    data = bytearray((folder / "weights.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (folder / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="checksum"):
        load_checkpoint(folder)
