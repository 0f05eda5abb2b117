"""Reader limits and robustness: decompression bombs are stopped from the header, ``max_pixels`` is the
one limit everywhere, and no decoder failure escapes as anything but an ImageReadError naming the file."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from cxrlab.errors import ImageReadError
from cxrlab.io import dicom_syntax
from cxrlab.io.images import read_image

from helpers_dicom import deflated_zero_frames, encapsulated_dicom, j2k_frame, write_dicom


def test_deflated_multi_frame_bomb_inflates_only_the_first_frame(tmp_path):
    # 20 frames of 2000² 16-bit = 160 MB inflated from a file of ~0.7 MB; one frame is 8 MB.
    path = deflated_zero_frames(tmp_path / "bomb.dcm", side=2000, frames=20, BodyPartExamined="CHEST")
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        img = read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert img.pixels.shape == (2000, 2000)
    assert "multi-frame file: first of 20 frames used" in img.warnings
    assert peak < 80_000_000  # a handful of frame-sized buffers, not the 160 MB of all frames


def test_frame_size_is_checked_before_anything_is_inflated(tmp_path):
    path = deflated_zero_frames(tmp_path / "bomb.dcm", side=3000, frames=2)
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError, match=r"DICOM is 3000x3000 = 9,000,000 pixels, over the limit of 1,000,000"):
            read_image(path, max_pixels=1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_compressed_frame_claiming_more_pixels_than_its_header_is_refused_undecoded(tmp_path):
    stream = bytearray(j2k_frame(np.full((32, 32), 7, dtype=np.uint16)))
    at = stream.find(b"\xff\x4f\xff\x51")
    stream[at + 8:at + 16] = (30000).to_bytes(4, "big") * 2  # SIZ: Xsiz, Ysiz
    stream[at + 24:at + 32] = (30000).to_bytes(4, "big") * 2  # one 30000² tile
    path = encapsulated_dicom(tmp_path / "j.dcm", [bytes(stream)], "1.2.840.10008.1.2.4.90", 32, 32)
    with pytest.raises(ImageReadError, match="declares 30000x30000 pixels, over the limit for its header's 32x32"):
        read_image(path)


def test_max_pixels_raises_the_limit_past_pillows_own(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (9500, 9500), 40).save(path)  # 90.25 M pixels: above Pillow's 89.5 M warning level
    with pytest.raises(ImageReadError, match="over the limit of 64,000,000"):
        read_image(path)
    img = read_image(path, max_pixels=100_000_000)
    assert img.pixels.shape == (9500, 9500)


def test_dicom_pixel_limit_is_the_same_max_pixels(tmp_path):
    path = write_dicom(tmp_path / "d.dcm", np.zeros((100, 100), dtype=np.uint16))
    with pytest.raises(ImageReadError, match="DICOM is 100x100 = 10,000 pixels, over the limit of 5,000"):
        read_image(path, max_pixels=5000)
    assert read_image(path, max_pixels=10_000).pixels.shape == (100, 100)


def test_unexpected_decoder_failure_becomes_an_image_read_error(tmp_path, monkeypatch):
    import cxrlab.io.dicom as dicom

    def boom(*_args, **_kwargs):
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(dicom, "to_display", boom)
    path = write_dicom(tmp_path / "d.dcm", np.zeros((32, 32), dtype=np.uint16))
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path) and "unexpected error while decoding (RuntimeError: decoder bug)" in info.value.reason


def test_undecodable_syntax_names_it_and_what_to_install(tmp_path, monkeypatch):
    path = encapsulated_dicom(tmp_path / "j.dcm", [b"\x00\x01garbage" * 10], "1.2.840.10008.1.2.4.70", 32, 32)
    with pytest.raises(ImageReadError, match=r"unsupported or corrupt DICOM pixel data \(transfer syntax JPEG "
                                             r"Lossless.*\(1\.2\.840\.10008\.1\.2\.4\.70\)\)"):
        read_image(path)
    monkeypatch.setattr(dicom_syntax, "decoder_available", lambda uid: False)  # a trimmed install
    with pytest.raises(ImageReadError, match=r"no decoder installed \(pip install python-gdcm\)$"):
        read_image(path)


def test_12_bit_jpeg_extended_without_the_gpl_extra_names_the_syntax_and_the_extra(tmp_path, monkeypatch):
    frame = b"\xff\xd8\xff\xc1\x00\x0b\x0c\x00\x20\x00\x20\x01\x01\x11\x00" + b"\x00" * 64  # SOF1, 12-bit
    path = encapsulated_dicom(tmp_path / "x.dcm", [frame], "1.2.840.10008.1.2.4.51", 32, 32, BitsStored=12, HighBit=11)
    monkeypatch.setattr(dicom_syntax, "available_plugins", lambda uid: frozenset({"gdcm", "pillow"}))  # the core
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.reason == (
        "unsupported DICOM transfer syntax JPEG Extended (Process 2 and 4) (1.2.840.10008.1.2.4.51) with 12-bit "
        "samples: no installed decoder reads 12-bit JPEG Extended (python-gdcm and Pillow read 8-bit only); "
        "pip install 'cxrlab[dicom-gpl]' adds pylibjpeg-libjpeg (GPL-3.0), which does")
    assert dicom_syntax.missing_decoder("1.2.840.10008.1.2.4.51", 8) is None  # 8-bit: the core decoders read it
    monkeypatch.setattr(dicom_syntax, "available_plugins", lambda uid: frozenset({"gdcm", "pillow", "pylibjpeg"}))
    assert dicom_syntax.missing_decoder("1.2.840.10008.1.2.4.51", 12) is None  # with the extra


def test_syntaxes_no_plugin_decodes_are_named(tmp_path):
    path = encapsulated_dicom(tmp_path / "v.dcm", [b"\x00\x00\x01\xb3" * 8], "1.2.840.10008.1.2.4.102", 32, 32)
    with pytest.raises(ImageReadError, match=r"unsupported DICOM transfer syntax .*\(MPEG-4 video\): cxrlab cannot"):
        read_image(path)


def test_the_bundled_decoders_cover_the_usual_pacs_syntaxes():
    for uid in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
                "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
                "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5"):
        assert dicom_syntax.decoder_available(uid), uid
