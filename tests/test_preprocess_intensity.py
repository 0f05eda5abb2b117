"""Intensity standardisation of ``preprocess``: percentile window, histogram equalisation, CLAHE."""

import numpy as np
import pytest

from cxrlab.config import PreprocessConfig
from cxrlab.data.preprocess import clahe, preprocess
from cxrlab.errors import ConfigError


def _film():
    # 100 x 100: grey levels 100..149 (each 2 rows), one black and one white outlier pixel.
    gray = np.repeat(np.arange(100, 150, dtype=np.uint8), 2)[:, None].repeat(100, axis=1)
    gray[0, 0], gray[-1, -1] = 0, 255
    return gray


def test_window_clips_one_percent_at_each_end_and_stretches_the_rest():
    out = preprocess(_film(), PreprocessConfig(size=100, equalize="window"))
    # 1 % of 10,000 pixels = 100 cut at each end: the black outlier and 99 of the level-100 pixels,
    # the white outlier and 99 of the level-149 ones. The window is then 100..149, mapped linearly
    # to 0..255: (v - 100) * 255 / 49. Without the cut the map would be the identity (0..255).
    rows = out[:, 50]
    assert rows[:2].tolist() == [0, 0] and rows[-2:].tolist() == [255, 255]
    assert out[0, 0] == 0 and out[-1, -1] == 255
    for value, row in ((110, 20), (125, 50), (140, 80)):
        assert rows[row] == pytest.approx((value - 100) * 255 / 49, abs=1)
    assert np.all(np.diff(rows[2:-2].astype(int)) >= 0)  # order kept


def test_hist_flattens_and_clahe_raises_local_contrast():
    film = _film()
    flat = preprocess(film, PreprocessConfig(size=100, equalize="hist"))
    counts = np.bincount(flat.ravel(), minlength=256)
    assert flat.min() == 0 and flat.max() == 255 and counts.max() <= 400  # 50 levels spread over 0-255
    low_contrast = (120 + (np.indices((64, 64)).sum(0) % 8)).astype(np.uint8)  # values 120..127
    out = clahe(low_contrast)
    assert out.dtype == np.uint8 and out.shape == low_contrast.shape
    assert int(out.max()) - int(out.min()) > 4 * (127 - 120)
    same_input = low_contrast == 120
    assert len(np.unique(out[same_input])) <= 4  # one value per tile neighbourhood, not noise


def test_unknown_equalize_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="none, hist, clahe, window"):
        PreprocessConfig(equalize="gamma")
