"""Preprocessing cache: build, reuse, invalidation, errors, format handling, crash safety."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import make_film
from cxrlab.config import PreprocessConfig
from cxrlab.data.cache import worker as cache_worker
from cxrlab.data.cache.store import build_cache, cache_dir, open_cache
from cxrlab.data.synthetic.generate import save_dicom, synthetic_film, to_uint16_film
from cxrlab.data.preprocess import preprocess
from cxrlab.errors import ConfigError

CFG = PreprocessConfig(size=32)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _dataset(folder: Path, n: int = 6, with_sha1: bool = True) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.fromarray(make_film("Normal" if i % 2 else "COVID", seed=i, size=48)).save(p)
        paths.append(p)
    df = pd.DataFrame({"path": [str(p) for p in paths], "label": ["x"] * n})
    if with_sha1:
        df["sha1"] = [_sha1(p) for p in paths]
    return df


@pytest.fixture
def counter(monkeypatch) -> list[str]:
    """Records every file the cache decodes (in-process builds only: workers=1)."""
    calls: list[str] = []
    real = cache_worker.cache_image

    def counting(path, cfg, expected_sha1="", box=None):
        calls.append(path)
        return real(path, cfg, expected_sha1, box)

    monkeypatch.setattr(cache_worker, "cache_image", counting)
    return calls


def _expected(path: str | Path, cfg: PreprocessConfig = CFG) -> np.ndarray:
    return preprocess(np.asarray(Image.open(path).convert("L")), cfg)


def test_build_matches_direct_preprocessing_and_is_read_only(tmp_path, counter):
    df = _dataset(tmp_path / "data")
    store = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    assert isinstance(store.images, np.memmap)
    assert store.images.shape == (6, 32, 32) and store.images.dtype == np.uint8
    assert store.ok.all() and store.errors == {} and store.decoded == 6
    for i, path in enumerate(df["path"]):
        np.testing.assert_array_equal(store.images[i], _expected(path))
    with pytest.raises(ValueError):
        store.images[0, 0, 0] = 1
    assert len(counter) == 6


def test_reopen_and_rebuild_do_not_decode_again(tmp_path, counter):
    df = _dataset(tmp_path / "data")
    first = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    counter.clear()
    again = open_cache(df, tmp_path / "cache", CFG)
    assert again is not None and again.path == first.path
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(first.images))
    rebuilt = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    assert counter == [] and rebuilt.decoded == 0


def test_subset_and_reordered_rows_reuse_pixels(tmp_path, counter):
    df = _dataset(tmp_path / "data")
    full = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    counter.clear()
    sub = df.iloc[[4, 1, 3]].reset_index(drop=True)
    assert open_cache(sub, tmp_path / "cache", CFG) is None
    store = build_cache(sub, tmp_path / "cache", CFG, workers=1, progress=False)
    assert counter == [] and store.reused == 3
    np.testing.assert_array_equal(store.images[0], full.images[4])
    assert open_cache(df, tmp_path / "cache", CFG) is not None  # the full cache was kept


@pytest.mark.parametrize("with_sha1", [True, False])
def test_changed_file_rebuilds_only_that_row(tmp_path, counter, with_sha1):
    df = _dataset(tmp_path / "data", with_sha1=with_sha1)
    old = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    old_path = old.path
    changed = Path(df["path"][2])
    Image.fromarray(255 - make_film("Normal", seed=99, size=40)).save(changed)
    os.utime(changed, ns=(1_000_000_000, 1_000_000_000))
    if with_sha1:
        df.loc[2, "sha1"] = _sha1(changed)  # re-indexed manifest
    assert open_cache(df, tmp_path / "cache", CFG) is None
    counter.clear()
    new = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    assert counter == [str(changed)] and new.decoded == 1 and new.reused == 5
    np.testing.assert_array_equal(new.images[2], _expected(changed))
    assert not old_path.exists()  # the superseded segment was removed


def test_file_changed_since_indexing_is_an_error_not_stale_pixels(tmp_path):
    df = _dataset(tmp_path / "data")
    build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    Image.fromarray(make_film("COVID", seed=50, size=48)).save(df["path"][1])  # manifest sha1 now wrong
    store = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    assert not store.ok[1] and "changed since it was indexed" in store.errors[1]
    assert store.ok.sum() == 5


def test_different_preprocessing_gets_a_different_cache(tmp_path):
    df = _dataset(tmp_path / "data")
    a = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    cfg_b = PreprocessConfig(size=24, resize="letterbox")
    assert open_cache(df, tmp_path / "cache", cfg_b) is None
    b = build_cache(df, tmp_path / "cache", cfg_b, workers=1, progress=False)
    assert b.images.shape == (6, 24, 24) and a.path.parent != b.path.parent
    assert b.path.parent == cache_dir(tmp_path / "cache", cfg_b)
    np.testing.assert_array_equal(b.images[0], _expected(df["path"][0], cfg_b))


def test_lung_crop_uses_each_rows_box_and_a_changed_box_redecodes_only_that_row(tmp_path, counter):
    df = _dataset(tmp_path / "data", n=3).assign(lung_x0=0.25, lung_y0=0.0, lung_x1=0.75, lung_y1=0.5, lung_ok=True)
    df.loc[2, "lung_ok"] = False  # the segmenter found no plausible lungs: the film stays whole
    cfg = PreprocessConfig(size=32, crop="lungs", crop_margin=0.0)
    store = build_cache(df, tmp_path / "cache", cfg, workers=1, progress=False)
    film = np.asarray(Image.open(df["path"][0]).convert("L"))  # 48 x 48
    np.testing.assert_array_equal(store.images[0], preprocess(film[0:24, 12:36], PreprocessConfig(size=32)))
    np.testing.assert_array_equal(store.images[2], _expected(df["path"][2]))
    assert store.path.parent.name == "s32-stretch-none-lungs0" and len(counter) == 3
    moved = df.assign(lung_y1=[0.5, 1.0, 0.5])
    build_cache(moved, tmp_path / "cache", cfg, workers=1, progress=False)
    assert counter[3:] == [df["path"][1]]


def test_lung_crop_without_lung_columns_says_which_command_adds_them(tmp_path):
    df = _dataset(tmp_path / "data", n=2)
    with pytest.raises(ConfigError, match="cxrlab segment predict"):
        build_cache(df, tmp_path / "cache", PreprocessConfig(size=32, crop="lungs"), workers=1, progress=False)


def test_unreadable_and_missing_files_are_reported_not_fatal(tmp_path):
    df = _dataset(tmp_path / "data", n=4, with_sha1=False)
    bad = tmp_path / "data" / "broken.png"
    bad.write_bytes(b"not a picture")
    extra = pd.DataFrame({"path": [str(bad), str(tmp_path / "gone.png")], "label": ["x", "x"]})
    df = pd.concat([df, extra], ignore_index=True)
    store = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    assert store.ok.tolist() == [True] * 4 + [False, False]
    assert "not a recognised image" in store.errors[4] and "cannot read" in store.errors[5]
    assert not store.images[4].any()
    reopened = open_cache(df, tmp_path / "cache", CFG)
    assert reopened is not None and reopened.errors == store.errors


def _stretched(raw: np.ndarray) -> np.ndarray:
    """Independent expectation: min-max stretch of the stored values to 0..255."""
    raw = raw.astype(np.float64)
    return np.round((raw - raw.min()) * 255.0 / (raw.max() - raw.min())).astype(np.uint8)


def test_sixteen_bit_png_and_monochrome1_dicom(tmp_path):
    film = synthetic_film("COVID", np.random.default_rng(3), 48)
    png16, raw16 = tmp_path / "g16.png", to_uint16_film(film, 16)
    Image.fromarray(raw16).save(png16)
    raw12 = to_uint16_film(film, 12)
    m1 = save_dicom(tmp_path / "m1.dcm", raw12, photometric="MONOCHROME1", bits_stored=12)
    m2 = save_dicom(tmp_path / "m2.dcm", raw12, photometric="MONOCHROME2", bits_stored=12)
    df = pd.DataFrame({"path": [str(png16), str(m1), str(m2)], "label": ["x"] * 3})
    store = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    assert store.ok.all()
    want16, want12 = preprocess(_stretched(raw16), CFG), preprocess(_stretched(raw12), CFG)
    assert np.abs(store.images[0].astype(int) - want16).max() <= 1
    assert np.abs(store.images[1].astype(int) - want12).max() <= 1  # MONOCHROME1 inverted back
    assert np.abs(store.images[2].astype(int) - want12).max() <= 1


def test_worker_processes_give_the_same_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr("cxrlab.data.cache.build.CHUNK_ROWS", 2)
    df = _dataset(tmp_path / "data", n=6)
    multi = build_cache(df, tmp_path / "a", CFG, workers=2, progress=False)
    single = build_cache(df, tmp_path / "b", CFG, workers=1, progress=False)
    np.testing.assert_array_equal(np.asarray(multi.images), np.asarray(single.images))


def test_least_recently_used_segments_beyond_the_limit_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr("cxrlab.data.cache.segments.MAX_SEGMENTS", 2)
    df = _dataset(tmp_path / "data")
    root = tmp_path / "cache"
    full = build_cache(df, root, CFG, workers=1, progress=False)
    os.utime(full.path.with_suffix(".json"), (1, 1))  # pretend it was last used long ago
    build_cache(df.iloc[:2], root, CFG, workers=1, progress=False)
    assert open_cache(df, root, CFG) is not None  # two segments: within the limit; opening marks it used
    build_cache(df.iloc[2:4], root, CFG, workers=1, progress=False)
    assert open_cache(df.iloc[:2], root, CFG) is None  # least recently used of three: removed
    assert open_cache(df, root, CFG) is not None and open_cache(df.iloc[2:4], root, CFG) is not None


def test_killed_build_leaves_nothing_trusted(tmp_path, monkeypatch):
    df = _dataset(tmp_path / "data")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("cxrlab.data.cache.store.decode_rows", crash)
    with pytest.raises(KeyboardInterrupt):
        build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    folder = cache_dir(tmp_path / "cache", CFG)
    assert list(folder.iterdir()) == []
    assert open_cache(df, tmp_path / "cache", CFG) is None


def test_corrupt_sidecar_or_array_is_rebuilt(tmp_path, counter):
    df = _dataset(tmp_path / "data")
    store = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    store.path.with_suffix(".json").write_text("{truncated", encoding="utf-8")
    assert open_cache(df, tmp_path / "cache", CFG) is None
    counter.clear()
    rebuilt = build_cache(df, tmp_path / "cache", CFG, workers=1, progress=False)
    assert len(counter) == 6 and rebuilt.ok.all()
    with open(rebuilt.path, "r+b") as fh:  # truncated array
        fh.truncate(100)
    assert open_cache(df, tmp_path / "cache", CFG) is None


def test_empty_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no rows"):
        build_cache(pd.DataFrame({"path": []}), tmp_path / "cache", CFG, progress=False)


def test_direct_decoding_crops_like_the_cache_and_single_files_refuse_a_lung_crop_model(tmp_path):
    from cxrlab.data.preprocess import require_whole_film
    from cxrlab.evaluate.inference import decode_images

    df = _dataset(tmp_path / "data", n=2).assign(lung_x0=0.1, lung_y0=0.2, lung_x1=0.9, lung_y1=0.7, lung_ok=True)
    cfg = PreprocessConfig(size=32, crop="lungs")
    cached = build_cache(df, tmp_path / "cache", cfg, workers=1, progress=False)
    np.testing.assert_array_equal(decode_images(df, cfg).images, np.asarray(cached.images))
    assert not np.array_equal(cached.images[0], _expected(df["path"][0]))
    require_whole_film(PreprocessConfig(size=32), "m.cxrlab")  # whole-film models are fine
    with pytest.raises(ConfigError, match="m.cxrlab: this model was trained on lung-cropped films"):
        require_whole_film(cfg, "m.cxrlab")
