"""Read a DICOM file: header first, limits and chest-radiograph rules, then only the first frame.

Order matters for safety: the header is parsed without the pixel data (:mod:`.dicom_header`), the
object is refused if it is not a chest radiograph (:mod:`.radiograph`), the frame size is checked
against the pixel limit, a compressed frame's own declared size is checked too (:mod:`.codestream`),
a frame no installed decoder reads is refused naming what to install (:mod:`.dicom_syntax`), and only
then is the first frame inflated/decoded. Colour images are judged by their chroma.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, BinaryIO

import numpy as np

from cxrlab.errors import ImageReadError, ImageRefusedError, ImageTooLargeError, UnsupportedDicomError
from cxrlab.io.codestream import codestream_size, first_fragment_head
from cxrlab.io.colour import measure_chroma
from cxrlab.io.dicom_header import DicomHeader, inflate_first_frame, read_header
from cxrlab.io.dicom_meta import dicom_meta, dicom_view
from cxrlab.io.dicom_pixels import colour_to_gray, stretch, to_display
from cxrlab.io.dicom_syntax import decode_failure, missing_decoder, syntax_name
from cxrlab.io.dicom_warnings import captured_pydicom_warnings
from cxrlab.io.flags import image_warnings
from cxrlab.io.loaded import LoadedImage
from cxrlab.io.radiograph import body_part_verdict, is_secondary_capture, refusal_reason, sop_class

#: A frame may hold at most this many bytes per allowed pixel (32-bit gray, or 8-bit RGB + slack).
BYTES_PER_PIXEL_LIMIT = 4
_ENCAPSULATED_PREFIXES = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")


def read_dicom(source: BinaryIO, label: str, max_pixels: int, radiograph_only: bool = True) -> LoadedImage:
    """Decode the first frame of a DICOM file. Raises :class:`ImageReadError` /
    :class:`ImageRefusedError` naming the file and the reason. pydicom's own warnings about the
    file never reach the terminal: the meaningful ones join the image's warnings."""
    with captured_pydicom_warnings() as notes:
        image = _read_dicom(source, label, max_pixels, radiograph_only)
    return dataclasses.replace(image, warnings=(*image.warnings, *notes)) if notes else image


def _read_dicom(source: BinaryIO, label: str, max_pixels: int, radiograph_only: bool) -> LoadedImage:
    header = read_header(source, label)
    ds = header.ds
    meta = dicom_meta(ds, header.syntax)
    if header.pixel_tag is None:
        raise UnsupportedDicomError(label, f"DICOM file has no pixel data{_describe(ds)}")
    refusal = refusal_reason(ds, header.pixel_tag)
    if refusal and radiograph_only:
        raise ImageRefusedError(label, refusal)
    try:
        frames = header.frames
    except ValueError as exc:
        raise ImageReadError(label, str(exc)) from None
    frame_bytes = _check_size(ds, label, max_pixels)
    if header.inflater is None and header.syntax.startswith(_ENCAPSULATED_PREFIXES):
        _check_codestream(header, label, max_pixels)
        missing = missing_decoder(header.syntax, _int(ds.get("BitsStored"), 0) or _int(ds.get("BitsAllocated"), 8))
        if missing:
            raise UnsupportedDicomError(label, missing)
    arr = _decode_first_frame(header, frame_bytes, label)
    notes: list[str] = [refusal] if refusal else []
    photometric = meta.get("photometric", "MONOCHROME2")
    if arr.ndim == 3:
        chroma = measure_chroma(arr)
        if chroma.is_colour and radiograph_only:
            raise ImageRefusedError(label, chroma.refusal(f"image (photometric {photometric})"))
        if chroma.is_tinted:
            notes.append(chroma.tint_warning())
        values = colour_to_gray(arr)
    elif arr.ndim == 2:
        values = to_display(arr, ds, notes)
    else:
        raise ImageReadError(label, f"unexpected decoded DICOM shape {arr.shape}")
    del arr
    bits = _int(ds.get("BitsStored"), 0) or _int(ds.get("BitsAllocated"), 16) or 16
    pixels = stretch(values, bits)
    view, view_source = dicom_view(ds)
    found = image_warnings(pixels, frames=frames, view=view, view_source=view_source,
                           secondary_capture=is_secondary_capture(ds) and not refusal)
    body = str(ds.get("BodyPartExamined", "") or "").strip()
    if body_part_verdict(body) == "unknown":
        notes.append(f"BodyPartExamined {body} not recognised as chest")
    return LoadedImage(pixels=pixels, bits=bits, format="DICOM", meta=meta, warnings=found + tuple(notes))


def _check_size(ds: Any, label: str, max_pixels: int) -> int:
    """Bytes of one frame, after checking the header's size against the limits."""
    rows, cols = _int(ds.get("Rows"), 0), _int(ds.get("Columns"), 0)
    if rows <= 0 or cols <= 0:
        raise ImageReadError(label, "DICOM header has no valid Rows/Columns")
    if rows * cols > max_pixels:
        raise ImageTooLargeError(label, f"DICOM is {cols}x{rows} = {rows * cols:,} pixels, over the limit of "
                                    f"{max_pixels:,}")
    samples, bits = _int(ds.get("SamplesPerPixel"), 1) or 1, _int(ds.get("BitsAllocated"), 0)
    if samples not in (1, 3, 4) or bits not in (1, 8, 16, 32, 64):
        raise UnsupportedDicomError(label, f"unsupported DICOM pixel layout (SamplesPerPixel {samples}, "
                                    f"BitsAllocated {bits})")
    frame_bytes = math.ceil(rows * cols * samples * bits / 8)
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "YBR_FULL_422":
        frame_bytes = frame_bytes // 3 * 2
    if frame_bytes > BYTES_PER_PIXEL_LIMIT * max_pixels:
        raise ImageTooLargeError(label, f"DICOM frame is {frame_bytes:,} bytes ({cols}x{rows}, {samples} x {bits} "
                                    f"bits), over the limit of {BYTES_PER_PIXEL_LIMIT * max_pixels:,}")
    return frame_bytes


def _check_codestream(header: DicomHeader, label: str, max_pixels: int) -> None:
    """Refuse a compressed frame whose codestream declares more pixels than the header / the limit."""
    size = codestream_size(first_fragment_head(header.source, header.pixel_offset))
    if not size or not size[0] or not size[1]:
        return
    width, height = size
    rows, cols = int(header.ds.Rows), int(header.ds.Columns)
    if width * height > max_pixels or width * height > 2 * rows * cols:
        raise ImageTooLargeError(label, f"compressed DICOM frame declares {width}x{height} pixels, over the limit for "
                                    f"its header's {cols}x{rows} (transfer syntax {syntax_name(header.syntax)})")


def _decode_first_frame(header: DicomHeader, frame_bytes: int, label: str) -> np.ndarray:
    from pydicom.pixels import pixel_array

    try:
        if header.inflater is not None:
            ds = _inflated_dataset(header, frame_bytes, label)
            frame = pixel_array(ds)
            del ds[header.pixel_tag]  # the inflated bytes: not needed once decoded
            return frame
        options = {} if header.syntax else {"transfer_syntax_uid": _guessed_syntax(header.ds)}
        try:
            return pixel_array(header.source, index=0, **options)
        except Exception:  # e.g. a dataset encoded otherwise than its transfer syntax says: parse it all
            import pydicom

            header.source.seek(0)
            return pixel_array(pydicom.dcmread(header.source, force=True), index=0, **options)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(label, "out of memory while decoding the DICOM pixel data") from None
    except Exception as exc:  # decoders raise many types for corrupt data
        raise UnsupportedDicomError(label, decode_failure(header.syntax, exc)) from None


def _inflated_dataset(header: DicomHeader, frame_bytes: int, label: str):
    """A deflated file's header with only its first frame, as explicit VR little endian."""
    from pydicom.uid import ExplicitVRLittleEndian

    vr, frame = inflate_first_frame(header, frame_bytes, label)
    ds = header.ds
    if "NumberOfFrames" in ds:
        ds.NumberOfFrames = 1
    ds.add_new(header.pixel_tag, vr, frame)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _guessed_syntax(ds: Any) -> str:
    """The transfer syntax a file without file meta was read with."""
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian


def _describe(ds: Any) -> str:
    parts = []
    sop = sop_class(ds)
    if sop:
        from pydicom.uid import UID

        parts.append(UID(sop).name or sop)
    modality = str(ds.get("Modality", "") or "").strip()
    if modality:
        parts.append(f"Modality {modality}")
    return f" ({', '.join(parts)})" if parts else ""


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default
