"""Heatmaps laid back onto the film the user gave: through every resize mode of preprocessing, at
the film's aspect, scaled down only past the display limit."""

from __future__ import annotations

import numpy as np
import pytest

from cxrlab.config import PreprocessConfig
from cxrlab.data.preprocess import preprocess, view_map_to_film
from cxrlab.explain.overlay import OVERLAY_MAX_SIDE, display_film, film_overlay, heatmap_on_film


def _film(h: int = 90, w: int = 150) -> np.ndarray:
    gray = np.full((h, w), 20, np.uint8)
    gray[20:45, 60:100] = 230  # a bright block inside the central square
    return gray


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "center-crop"])
def test_a_map_of_the_view_lands_where_the_film_shows_it(mode):
    film = _film()
    cfg = PreprocessConfig(size=32, resize=mode)
    view = preprocess(film, cfg).astype(np.float32) / 255.0  # the view itself, as a "heatmap"
    back = view_map_to_film(view, film.shape, cfg)
    assert back.shape == film.shape and back.dtype == np.float32
    side = min(film.shape)
    left = (film.shape[1] - side) // 2
    region = (slice(None), slice(left, left + side)) if mode == "center-crop" else (slice(None), slice(None))
    corr = np.corrcoef(back[region].ravel(), film[region].astype(np.float32).ravel())[0, 1]
    assert corr > 0.9, corr
    hot = np.unravel_index(np.argmax(back), back.shape)
    assert 20 <= hot[0] < 45 and 60 <= hot[1] < 100
    if mode == "center-crop":
        assert back[:, :left].max() == 0 and back[:, left + side:].max() == 0  # the model never saw the sides


def test_overlay_keeps_the_films_aspect_and_caps_its_size():
    cfg = PreprocessConfig(size=32)
    cam = np.zeros((32, 32), np.float32)
    cam[:4, :4] = 1.0
    assert film_overlay(_film(), cam, cfg).shape == (90, 150, 3)
    big = np.random.default_rng(0).integers(0, 255, (3000, 1500), dtype=np.uint8)
    shown, mapped = heatmap_on_film(big, cam, cfg)
    assert shown.shape == mapped.shape == (OVERLAY_MAX_SIDE, OVERLAY_MAX_SIDE // 2)
    assert mapped[0, 0] == pytest.approx(1.0) and mapped[-1, -1] == 0.0
    assert display_film(_film()).shape == (90, 150)  # small films are shown as they are


def test_mistakes_gallery_overlays_are_drawn_on_each_film(tmp_path):
    import pandas as pd
    from PIL import Image

    from cxrlab.evaluate.gallery import gallery_html
    from cxrlab.evaluate.gallery_heatmaps import mistake_overlays
    from cxrlab.models.loading import load_checkpoint
    from helpers_deploy import film, make_run

    model, meta = load_checkpoint(make_run(tmp_path / "run", size=32))
    wide = np.hstack([film("COVID", 1, 60), film("COVID", 2, 60)])
    Image.fromarray(wide).save(tmp_path / "wide.png")
    df = pd.DataFrame({"path": [str(tmp_path / "wide.png"), str(tmp_path / "gone.png")]})
    views = np.stack([preprocess(wide, meta.preprocess)] * 2)
    overlays = mistake_overlays(model, meta, df, views, [0, 1])
    assert overlays[0].shape == (60, 120, 3) and overlays[0].dtype == np.uint8  # the film, its aspect
    assert overlays[1].shape == (32, 32, 3)  # the file is gone: the model's view instead
    items = [{"row": 0, "path": "wide.png", "source": "s", "true": "Normal", "predicted": "COVID", "probability": 0.9}]
    assert gallery_html(items, views, overlays) != gallery_html(items, views)
