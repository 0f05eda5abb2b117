"""Mask sources, pairing, group split, U-Net training, checkpoints and the segment CLI
(SYNTHETIC films and masks; no torchxrayvision and no real data needed)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import torch

from cxrlab.errors import ConfigError
from cxrlab.segment.checkpoint import load_segmenter, make_seg_meta, save_segmenter
from cxrlab.segment.masks import MaskSourceError, default_masks_path, open_masks
from cxrlab.segment.pairs import assign_split, images_from_folder, load_pairs, match_masks
from cxrlab.segment.unet import UNet, dice_bce_loss
from tests.helpers_segment import film_and_mask, write_manifest_for, write_pairs


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_mask_sources_read_binary_masks_by_lower_case_stem(tmp_path, kind):
    _, target = write_pairs(tmp_path, 3, size=32, mask_kind=kind)
    source = open_masks(target)
    assert sorted(source.members) == ["film-000", "film-001", "film-002"]  # readme.txt ignored
    mask = source.read("film-001")
    np.testing.assert_array_equal(mask, film_and_mask(1, 32)[1])


def test_bad_mask_paths_are_clear_errors(tmp_path):
    with pytest.raises(MaskSourceError, match="not found"):
        open_masks(tmp_path / "nope.zip")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(MaskSourceError, match="bad.zip"):
        open_masks(tmp_path / "bad.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MaskSourceError, match="no mask images"):
        open_masks(tmp_path / "empty")


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchxrayvision" else real(name, *a))
    with pytest.raises(MaskSourceError) as info:
        default_masks_path()
    assert "pip install 'cxrlab[segment]'" in str(info.value) and "--masks" in str(info.value)


def test_pairs_match_by_stem_and_split_by_group(tmp_path):
    data, target = write_pairs(tmp_path, 12, size=32)
    manifest = write_manifest_for(data, tmp_path / "manifest.csv", patients_per=2)
    from cxrlab.data.manifest import read_manifest

    images = read_manifest(manifest)
    extra = images.iloc[:1].assign(path=str(tmp_path / "other" / "unrelated.png"))
    table = match_masks(pd.concat([images, extra]), open_masks(target))
    assert len(table) == 12 and set(table["mask"]) == {f"film-{i:03d}" for i in range(12)}
    paired = assign_split(load_pairs(table, open_masks(target), 32, near_bits=0), 0.3, seed=0)
    assert paired.images.shape == (12, 32, 32) and paired.masks.dtype == np.uint8
    assert set(np.unique(paired.masks)) == {0, 1}
    assert paired.table["group"].nunique() == 6  # two films per patient
    sides = paired.table.groupby("group")["split"].nunique()
    assert (sides == 1).all() and set(paired.table["split"]) == {"train", "val"}


def test_copies_of_one_film_share_a_group(tmp_path):
    data, target = write_pairs(tmp_path, 4, size=64)
    copy = data / "Normal" / "film-003.png"
    (data / "Normal" / "film-001.png").write_bytes(copy.read_bytes())  # same picture, other name
    images = images_from_folder(tmp_path / "data")
    assert len(images) == 4
    paired = load_pairs(match_masks(images, open_masks(target)), open_masks(target), 32)
    groups = dict(zip(paired.table["mask"], paired.table["group"]))
    assert groups["film-001"] == groups["film-003"] and groups["film-000"] != groups["film-002"]


def test_unet_shapes_and_training_decreases_loss(one_thread):
    torch.manual_seed(0)
    pairs = [film_and_mask(i, 32) for i in range(8)]
    x = torch.tensor(np.stack([p[0] for p in pairs]), dtype=torch.float32)[:, None] / 255 - 0.5
    y = torch.tensor(np.stack([p[1] for p in pairs]), dtype=torch.float32)[:, None]
    model = UNet(width=4, depth=2)
    assert model(x).shape == (8, 1, 32, 32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = dice_bce_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_dice_bce_loss_is_small_for_perfect_logits():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    perfect = (target * 2 - 1) * 20
    assert dice_bce_loss(perfect, target).item() < 1e-3
    assert dice_bce_loss(-perfect, target).item() > 1.5


def test_checkpoint_roundtrip_and_tamper_check(tmp_path):
    model = UNet(width=4, depth=2).eval()
    meta = make_seg_meta(architecture="unet", width=4, depth=2, size=32, mean=0.5, std=0.25, metrics={"val_dice": 0.5})
    folder = save_segmenter(tmp_path / "run" / "checkpoint", model, meta)
    loaded, meta2 = load_segmenter(tmp_path / "run")  # run folder resolves to checkpoint/
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(loaded(x), model(x))
    assert meta2.size == 32 and meta2.metrics == {"val_dice": 0.5}
    record = json.loads((folder / "segmenter.json").read_text())
    assert len(record["weights_sha256"]) == 64
    (folder / "weights.safetensors").write_bytes(b"tampered")
    with pytest.raises(ConfigError, match="checksum"):
        load_segmenter(folder)
    with pytest.raises(ConfigError, match="no lung segmenter"):
        load_segmenter(tmp_path)


def test_group_ids_join_patients_and_near_identical_hashes():
    from cxrlab.segment.pairs import group_ids

    table = pd.DataFrame({"patient_id": ["a", "", "", "", "a"], "dup_group": ["", "", "", "d1", "d1"]})
    hashes = ["ffffffffffffffff", "fffffffffffffff0", "0000000000000000", "00000000000000ff", "0f0f0f0f0f0f0f0f"]
    groups = group_ids(table, hashes, near_bits=6)
    # 0-1: 4 bits apart; 0-4: same patient; 3-4: same dup_group; 2-3: 8 bits apart (separate)
    assert groups[0] == groups[1] == groups[3] == groups[4] and groups[2] != groups[0]
    alone = group_ids(table.assign(patient_id="", dup_group=""), hashes, near_bits=3)
    assert len(set(alone)) == 5
