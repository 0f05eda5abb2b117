from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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


def _film8(size: int = 64) -> np.ndarray:
    from cxrlab.data.synthetic.generate import synthetic_film, to_uint8_film

    return to_uint8_film(synthetic_film("Normal", np.random.default_rng(5), size))


def _colour_photo(size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(9)
    blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((size // 8, size // 8, 1), dtype=np.uint8))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_colour_photographs_are_refused(tmp_path, suffix):
    from cxrlab.errors import ImageRefusedError

    path = tmp_path / f"photo{suffix}"
    Image.fromarray(_colour_photo()).save(path)
    with pytest.raises(ImageRefusedError, match=r"not a chest radiograph: colour photograph \((PNG|JPEG) RGB\) "
                                                r"\(strong chroma in \d+% of pixels\)"):
        read_image(path)
    assert read_image(path, radiograph_only=False).pixels.shape == (64, 64)


def test_gray_films_stored_in_colour_are_accepted(tmp_path):
    film = _film8()
    annotated = np.stack([film] * 3, -1)
    annotated[5:8, 5:40] = (255, 0, 0)  # a red arrow-like mark: ~2.5% of the pixels
    Image.fromarray(annotated).save(tmp_path / "annotated.png")
    assert read_image(tmp_path / "annotated.png").warnings == ()
    sepia = np.stack([film, (film * 0.85).astype(np.uint8), (film * 0.6).astype(np.uint8)], -1)
    Image.fromarray(sepia).save(tmp_path / "sepia.jpg", quality=95)
    img = read_image(tmp_path / "sepia.jpg")
    assert len(img.warnings) == 1 and img.warnings[0].startswith("tinted image (colour cast of")
    Image.fromarray(np.stack([film] * 3, -1)).save(tmp_path / "rgb.jpg", quality=95)
    gray = read_image(tmp_path / "rgb.jpg")  # decoded straight to gray: same picture
    assert gray.warnings == () and np.abs(gray.pixels.astype(int) - film).mean() < 2


@pytest.mark.parametrize("size, expected", [
    ((1, 1), "degenerate image: 1x1 (under 16 pixels on a side)"),
    ((1, 20000), "degenerate image: 1x20000 (under 16 pixels on a side)"),
    ((400, 40), "degenerate image: 400x40 (aspect ratio 10.0:1)"),
])
def test_degenerate_images_are_flagged(tmp_path, size, expected):
    Image.new("L", size, 3).save(tmp_path / "d.png")
    assert read_image(tmp_path / "d.png").warnings == (expected,)


def test_constant_images_are_flagged(tmp_path):
    Image.new("L", (64, 64), 77).save(tmp_path / "c.png")
    assert read_image(tmp_path / "c.png").warnings == ("degenerate image: 64x64 with constant pixels (all 77)",)


def test_nearly_constant_images_are_flagged_as_the_index_excludes_them(tmp_path):
    from cxrlab.data.index.film_checks import BLANK, exclusion_reason

    pixels = np.full((300, 400), 1000, np.uint16)
    pixels[5, 7] = 60000  # one hot pixel: the 8-bit view (min-max stretched) is black but for a dot
    Image.fromarray(pixels).save(tmp_path / "dot16.png")
    image = read_image(tmp_path / "dot16.png")
    assert image.warnings == ("degenerate image: 400x300 with nearly constant pixels (std 0.74 of 255)",)
    assert exclusion_reason(image) == BLANK
    Image.fromarray(_film8()).save(tmp_path / "film.png")
    film = read_image(tmp_path / "film.png")
    assert film.warnings == () and exclusion_reason(film) is None


def test_animated_gif_and_multipage_tiff_say_only_the_first_frame_is_used(tmp_path):
    film = _film8()
    frames = [Image.fromarray(f) for f in (film, 255 - film, film // 2)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "a.tif", save_all=True, append_images=frames[1:])
    for name in ("a.gif", "a.tif"):
        img = read_image(tmp_path / name)
        assert img.warnings == ("multi-frame file: first of 3 frames used",), name
        assert _corr(img.pixels, film) > 0.95


def test_content_decides_the_format_not_the_name(tmp_path, image_files):
    png_as_dcm = tmp_path / "film.dcm"
    png_as_dcm.write_bytes(Path(image_files["png8"]).read_bytes())
    img = read_image(png_as_dcm)
    assert img.format == "PNG" and np.array_equal(img.pixels, read_image(image_files["png8"]).pixels)
    assert img.warnings == ("file named .dcm holds a PNG image, read as PNG",)
    dicom_as_png = tmp_path / "scan.png"
    dicom_as_png.write_bytes(Path(image_files["dicom_m2"]).read_bytes())
    assert read_image(dicom_as_png).format == "DICOM"
