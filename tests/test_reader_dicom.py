"""DICOM reading rules: only chest radiographs are accepted, the reasons and warnings, header fields."""

from __future__ import annotations

import numpy as np
import pytest

from cxrlab.data.synthetic.generate import synthetic_film, to_uint16_film
from cxrlab.errors import ImageReadError, ImageRefusedError
from cxrlab.io.images import read_image

from helpers_dicom import DEFLATED, SC, encapsulated_dicom, j2k_frame, write_dicom


@pytest.fixture
def film16() -> np.ndarray:
    return to_uint16_film(synthetic_film("Normal", np.random.default_rng(3), 48), 12)


def _gray_rgb(film16: np.ndarray) -> np.ndarray:
    g8 = (film16 >> 4).astype(np.uint8)
    return np.stack([g8] * 3, -1)


def test_chest_dx_is_accepted_with_its_header_fields(tmp_path, film16):
    path = write_dicom(tmp_path / "dx.dcm", film16, BodyPartExamined="CHEST", ViewPosition="PA", PatientAge="067Y",
                       PatientSex="F", Manufacturer="ACME", ImagerPixelSpacing=[0.139, 0.14])
    img = read_image(path)
    assert img.format == "DICOM" and img.pixels.dtype == np.uint16 and img.warnings == ()
    assert {k: img.meta[k] for k in ("modality", "view", "body_part", "patient_age", "patient_sex", "manufacturer",
                                     "pixel_spacing", "photometric", "transfer_syntax")} == {
        "modality": "DX", "view": "PA", "body_part": "CHEST", "patient_age": "067Y", "patient_sex": "F",
        "manufacturer": "ACME", "pixel_spacing": "0.139x0.14", "photometric": "MONOCHROME2",
        "transfer_syntax": "ExplicitVRLittleEndian"}


@pytest.mark.parametrize("attrs, reason", [
    ({"modality": "CT", "sop": "1.2.840.10008.5.1.4.1.1.2"}, "not a chest radiograph: Modality CT"),
    ({"modality": "MR"}, "not a chest radiograph: Modality MR"),
    ({"modality": "MG"}, "not a chest radiograph: Modality MG"),
    ({"modality": "DX", "sop": "1.2.840.10008.5.1.4.1.1.66.4"}, "not a chest radiograph: SOP class Segmentation Storage"),
    ({"modality": "", "sop": "", "preamble": False}, "names neither a radiograph Modality nor a SOP class"),
    ({"BodyPartExamined": "HAND"}, "not a chest radiograph: BodyPartExamined HAND"),
    ({"BodyPartExamined": "L SPINE"}, "not a chest radiograph: BodyPartExamined L SPINE"),
    ({"modality": "OT", "sop": SC, "ConversionType": "WSD"}, "secondary capture of a workstation (ConversionType WSD)"),
    ({"modality": "OT", "sop": SC}, "secondary capture that names neither a digitised film"),
    ({"photometric": "PALETTE COLOR"}, "photometric interpretation PALETTE COLOR"),
])
def test_non_radiographs_are_refused_with_the_reason(tmp_path, film16, attrs, reason):
    path = write_dicom(tmp_path / "x.dcm", film16, **attrs)
    with pytest.raises(ImageRefusedError) as info:
        read_image(path)
    assert reason in info.value.reason and str(path) in str(info.value)
    assert isinstance(info.value, ImageReadError)  # existing per-file error handling applies
    anyway = read_image(path, radiograph_only=False)  # decodes when asked, the reason among the warnings
    assert anyway.pixels.shape == film16.shape and any(reason in w for w in anyway.warnings)


def test_secondary_capture_of_a_digitised_film_is_accepted_with_a_warning(tmp_path, film16):
    for i, attrs in enumerate([{"modality": "OT", "ConversionType": "DF"}, {"modality": "DX"},
                               {"modality": "", "ConversionType": "SI"}]):
        img = read_image(write_dicom(tmp_path / f"sc{i}.dcm", film16, sop=SC, **attrs))
        assert img.warnings == ("secondary capture: digitised film",)


def test_colour_secondary_capture_is_refused_but_a_gray_one_stored_as_rgb_is_not(tmp_path, film16):
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    path = write_dicom(tmp_path / "colour.dcm", colour, sop=SC, modality="OT", ConversionType="DF", photometric="RGB")
    with pytest.raises(ImageRefusedError, match=r"colour image \(photometric RGB\) \(strong chroma in \d+% of pixels\)"):
        read_image(path)
    gray = write_dicom(tmp_path / "gray.dcm", _gray_rgb(film16), sop=SC, modality="OT", ConversionType="DF",
                       photometric="RGB")
    img = read_image(gray)
    assert img.pixels.ndim == 2 and np.corrcoef(img.pixels.ravel(), film16.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("view, expected", [
    ({"ViewPosition": "LL"}, "lateral view (ViewPosition=LL): the model was trained on frontal films"),
    ({"ViewPosition": "RAO"}, "oblique view (ViewPosition=RAO): the model was trained on frontal films"),
    ({"ViewPosition": "XYZ"}, "view not recognised as frontal (ViewPosition=XYZ)"),
    ({"ViewPosition": "AP"}, None),
])
def test_non_frontal_views_are_flagged(tmp_path, film16, view, expected):
    img = read_image(write_dicom(tmp_path / "v.dcm", film16, **view))
    assert img.warnings == ((expected,) if expected else ())
    assert img.meta["view"] == view["ViewPosition"]


def test_view_code_sequence_fills_in_for_a_missing_view_position(tmp_path, film16):
    from pydicom.dataset import Dataset

    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "R-10206", "SRT", "lateral"
    img = read_image(write_dicom(tmp_path / "v.dcm", film16, ViewCodeSequence=[code]))
    assert img.meta["view"] == "lateral"
    assert img.warnings == ("lateral view (ViewCodeSequence=lateral): the model was trained on frontal films",)


def test_unrecognised_body_part_is_a_warning(tmp_path, film16):
    img = read_image(write_dicom(tmp_path / "b.dcm", film16, BodyPartExamined="PORTABLE"))
    assert img.warnings == ("BodyPartExamined PORTABLE not recognised as chest",)
    assert read_image(write_dicom(tmp_path / "t.dcm", film16, BodyPartExamined="THORAX")).warnings == ()


@pytest.mark.parametrize("attrs, warning", [
    ({"WindowCenter": 100, "WindowWidth": 0}, "VOI window ignored (WindowWidth=0"),
    ({"WindowCenter": 100, "WindowWidth": -5}, "VOI window ignored (WindowWidth=-5"),
])
def test_a_bad_voi_window_never_fails_the_file(tmp_path, attrs, warning):
    constant = np.full((32, 32), 100, dtype=np.uint16)
    img = read_image(write_dicom(tmp_path / "w.dcm", constant, **attrs))
    assert any(warning in w for w in img.warnings)
    assert any(w.startswith("degenerate image: 32x32 with constant pixels") for w in img.warnings)


def test_a_broken_voi_lut_sequence_is_skipped_with_a_warning(tmp_path, film16):
    from pydicom.dataset import Dataset

    lut = Dataset()
    lut.LUTDescriptor, lut.LUTData = [4, 0, 16], b"\x01\x00\x02\x00"  # says 4 entries, has 2
    img = read_image(write_dicom(tmp_path / "lut.dcm", film16, VOILUTSequence=[lut]))
    assert img.pixels.shape == film16.shape


def test_windowing_is_applied(tmp_path):
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))
    img = read_image(write_dicom(tmp_path / "w.dcm", ramp, WindowCenter=2048, WindowWidth=1024))
    row = img.pixels[0].astype(int)
    assert row[:20].max() == 0 and row[-20:].min() == 65535 and np.all(np.diff(row) >= 0)


def test_multi_frame_takes_the_first_frame_and_says_so(tmp_path, film16):
    frames = np.stack([film16, 4095 - film16, film16 // 2])
    img = read_image(write_dicom(tmp_path / "mf.dcm", frames, multi_frame=True))
    assert img.pixels.shape == (48, 48) and img.warnings == ("multi-frame file: first of 3 frames used",)
    assert np.corrcoef(img.pixels.ravel(), film16.ravel())[0, 1] > 0.999


def test_deflated_and_headerless_and_compressed_dicoms_decode(tmp_path, film16):
    reference = read_image(write_dicom(tmp_path / "plain.dcm", film16)).pixels
    deflated = read_image(write_dicom(tmp_path / "d.dcm", film16, syntax=DEFLATED))
    bare = read_image(write_dicom(tmp_path / "IMG0001", film16, preamble=False))
    j2k = read_image(encapsulated_dicom(tmp_path / "j.dcm", [j2k_frame(film16)], "1.2.840.10008.1.2.4.90", 48, 48))
    for img in (deflated, bare, j2k):
        assert np.array_equal(img.pixels, reference)
    assert deflated.meta["transfer_syntax"] == "DeflatedExplicitVRLittleEndian"
    assert j2k.meta["transfer_syntax"] == "JPEG2000Lossless"


def test_no_pixel_data_is_an_error_naming_the_object(tmp_path, film16):
    from cxrlab.io.images import read_image as read

    path = write_dicom(tmp_path / "sr.dcm", film16, modality="SR", sop="1.2.840.10008.5.1.4.1.1.88.11")
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"\xe0\x7f\x10\x00")])
    with pytest.raises(ImageReadError) as info:
        read(path)
    assert not isinstance(info.value, ImageRefusedError)
    assert info.value.reason == "DICOM file has no pixel data (Basic Text SR Storage, Modality SR)"
