"""pydicom's own test corpus (installed with the pydicom wheel: offline) through the reader and the
indexer: no file is taken for a chest radiograph, each refusal names its reason, every pixel-bearing
file in a supported syntax decodes, and the broken ones fail naming the problem."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from cxrlab.errors import ImageReadError, ImageRefusedError
from cxrlab.io.images import read_image

REFUSED = "not a chest radiograph: "
_SC_NO_TYPE = "secondary capture that names neither a digitised film (ConversionType DF/SI) nor a radiograph Modality"
_SYN = [f"SC_rgb_{n}.dcm" for n in ("dcmtk_+eb+cr", "dcmtk_+eb+cy+n1", "dcmtk_+eb+cy+n2", "dcmtk_+eb+cy+np",
                                    "dcmtk_+eb+cy+s2", "dcmtk_+eb+cy+s4", "gdcm_KY", "jpeg_dcmtk", "jpeg_gdcm",
                                    "jpeg_lossy_gdcm", "rle", "rle_16bit", "rle_16bit_2frame", "rle_2frame", "rle_32bit",
                                    "rle_32bit_2frame", "small_odd", "small_odd_big_endian", "small_odd_jpeg")]
#: file -> refusal reason (after "not a chest radiograph: ").
REFUSALS: dict[str, str] = {
    **dict.fromkeys(["693_J2KI.dcm", "CT_small.dcm", "J2K_pixelrep_mismatch.dcm"], "Modality CT"),
    **dict.fromkeys(["ExplVR_BigEnd.dcm", "examples_jpeg2k.dcm", "examples_palette.dcm", "examples_rgb_color.dcm",
                     "examples_ybr_color.dcm"], "Modality US"),
    **dict.fromkeys(["JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm", "JPEG2000.dcm", "JPGExtended.dcm"],
                    "Modality NM"),
    **dict.fromkeys(["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
                     "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                     "MR_small_padded.dcm", "MR_truncated.dcm", "examples_overlay.dcm"], "Modality MR"),
    **dict.fromkeys(["badVR.dcm", "rtdose.dcm", "rtdose_1frame.dcm", "rtdose_expb.dcm", "rtdose_expb_1frame.dcm",
                     "rtdose_rle.dcm", "rtdose_rle_1frame.dcm"], "Modality RTDOSE"),
    **dict.fromkeys(["liver_1frame.dcm", "liver_expb_1frame.dcm"], "Modality SEG"),
    **dict.fromkeys(["GDCMJ2K_TextGBR.dcm", "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm",
                     "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm"], _SC_NO_TYPE),
    **dict.fromkeys(["SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm",
                     "SC_rgb_jpeg_app14_dcmd.dcm", "image_dfl.dcm"],
                    "secondary capture of a workstation (ConversionType WSD), not a digitised film"),
    **dict.fromkeys(_SYN + ["SC_ybr_full_422_uncompressed.dcm"],
                    "secondary capture of a synthetic image (ConversionType SYN), not a digitised film"),
    **dict.fromkeys(["SC_rgb_jpeg.dcm", "SC_rgb_jpeg_dcmd.dcm"],
                    "secondary capture of a digital interface (ConversionType DI), not a digitised film"),
    **dict.fromkeys(["meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm"],
                    "the header names neither a radiograph Modality nor a SOP class"),
}
#: file -> what its "no pixel data" error names (an SR, a plan, a waveform is no image at all).
NO_PIXELS: dict[str, str] = {
    **dict.fromkeys(["ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm"], " (RT Ion Plan Storage, Modality RTPLAN)"),
    **dict.fromkeys(["rtplan.dcm", "rtplan_truncated.dcm"], " (RT Plan Storage, Modality RTPLAN)"),
    **dict.fromkeys(["reportsi.dcm", "reportsi_with_empty_number_tags.dcm"], " (Basic Text SR Storage, Modality SR)"),
    "test-SR.dcm": " (Comprehensive SR Storage, Modality SR)",
    "rtstruct.dcm": " (RT Structure Set Storage, Modality RTSTRUCT)",
    "waveform_ecg.dcm": " (12-lead ECG Waveform Storage, Modality ECG)",
    "UN_sequence.dcm": " (CT Image Storage)", "priv_SQ.dcm": " (MR Image Storage)",
    "no_meta_group_length.dcm": " (RT Image Storage)", "empty_charset_LEI.dcm": "", "no_meta.dcm": "",
}
#: 12-bit JPEG Extended: only the optional GPL decoder (cxrlab[dicom-gpl]: pylibjpeg-libjpeg) reads it;
#: with the core decoders (what CI installs) such a frame is refused before decoding, with this reason.
NO_CORE_DECODER = ("unsupported DICOM transfer syntax JPEG Extended (Process 2 and 4) (1.2.840.10008.1.2.4.51) "
                   "with 12-bit samples: no installed decoder reads 12-bit JPEG Extended (python-gdcm and Pillow "
                   "read 8-bit only); pip install 'cxrlab[dicom-gpl]' adds pylibjpeg-libjpeg (GPL-3.0), which does")
TWELVE_BIT_JPEG = ("JPGExtended.dcm", "JPEG-lossy.dcm")  # the second is also corrupt (see BROKEN)
#: Broken on purpose in pydicom's corpus: what decoding them anyway (radiograph_only=False) reports.
BROKEN: dict[str, str] = {
    "JPEG-lossy.dcm": "corrupt DICOM pixel data (transfer syntax JPEG Extended (Process 2 and 4) (1.2.840.10008.1.2.4.51))",
    "JPEG2000-embedded-sequence-delimiter.dcm": "declares 3722445056x1024 pixels, over the limit",
    "MR_truncated.dcm": "corrupt DICOM pixel data (transfer syntax Explicit VR Little Endian (1.2.840.10008.1.2.1))",
    "badVR.dcm": "invalid NumberOfFrames '1A'",
    "meta_missing_tsyntax.dcm": "DICOM header has no valid Rows/Columns",
    "nested_priv_SQ.dcm": "DICOM header has no valid Rows/Columns",
}


def corpus_files() -> list[Path]:
    """pydicom's bundled test files (never its optional downloads: the tests stay offline)."""
    from pydicom.data.data_manager import DATA_ROOT

    files = sorted((Path(DATA_ROOT) / "test_files").glob("*.dcm"))
    if len((set(REFUSALS) | set(NO_PIXELS)) - {f.name for f in files}) > 10:
        pytest.skip("this pydicom's bundled corpus differs from the one these outcomes were written for")
    return files


@pytest.fixture(autouse=True)
def _quiet_pydicom():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the deliberately odd files
        yield


def test_no_corpus_file_is_taken_for_a_chest_radiograph():
    files = corpus_files()
    for path in files:
        with pytest.raises(ImageReadError) as info:
            read_image(path)
        reason = info.value.reason
        if path.name in REFUSALS:
            assert isinstance(info.value, ImageRefusedError) and reason == REFUSED + REFUSALS[path.name], path.name
        elif path.name in NO_PIXELS:
            assert not isinstance(info.value, ImageRefusedError), path.name
            assert reason == "DICOM file has no pixel data" + NO_PIXELS[path.name], path.name
        else:  # a file added by a newer pydicom: it still must not be accepted, and must say why
            assert reason, path.name
    assert len(REFUSALS) == 64 and len(NO_PIXELS) == 14


def _gpl_jpeg_installed() -> bool:
    from cxrlab.io.dicom_syntax import JPEG_EXTENDED, available_plugins

    return "pylibjpeg" in available_plugins(JPEG_EXTENDED)


def test_every_pixel_bearing_corpus_file_in_a_supported_syntax_decodes():
    gpl = _gpl_jpeg_installed()
    decoded = []
    for path in corpus_files():
        if path.name in NO_PIXELS:
            continue
        if path.name in TWELVE_BIT_JPEG and not gpl:
            with pytest.raises(ImageReadError) as info:
                read_image(path, radiograph_only=False)
            assert info.value.reason == NO_CORE_DECODER, path.name
            continue
        if path.name in BROKEN:
            with pytest.raises(ImageReadError) as info:
                read_image(path, radiograph_only=False)
            assert BROKEN[path.name] in info.value.reason, (path.name, info.value.reason)
            continue
        img = read_image(path, radiograph_only=False)
        assert img.pixels.ndim == 2 and img.pixels.dtype in (np.uint8, np.uint16) and img.format == "DICOM"
        if path.name in REFUSALS:
            assert REFUSED + REFUSALS[path.name] in img.warnings  # the reason travels with the pixels
        decoded.append(path.name)
    # every syntax in the corpus: native, deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS, J2K;
    # 12-bit JPEG Extended (JPGExtended.dcm) only with the GPL extra
    assert len(decoded) == (58 if gpl else 57) and ("JPGExtended.dcm" in decoded) == gpl


def test_the_core_decoders_are_licence_clean_and_the_gpl_one_is_an_extra():
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {dep.split(">")[0].split("=")[0].split("[")[0].strip().lower() for dep in project["dependencies"]}
    assert {"pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "python-gdcm"} <= core
    assert "pylibjpeg-libjpeg" not in core  # GPL-3.0: never installed with cxrlab itself
    assert any(d.startswith("pylibjpeg-libjpeg") for d in project["optional-dependencies"]["dicom-gpl"])


def test_corpus_multi_frame_and_colour_files_decode_their_first_frame():
    from pydicom.data.data_manager import DATA_ROOT

    root = Path(DATA_ROOT) / "test_files"
    ybr = read_image(root / "examples_ybr_color.dcm", radiograph_only=False)
    assert ybr.pixels.shape == (240, 320) and "multi-frame file: first of 30 frames used" in ybr.warnings
    assert read_image(root / "rtdose.dcm", radiograph_only=False).warnings[:2] == (
        "degenerate image: 10x10 (under 16 pixels on a side)", "multi-frame file: first of 15 frames used")


def test_index_excludes_the_corpus_with_reasons_and_skips_what_has_no_pixels(tmp_path):
    from cxrlab.data.index.indexer import index_datasets

    folder = tmp_path / "corpus" / "COVID"
    folder.mkdir(parents=True)
    files = corpus_files()
    for path in files:
        shutil.copy(path, folder / path.name)
    result = index_datasets([tmp_path / "corpus"], workers=1, progress=False)
    assert result.manifest.empty
    excluded = {Path(p).name: reason for p, reason in result.excluded}
    skipped = {Path(p).name: reason for p, reason in result.skipped}
    assert {n: r for n, r in excluded.items() if n in REFUSALS} == {n: REFUSED + r for n, r in REFUSALS.items()}
    assert set(skipped) >= set(NO_PIXELS) and all("no pixel data" in skipped[n] for n in NO_PIXELS)
