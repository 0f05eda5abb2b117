"""Lung boxes, crops, masking and overlap scores (pure numpy, hand-computed expectations)."""

from __future__ import annotations

import numpy as np
import pytest

from cxrlab.segment.lungs import (
    box_fraction, crop_manifest_row, crop_to_box, crop_to_lungs, dice_iou, expand_box, keep_largest, lung_bbox, mask_lungs,
)
from cxrlab.segment.predict import box_row
from cxrlab.segment.sheet import contact_sheet, overlay


def test_dice_iou_match_hand_computed_values():
    truth = np.zeros((4, 4), bool)
    truth[0:2, 0:3] = True  # 6 px
    pred = np.zeros((4, 4), bool)
    pred[0:2, 1:3] = True  # 4 px, all inside truth
    dice, iou = dice_iou(pred, truth)
    assert dice == pytest.approx(2 * 4 / (4 + 6))
    assert iou == pytest.approx(4 / 6)
    pred[3, 3] = True  # one false positive: overlap 4, union 7
    dice, iou = dice_iou(pred, truth)
    assert dice == pytest.approx(2 * 4 / (5 + 6))
    assert iou == pytest.approx(4 / 7)
    assert dice_iou(np.zeros((3, 3)), np.zeros((3, 3))) == (1.0, 1.0)
    assert dice_iou(np.ones((3, 3)), np.zeros((3, 3))) == (0.0, 0.0)


def test_lung_bbox_is_tight_with_exclusive_ends():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:7] = True
    mask[8, 10] = True
    assert lung_bbox(mask) == (3, 2, 11, 9)
    assert lung_bbox(np.zeros((5, 5), bool)) is None
    assert box_fraction((3, 2, 11, 9), (10, 12)) == (0.25, 0.2, 11 / 12, 0.9)


def test_keep_largest_drops_specks_and_keeps_two_lungs():
    mask = np.zeros((20, 20), bool)
    mask[2:15, 1:8] = True  # lung 1
    mask[2:16, 11:19] = True  # lung 2
    mask[18, 9] = True  # speck
    clean = keep_largest(mask)
    assert not clean[18, 9] and clean[5, 3] and clean[5, 15]
    assert lung_bbox(clean) == (1, 2, 19, 16)


def test_crop_to_lungs_adds_margin_and_clips():
    gray = np.arange(100 * 100, dtype=np.int64).reshape(100, 100).astype(np.uint8)
    mask = np.zeros((100, 100), bool)
    mask[30:70, 20:60] = True  # 40 x 40 box -> 10% margin = 4 px each side
    crop = crop_to_lungs(gray, mask, margin=0.1)
    assert crop.shape == (48, 48)
    np.testing.assert_array_equal(crop, gray[26:74, 16:64])
    half = mask[::2, ::2]  # a mask at another resolution is resized to the film
    np.testing.assert_array_equal(crop_to_lungs(gray, half, margin=0.1), crop)
    edge = np.zeros((100, 100), bool)
    edge[0:50, 0:50] = True
    assert crop_to_lungs(gray, edge, margin=0.2).shape == (60, 60)  # clipped at the top-left corner
    assert crop_to_lungs(gray, np.zeros_like(mask)) is gray  # no lungs: film unchanged


def test_crop_to_box_uses_fractions_at_any_resolution():
    gray = np.zeros((200, 100), np.uint8)
    assert expand_box((0.2, 0.3, 0.6, 0.7), gray.shape, margin=0.0) == (20, 60, 60, 140)
    assert crop_to_box(gray, (0.2, 0.3, 0.6, 0.7), margin=0.0).shape == (80, 40)
    assert crop_to_box(gray, (0.2, 0.3, 0.6, 0.7), margin=0.5).shape == (160, 80)


def test_mask_lungs_blanks_everything_outside():
    gray = np.full((20, 20), 200, np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = True
    out = mask_lungs(gray, mask, dilate=0.0)
    assert (out[mask] == 200).all() and (out[~mask] == 0).all()
    grown = mask_lungs(gray, mask, dilate=0.1)  # 2 px dilation
    assert grown[4, 7] == 200 and grown[3, 7] == 200 and grown[0, 0] == 0
    assert mask_lungs(gray, np.zeros_like(mask)) is gray


def test_box_row_flags_implausible_masks():
    good = np.zeros((64, 64), bool)
    good[10:50, 8:28] = True
    good[10:52, 36:56] = True
    row = box_row(good)
    assert row["lung_ok"] and row["lung_x0"] == pytest.approx(8 / 64) and row["lung_y1"] == pytest.approx(52 / 64)
    tiny = np.zeros((64, 64), bool)
    tiny[30:34, 30:34] = True
    assert not box_row(tiny)["lung_ok"]
    empty = box_row(np.zeros((64, 64), bool))
    assert not empty["lung_ok"] and (empty["lung_x0"], empty["lung_x1"]) == (0.0, 1.0)


def test_overlay_and_contact_sheet_shapes_and_colours():
    gray = np.full((32, 32), 100, np.uint8)
    pred = np.zeros((32, 32), bool)
    pred[8:24, 8:24] = True
    tile = overlay(gray, pred, pred, (4, 4, 28, 28))
    assert tile.shape == (32, 32, 3)
    assert tile[16, 16, 0] > tile[16, 16, 1]  # red tint inside the prediction
    assert tuple(tile[8, 16]) == (0, 255, 0)  # green reference outline
    assert tuple(tile[4, 16]) == (255, 230, 0)  # yellow box
    sheet = contact_sheet([tile] * 5, cols=4, gap=2)
    assert sheet.shape == (2 * 32 + 2, 4 * 32 + 6, 3)


def test_crop_manifest_row_uses_box_only_when_plausible():
    import pandas as pd

    gray = np.zeros((100, 200), np.uint8)
    row = pd.Series({"lung_x0": 0.25, "lung_y0": 0.1, "lung_x1": 0.75, "lung_y1": 0.9, "lung_ok": True})
    assert crop_manifest_row(gray, row, margin=0.0).shape == (80, 100)
    assert crop_manifest_row(gray, row.replace({True: "True"}), margin=0.0).shape == (80, 100)  # as read from CSV
    assert crop_manifest_row(gray, row.replace({True: False})) is gray
    assert crop_manifest_row(gray, pd.Series({"path": "x"})) is gray
