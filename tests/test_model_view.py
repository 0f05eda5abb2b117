"""One model view for training and serving: a JPEG film gives the model the same pixels through the
training cache, evaluation without a cache, the site profile and predict (regression: predict used to
decode at full resolution while the cache decoded DCT-scaled, a train/serve skew measured on unseen
sources)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cxrlab.config import PreprocessConfig
from cxrlab.data.cache.worker import cache_image
from cxrlab.data.films import load_films
from cxrlab.data.model_view import read_view, view_of
from cxrlab.data.preprocess import preprocess
from cxrlab.io.images import read_image, to_uint8

CFG = PreprocessConfig(size=64)


def textured_film(side: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    base = 128 + 60 * np.sin(9 * xx) * np.cos(7 * yy) + rng.normal(0, 25, (side, side))
    return np.clip(base, 0, 255).astype(np.uint8)


def write(path, pixels, fmt):
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    path.write_bytes(buf.getvalue())
    return path


def test_a_jpeg_gets_the_training_caches_pixels_everywhere(tmp_path):
    path = write(tmp_path / "film.jpg", textured_film(), "JPEG")
    full = read_image(path)
    naive = preprocess(to_uint8(full), CFG)
    trained_on = cache_image(str(path), CFG)
    assert not np.array_equal(naive, trained_on)  # the skew this guards against is real for this file
    assert np.array_equal(read_view(path, CFG), trained_on)
    assert np.array_equal(view_of(full, path, CFG), trained_on)
    assert np.array_equal(view_of(full, path.read_bytes(), CFG), trained_on)
    films = load_films([str(path)], CFG)
    assert np.array_equal(films.views[0], trained_on)
    assert films.stats["width"][0] == 512  # the film's own size is still reported, not the scaled decode's


def test_a_png_is_decoded_once_and_matches_too(tmp_path):
    path = write(tmp_path / "film.png", textured_film(300, seed=1), "PNG")
    full = read_image(path)
    assert np.array_equal(view_of(full, b"not read for a PNG", CFG), preprocess(to_uint8(full), CFG))
    assert np.array_equal(view_of(full, path, CFG), cache_image(str(path), CFG))
