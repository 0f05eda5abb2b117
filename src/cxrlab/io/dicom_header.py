"""Read a DICOM header without touching its pixel data.

:func:`read_header` parses every element before the *Pixel Data* and notes where the pixel data
starts, so that size limits and the chest-radiograph rules are checked before anything is inflated
or decoded. Deflated files (``1.2.840.10008.1.2.1.99``: the whole dataset is zlib-compressed, so a
1 MB file can inflate to gigabytes) are inflated incrementally: first only the header (at most
:data:`MAX_HEADER_BYTES`), later only the first frame (:func:`inflate_first_frame`).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from cxrlab.errors import ImageReadError, ImageTooLargeError, UnsupportedDicomError

#: Most bytes of (inflated) header accepted before the pixel data of a deflated file.
MAX_HEADER_BYTES = 16 * 1024 * 1024
DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
_PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
_PIXEL_TAG_LE = {tag.to_bytes(4, "little")[2:] + tag.to_bytes(4, "little")[:2]: tag for tag in _PIXEL_TAGS}
_PIXEL_TAG_BE = {tag.to_bytes(4, "big"): tag for tag in _PIXEL_TAGS}


@dataclass
class DicomHeader:
    """Everything before the pixel data, and how to get at the pixel data."""

    ds: Any  # pydicom FileDataset without the pixel data element
    syntax: str  # transfer syntax UID as the file says ("" when it names none)
    pixel_tag: int | None  # 0x7FE00010 (or float pixel data), None when the file has none
    source: BinaryIO  # the file (or bytes) being read
    pixel_offset: int = 0  # where the pixel data element starts in ``source`` (not deflated files)
    inflater: _Inflater | None = None  # deflated files: the inflated stream, positioned at the pixel data

    @property
    def frames(self) -> int:
        value = self.ds.get("NumberOfFrames", 1)
        try:
            return max(int(value or 1), 1)
        except (TypeError, ValueError):
            raise ValueError(f"invalid NumberOfFrames {str(value)!r}") from None


def read_header(source: BinaryIO, label: str) -> DicomHeader:
    """Parse the header of the DICOM dataset in ``source``. Raises :class:`ImageReadError`."""
    import pydicom
    from pydicom.filereader import _read_file_meta_info, read_preamble

    try:
        source.seek(0)
        read_preamble(source, True)
        file_meta = _read_file_meta_info(source)
        syntax = str(file_meta.get("TransferSyntaxUID", "") or "")
        if syntax == DEFLATED:
            return _read_deflated(source, label, file_meta, syntax)
        source.seek(0)
        ds = pydicom.dcmread(source, stop_before_pixels=True, force=True)
    except ImageReadError:
        raise
    except Exception as exc:  # pydicom raises many types for corrupt files
        raise UnsupportedDicomError(label, f"not a readable DICOM file ({' '.join(str(exc).split())[:200]})") from None
    offset = source.tell()
    head = source.read(4)
    pixel_tag = _PIXEL_TAG_LE.get(head) or _PIXEL_TAG_BE.get(head)
    return DicomHeader(ds=ds, syntax=syntax, pixel_tag=pixel_tag, source=source, pixel_offset=offset)


def _read_deflated(source: BinaryIO, label: str, file_meta, syntax: str) -> DicomHeader:
    from pydicom.dataset import FileDataset
    from pydicom.filereader import _at_pixel_data, read_dataset

    inflater = _Inflater(source)
    size = 64 * 1024
    while True:
        inflater.fill(size)
        if inflater.eof or _find_pixel_tag(inflater.data) is not None:
            buffer = io.BytesIO(bytes(inflater.data))
            dataset = read_dataset(buffer, is_implicit_VR=False, is_little_endian=True, stop_when=_at_pixel_data)
            end = buffer.tell()
            pixel_tag = _PIXEL_TAG_LE.get(bytes(inflater.data[end:end + 4]))
            if pixel_tag is not None or inflater.eof:
                break
        if size >= MAX_HEADER_BYTES:
            raise ImageTooLargeError(label, f"deflated DICOM header is over the limit of {MAX_HEADER_BYTES // 2**20} MB "
                                        "before the pixel data")
        size *= 4
    ds = FileDataset(label, dataset, preamble=None, file_meta=file_meta, is_implicit_VR=False,
                     is_little_endian=True)
    inflater.position = end
    return DicomHeader(ds=ds, syntax=syntax, pixel_tag=pixel_tag, source=source, inflater=inflater)


def _find_pixel_tag(data: bytearray) -> int | None:
    """Offset of the pixel data element in explicit VR little endian bytes (tag then VR), else None."""
    for tag, vrs in ((b"\xe0\x7f\x10\x00", (b"OB", b"OW")), (b"\xe0\x7f\x08\x00", (b"OF",)),
                     (b"\xe0\x7f\x09\x00", (b"OD",))):
        for vr in vrs:
            at = data.find(tag + vr)
            if at >= 0:
                return at
    return None


def inflate_first_frame(header: DicomHeader, frame_bytes: int, label: str) -> tuple[str, bytes]:
    """``(VR, bytes)`` of the first frame of a deflated file's pixel data: inflates the pixel data
    element's header and ``frame_bytes`` more, never the rest of the file."""
    inflater = header.inflater
    assert inflater is not None
    start = inflater.position
    inflater.fill(start + 12 + frame_bytes)
    element = bytes(inflater.data[start:start + 12])
    if len(element) < 12:
        raise ImageReadError(label, "deflated DICOM is truncated inside the pixel data element")
    vr = element[4:6].decode("ascii", "replace")
    length = int.from_bytes(element[8:12], "little")
    if length == 0xFFFFFFFF:
        raise ImageReadError(label, "deflated DICOM with encapsulated pixel data is not supported")
    frame = bytes(memoryview(inflater.data)[start + 12:start + 12 + min(frame_bytes, length)])
    inflater.data = bytearray()  # the inflated bytes are not needed again: free them before decoding
    if len(frame) < frame_bytes:
        raise ImageReadError(label, f"DICOM pixel data is truncated ({len(frame):,} of {frame_bytes:,} bytes "
                                    "for the first frame)")
    return vr, frame


class _Inflater:
    """Raw-deflate stream inflated on demand, never beyond what was asked for."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.data = bytearray()
        self.eof = False
        self.position = 0
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)

    def fill(self, size: int) -> None:
        """Inflate until ``size`` bytes are available or the stream ends."""
        while len(self.data) < size and not self.eof:
            chunk = self._zlib.unconsumed_tail or self.source.read(1 << 16)
            if not chunk:
                self.eof = True
                break
            try:
                self.data += self._zlib.decompress(chunk, size - len(self.data))
            except zlib.error as exc:
                raise ValueError(f"corrupt deflate stream ({exc})") from None
            self.eof = self._zlib.eof
