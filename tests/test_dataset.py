import numpy as np
import pandas as pd
import pytest
import torch

from cxrlab.config import PreprocessConfig
from cxrlab.data.torch_dataset import CachedImageDataset
from cxrlab.data.preprocess import to_model_input
from cxrlab.data.transforms import AugmentConfig, build_augment, normalize
from cxrlab.errors import ConfigError
from conftest import make_film


@pytest.fixture
def images():
    return np.stack([make_film(label, seed=i, size=48) for i, label in enumerate(["COVID", "Normal", "Pneumonia", "Normal"])])


@pytest.mark.parametrize("in_chans, mean, std", [(1, [0.5], [0.25]), (3, [0.449], [0.226]), (3, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
def test_normalisation_is_identical_to_to_model_input(images, in_chans, mean, std):
    ds = CachedImageDataset(images, rows=[2, 0], targets=[1, 0], mean=mean, std=std, in_chans=in_chans)
    x, y = ds[0]
    expected = to_model_input(images[2], mean, std, in_chans)[0]
    assert x.dtype == torch.float32 and x.shape == (in_chans, 48, 48) and y == 1
    np.testing.assert_array_equal(x.numpy(), expected)
    batch = normalize(torch.from_numpy(images)[:, None], mean, std, in_chans)
    np.testing.assert_array_equal(batch.numpy(), to_model_input(images, mean, std, in_chans))


def test_augmentation_is_seeded_per_sample_and_epoch(images):
    ds = CachedImageDataset(images, range(4), [0, 1, 2, 1], [0.5], [0.25], augment=build_augment(AugmentConfig(), 48), seed=3)
    plain = CachedImageDataset(images, range(4), [0, 1, 2, 1], [0.5], [0.25])
    a = ds[1][0]
    torch.manual_seed(999)  # global RNG state must not matter
    assert torch.equal(a, ds[1][0])
    assert not torch.equal(a, plain[1][0])
    ds.set_epoch(1)
    assert not torch.equal(a, ds[1][0])
    other_seed = CachedImageDataset(images, range(4), [0, 1, 2, 1], [0.5], [0.25], augment=ds.augment, seed=4)
    assert not torch.equal(a, other_seed[1][0])


def test_augmentation_keeps_laterality_and_range():
    """No flips by default: a film bright on its left stays bright on its left under every draw."""
    img = np.full((1, 64, 64), 40, np.uint8)
    img[0, :, :24] = 220
    aug = build_augment(AugmentConfig(), 64)
    for seed in range(25):
        torch.manual_seed(seed)
        out = aug(torch.from_numpy(img.copy()))
        assert out.dtype == torch.uint8 and out.shape == (1, 64, 64)
        assert out[0, :, :20].float().mean() > out[0, :, 44:].float().mean() + 100
    flipping = build_augment(AugmentConfig(hflip_p=1.0), 64)
    torch.manual_seed(0)
    assert flipping(torch.from_numpy(img.copy()))[0, :, 44:].float().mean() > 150


def test_disabled_augmentation_and_bad_values():
    assert build_augment(AugmentConfig(enabled=False), 64) is None
    with pytest.raises(ConfigError, match="hflip_p"):
        AugmentConfig(hflip_p=1.5)
    with pytest.raises(ConfigError, match="rotation"):
        AugmentConfig(rotation=-1)


def test_dataset_reads_the_real_cache(tmp_path, images):
    from PIL import Image

    from cxrlab.data.cache.store import build_cache
    from cxrlab.data.preprocess import preprocess

    paths = []
    for i, img in enumerate(images):
        paths.append(tmp_path / f"f{i}.png")
        Image.fromarray(img).save(paths[-1])
    df = pd.DataFrame({"path": [str(p) for p in paths], "label": ["COVID", "Normal", "Pneumonia", "Normal"], "source": "t"})
    cfg = PreprocessConfig(size=32)
    store = build_cache(df, tmp_path / "cache", cfg, workers=0, progress=False)
    ds = CachedImageDataset(store.images, [3, 1], [1, 1], [0.5], [0.25])
    expected = to_model_input(preprocess(images[3], cfg), [0.5], [0.25])[0]
    np.testing.assert_array_equal(ds[0][0].numpy(), expected)
    with pytest.raises(ValueError, match="differ in length"):
        CachedImageDataset(store.images, [0, 1], [0], [0.5], [0.25])


def test_web_copy_degradation_blurs_fine_detail_and_keeps_the_picture():
    from cxrlab.data.transforms import RandomDegrade

    rng = np.random.default_rng(0)
    img = np.full((1, 64, 64), 60, np.uint8)
    img[0, :, :32] = 200
    img[0, 8:56:2, 40:60] = 255  # fine stripes: lost when the film is shrunk to 35-80 % and JPEG-compressed
    img = np.clip(img.astype(int) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    x = torch.from_numpy(img)
    for seed in range(10):
        torch.manual_seed(seed)
        out = RandomDegrade()(x.clone())
        assert out.dtype == torch.uint8 and out.shape == x.shape
        stripes = out[0, 8:56, 40:60].float()
        assert (stripes[::2] - stripes[1::2]).abs().mean() < 0.8 * 195  # stripe contrast drops
        assert abs(out[0, :, :28].float().mean() - 200) < 10 and abs(out[0, :, 4:28].float().mean() - x[0, :, 4:28].float().mean()) < 10
    aug = build_augment(AugmentConfig(degrade_p=1.0, rotation=0, translate=0, scale=0, brightness=0, contrast=0,
                                      gamma=0, noise=0, blur_p=0), 64)
    torch.manual_seed(1)
    assert not torch.equal(aug(x.clone()), x)
    with pytest.raises(ConfigError, match="degrade_p"):
        AugmentConfig(degrade_p=2)
