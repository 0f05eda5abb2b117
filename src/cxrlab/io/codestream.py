"""The picture size a JPEG / JPEG-LS / JPEG 2000 codestream declares, read from its first bytes.

Compressed DICOM frames carry their own size in the codestream; decoders allocate by that size, not
by the DICOM Rows/Columns. Checking it first stops a small file that claims a gigapixel frame.
"""

from __future__ import annotations

from typing import BinaryIO

_ITEM = b"\xfe\xff\x00\xe0"  # (FFFE,E000) item tag, little endian
_HEAD_BYTES = 1 << 16
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}  # + JPEG-LS SOF55


def first_fragment_head(source: BinaryIO, pixel_offset: int) -> bytes:
    """The first bytes of the first fragment of encapsulated pixel data starting at ``pixel_offset``
    (the pixel data element's tag); ``b""`` when the data is not laid out as expected."""
    source.seek(pixel_offset + 12)  # tag, VR, reserved, undefined length
    for _ in range(2):  # the basic offset table item, then the first fragment
        item = source.read(8)
        if len(item) < 8 or item[:4] != _ITEM:
            return b""
        length = int.from_bytes(item[4:], "little")
        if _ == 0:
            source.seek(length, 1)
    return source.read(min(length, _HEAD_BYTES))


def codestream_size(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` declared by a JPEG, JPEG-LS or JPEG 2000 codestream, else None."""
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(head)
    at = head.find(b"\xff\x4f\xff\x51", 0, 512)  # J2K SOC + SIZ (also inside a JP2 box)
    if at >= 0 and len(head) >= at + 24:
        xsiz, ysiz, xo, yo = (int.from_bytes(head[at + i:at + i + 4], "big") for i in (8, 12, 16, 20))
        return max(xsiz - xo, 0), max(ysiz - yo, 0)
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 9 <= len(head):
        if head[offset] != 0xFF:
            return None
        marker = head[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _JPEG_SOF:
            height = int.from_bytes(head[offset + 5:offset + 7], "big")
            width = int.from_bytes(head[offset + 7:offset + 9], "big")
            return width, height
        offset += 2 + int.from_bytes(head[offset + 2:offset + 4], "big")
    return None
