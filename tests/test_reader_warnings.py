"""pydicom's own warnings about odd files stay off the terminal: the meaningful ones become the
image's warnings (and so the prediction's), encoding notes are dropped, other warnings pass through."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cxrlab.io.dicom_warnings import captured_pydicom_warnings, warning_notes
from cxrlab.io.images import read_image
from helpers_dicom import write_dicom


def _film() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4000, (64, 64), dtype=np.uint16)


def odd_dicom(path: Path) -> Path:
    """A frontal DX whose NumberOfFrames is '1.5' (pydicom warns about the invalid IS value)."""
    from pydicom import config

    with ignoring_writes(config), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's complaint when the test writes it
        return write_dicom(path, _film(), ViewPosition="PA", NumberOfFrames="1.5")


def _read_recording(path, **kwargs):
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        image = read_image(path, **kwargs)
    return image, [str(w.message) for w in escaped]


def test_an_invalid_header_value_becomes_a_warning_of_the_image_not_stderr_noise(tmp_path):
    path = odd_dicom(tmp_path / "odd.dcm")
    image, escaped = _read_recording(path)
    assert escaped == []
    assert image.warnings == ("DICOM: Invalid value for VR IS: '1.5'.",
                              'DICOM: Value "1.5" is not valid for elements with a VR of IS')


def test_encoding_notes_pydicom_worked_around_are_dropped_silently():
    from pydicom.data.data_manager import DATA_ROOT

    path = Path(DATA_ROOT) / "test_files" / "SC_rgb_jpeg.dcm"  # explicit VR declared, implicit VR found
    image, escaped = _read_recording(path, radiograph_only=False)
    assert escaped == [] and not any(w.startswith("DICOM: ") for w in image.warnings)


def test_a_clean_file_gets_no_warning_and_other_warnings_pass_through(tmp_path):
    image, escaped = _read_recording(write_dicom(tmp_path / "pa.dcm", _film(), ViewPosition="PA"))
    assert image.warnings == () and escaped == []
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        with captured_pydicom_warnings() as notes:
            warnings.warn("not about the file", RuntimeWarning)  # raised by this test, not by the reader
    assert notes == [] and [str(w.message) for w in outside] == ["not about the file"]


def test_notes_are_deduplicated_shortened_and_capped():
    see = " Please see <https://dicom.nema.org/x> for allowed values for each VR."
    notes = warning_notes([f"Invalid value for VR DS: 'a'.{see}", f"Invalid value for VR DS: 'a'.{see}",
                           "Expected explicit VR, but found implicit VR - using implicit VR for reading",
                           *[f"odd thing {i}" for i in range(6)]])
    assert notes == ["DICOM: Invalid value for VR DS: 'a'.", "DICOM: odd thing 0", "DICOM: odd thing 1",
                     "DICOM: odd thing 2", "DICOM: 3 more warning(s) from pydicom"]


class ignoring_writes:
    """pydicom's writing validation off for a block (to write a deliberately odd file)."""

    def __init__(self, config) -> None:
        self.config = config

    def __enter__(self) -> None:
        self.saved = self.config.settings.writing_validation_mode
        self.config.settings.writing_validation_mode = self.config.IGNORE

    def __exit__(self, *_exc) -> None:
        self.config.settings.writing_validation_mode = self.saved
