"""Grad-CAM: automatic target layer for every registry model, CAM == Grad-CAM for pool+linear
heads (what the ONNX bundle relies on), overlays, and ``cxrlab explain``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.preprocess import to_model_input
from cxrlab.errors import CxrlabError
from cxrlab.explain.gradcam import gradcam, gradcam_overlays
from cxrlab.explain.overlay import normalize_cam, overlay_heatmap
from cxrlab.explain.targets import cam_weights, class_activation_maps, find_target_layer
from cxrlab.models.loading import load_checkpoint
from cxrlab.models.registry import create_model, list_models

from helpers_deploy import film, make_run, single_thread_torch

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)

EXPECTED_LAYER = {"cnn-small": "features", "vgg16": "features", "resnet18": "layer4", "resnet50": "layer4",
                  "densenet121": "features", "efficientnet_b0": "bn2", "mobilenetv3_large_100": "blocks",
                  **{f"efficientnet_lite{i}": "bn2" for i in range(3)}}
NOT_CAMABLE = {"vgg16", "mobilenetv3_large_100"}  # heads with layers after the pooling


@pytest.fixture(scope="module")
def meta64(tmp_path_factory):
    _, meta = load_checkpoint(make_run(tmp_path_factory.mktemp("run"), size=64))
    return meta


@pytest.mark.parametrize("name", [m.name for m in list_models()])
def test_gradcam_runs_on_every_registry_model_and_matches_cam(name, meta64):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3).eval()
    layer = find_target_layer(model, in_chans=1, size=64)
    assert layer.name == EXPECTED_LAYER[name]
    films = [film("COVID", 1, 80), film("Normal", 2, 50)]
    res = gradcam(model, meta64, films)
    assert res.cams.shape == (2, 64, 64) and res.images.shape == (2, 64, 64)
    assert np.isfinite(res.cams).all() and res.cams.min() >= 0 and res.cams.max() <= 1
    assert np.allclose(res.probs.sum(axis=1), 1, atol=1e-5)
    assert list(res.targets) == list(res.probs.argmax(axis=1))
    weight = cam_weights(model, 1, 64)
    assert (weight is None) == (name in NOT_CAMABLE)
    if weight is not None:  # CAM from features x classifier weights equals gradient-based Grad-CAM
        x = torch.from_numpy(to_model_input(res.images, meta64.mean, meta64.std))
        with torch.no_grad():
            cams = class_activation_maps(model.forward_features(x), weight).numpy()
        for i in range(2):
            mine = normalize_cam(cams[i, res.targets[i]], (64, 64))
            assert np.corrcoef(mine.ravel(), res.cams[i].ravel())[0, 1] > 0.999


TOKEN_LAYER = {"vit_tiny_patch16_224": "blocks.11.norm1", "deit_tiny_distilled_patch16_224": "blocks.11.norm1",
               "swin_tiny_patch4_window7_224": "norm", "eva02_tiny_patch14_224": "blocks.11.norm1"}


@pytest.mark.parametrize("name", sorted(TOKEN_LAYER))
def test_token_models_get_grad_cam_on_their_patch_grid(name, meta64):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, img_size=64).eval()
    assert find_target_layer(model, 1, 64).name == TOKEN_LAYER[name]
    res = gradcam(model, meta64, [film("COVID", 1, 80), film("Normal", 2, 50)])
    assert res.layer == TOKEN_LAYER[name] and res.cams.shape == (2, 64, 64)
    assert np.isfinite(res.cams).all() and res.cams.min() >= 0 and res.cams.max() <= 1
    assert all(c.std() > 0 for c in res.cams)  # the patch tokens got gradients: a map, not a constant
    assert list(res.targets) == list(res.probs.argmax(axis=1))


def test_swin_grad_cam_equals_cam_on_its_channels_last_map(meta64):
    """Swin's head is pool + linear over the NHWC map: Grad-CAM must equal the classic CAM, laid out right."""
    torch.manual_seed(0)
    model = create_model("swin_tiny_patch4_window7_224", num_classes=3, img_size=64).eval()
    res = gradcam(model, meta64, [film("COVID", 1, 80), film("Normal", 2, 50)])
    x = torch.from_numpy(to_model_input(res.images, meta64.mean, meta64.std))
    with torch.no_grad():
        cams = class_activation_maps(model.forward_features(x).permute(0, 3, 1, 2), model.get_classifier().weight)
    for i in range(2):
        mine = normalize_cam(cams[i, res.targets[i]].numpy(), (64, 64))
        assert np.corrcoef(mine.ravel(), res.cams[i].ravel())[0, 1] > 0.999


def test_tokens_are_laid_on_the_grid_row_major_without_the_prefix_tokens():
    from cxrlab.explain.targets import TokensToGrid, channels_last_to_first

    tokens = torch.arange(2 * 7 * 3, dtype=torch.float32).reshape(2, 7, 3)  # 1 class token + 2 x 3 patches
    grid = TokensToGrid(prefix=1, grid=(2, 3))(tokens)
    assert grid.shape == (2, 3, 2, 3)
    assert torch.equal(grid[1, :, 0, 2], tokens[1, 3]) and torch.equal(grid[0, :, 1, 0], tokens[0, 4])
    nhwc = torch.randn(1, 2, 3, 4)
    assert torch.equal(channels_last_to_first(nhwc)[0, :, 1, 2], nhwc[0, 1, 2])


def test_a_token_model_without_a_patch_grid_is_refused_clearly(meta64):
    class Tokens(torch.nn.Module):
        def forward_features(self, x):
            return x.flatten(2).transpose(1, 2)

        def forward(self, x):
            return self.forward_features(x).mean(1)

    with pytest.raises(CxrlabError, match="Grad-CAM is not supported for it"):
        find_target_layer(Tokens(), 1, 8)


def test_overlays_for_raw_and_preprocessed_images_and_fixed_class(meta64):
    model = create_model("cnn-small", 3).eval()
    raw = film("Pneumonia", 3, 100)
    overlays = gradcam_overlays(model, meta64, [raw, film("Normal", 4, 64)], target_class="Normal")
    assert [o.shape for o in overlays] == [(64, 64, 3), (64, 64, 3)] and overlays[0].dtype == np.uint8
    assert (gradcam(model, meta64, [raw], target_class="Normal").targets == [1]).all()
    with pytest.raises(CxrlabError, match="not a class"):
        gradcam(model, meta64, [raw], target_class="Cat")


def test_overlay_puts_the_hot_colour_where_the_map_is_high():
    gray = np.full((40, 40), 128, np.uint8)
    cam = np.zeros((5, 5), np.float32)
    cam[0, 0] = 1.0  # hot corner
    rgb = overlay_heatmap(gray, cam)
    assert rgb.shape == (40, 40, 3)
    hot, cold = rgb[0, 0].astype(int), rgb[-1, -1].astype(int)
    assert hot[0] > hot[2] and cold[2] > cold[0]  # jet: red where high, blue where low
    assert normalize_cam(np.full((3, 3), -1.0)).max() == 0  # negative evidence only -> empty map


def test_explain_cli_writes_pngs_and_reports_unreadable_files(tmp_path):
    run = make_run(tmp_path / "run", size=32)
    good = tmp_path / "good.png"
    Image.fromarray(film("COVID", 5, 72)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "explain"
    result = CliRunner().invoke(build_app(), ["explain", str(run), str(good), str(bad), "--out", str(out), "--class", "COVID"])
    assert result.exit_code == 1, result.output  # one image could not be explained
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 1 and "COVID" in pngs[0].name
    assert Image.open(pngs[0]).size == (72, 72) and Image.open(pngs[0]).mode == "RGB"  # on the film, not the 32 px view
    assert "not a recognised image format" in result.output
    wide = tmp_path / "wide.png"
    Image.fromarray(np.hstack([film("COVID", 6, 60), film("COVID", 7, 60)])).save(wide)
    result = CliRunner().invoke(build_app(), ["explain", str(run), str(wide), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(next(out.glob("*wide*.png"))).size == (120, 60)  # the film's aspect


def test_explain_cli_draws_a_vit_run_on_its_film(tmp_path):
    run = make_run(tmp_path / "run", arch="vit_tiny_patch16_224", size=32)  # a 2 x 2 patch grid
    good = tmp_path / "good.png"
    Image.fromarray(film("Normal", 5, 72)).save(good)
    result = CliRunner().invoke(build_app(), ["explain", str(run), str(good), "--out", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    png = next((tmp_path / "x").glob("*.png"))
    assert Image.open(png).size == (72, 72) and Image.open(png).mode == "RGB"
