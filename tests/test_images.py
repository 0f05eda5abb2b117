from pathlib import Path

import numpy as np
import pytest

from cxrlab.errors import ImageReadError
from cxrlab.io.images import read_image, to_uint8


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


@pytest.mark.parametrize("kind", ["png8", "png16", "jpeg", "rgb", "rgba", "dicom_m2", "dicom_m1"])
def test_every_format_decodes_to_the_same_picture(image_files, kind):
    ref = read_image(image_files["png8"]).pixels
    img = read_image(image_files[kind])
    assert img.pixels.ndim == 2 and img.pixels.shape == ref.shape
    gray = to_uint8(img)
    assert gray.dtype == np.uint8
    # MONOCHROME1 must be inverted back: the picture correlates positively with the reference
    assert _corr(gray, ref) > 0.98


def test_bit_depth_and_dicom_meta(image_files):
    assert read_image(image_files["png8"]).bits == 8
    assert read_image(image_files["png16"]).bits == 16
    d = read_image(image_files["dicom_m1"])
    assert d.bits == 12 and d.format == "DICOM"
    assert d.meta["patient_id"] == "P2" and d.meta["view"] == "AP" and d.meta["photometric"] == "MONOCHROME1"


def test_bytes_input_detects_dicom_without_suffix(image_files):
    data = Path(image_files["dicom_m2"]).read_bytes()
    assert read_image(data, name="upload").format == "DICOM"


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty"), (b"hello, not an image", "not a recognised image"), (None, "truncated")],
)
def test_bad_files_give_clear_errors(tmp_path, image_files, content, reason):
    bad = tmp_path / "bad.png"
    if content is None:
        content = Path(image_files["png8"]).read_bytes()[:200]
    bad.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_image(bad)
    assert str(bad) in str(info.value) and reason in str(info.value)


def test_pixel_limit_refuses_oversized_images(image_files):
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(image_files["png8"], max_pixels=100)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="cannot read"):
        read_image(tmp_path / "nope.png")
