"""DICOM files for the reader tests, written from parts so that any header (and hostile ones) can be made."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

DX = "1.2.840.10008.5.1.4.1.1.1.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"


def header(rows: int, cols: int, *, sop: str = DX, modality: str = "DX", photometric: str = "MONOCHROME2",
           bits: int = 16, samples: int = 1, **attrs: Any):
    """A dataset with the image pixel module and ``attrs`` (pydicom keywords); no pixel data."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = sop, "1.2.826.0.1.3680043.8.498.1"
    if modality:
        ds.Modality = modality
    ds.PatientID = "T1"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, samples, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if samples > 1:
        ds.PlanarConfiguration = 0
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


def write_dicom(path: Path, pixels: np.ndarray, *, syntax: str = EXPLICIT_LE, preamble: bool = True,
                multi_frame: bool = False, **kw: Any) -> Path:
    """An uncompressed (or deflated) DICOM of ``pixels`` (2-D gray, (H, W, 3) RGB, or (N, H, W) frames
    with ``multi_frame``; uint8/uint16)."""
    pixels = np.ascontiguousarray(pixels)
    if multi_frame:
        kw["NumberOfFrames"] = pixels.shape[0]
    shape = pixels.shape[1:] if multi_frame else pixels.shape
    samples = 3 if len(shape) == 3 else 1
    ds = header(shape[0], shape[1], bits=pixels.dtype.itemsize * 8, samples=samples, **kw)
    vr = b"OB" if pixels.dtype.itemsize == 1 else b"OW"
    data = pixels.tobytes() + (b"\0" if pixels.nbytes % 2 else b"")
    body = dataset_bytes(ds) + pixel_element(vr, len(data)) + data
    Path(path).write_bytes((file_meta(syntax, ds.SOPClassUID) if preamble else b"") +
                           (_deflate(body) if syntax == DEFLATED else body))
    return Path(path)


def deflated_zero_frames(path: Path, side: int, frames: int, **kw: Any) -> Path:
    """A deflated DICOM of ``frames`` all-zero ``side``² 16-bit frames, written without ever holding them."""
    ds = header(side, side, NumberOfFrames=frames, **kw)
    length = frames * side * side * 2
    packer = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(1 << 22)
    with open(path, "wb") as fh:
        fh.write(file_meta(DEFLATED, ds.SOPClassUID))
        fh.write(packer.compress(dataset_bytes(ds) + pixel_element(b"OW", length)))
        for start in range(0, length, len(chunk)):
            fh.write(packer.compress(chunk[:min(len(chunk), length - start)]))
        fh.write(packer.flush())
    return Path(path)


def encapsulated_dicom(path: Path, frames: list[bytes], syntax: str, rows: int, cols: int, **kw: Any) -> Path:
    from pydicom.encaps import encapsulate

    ds = header(rows, cols, **({"NumberOfFrames": len(frames)} if len(frames) > 1 else {}), **kw)
    items = encapsulate(frames)
    Path(path).write_bytes(file_meta(syntax, ds.SOPClassUID) + dataset_bytes(ds) + b"\xe0\x7f\x10\x00OB\x00\x00"
                           + b"\xff" * 4 + items + b"\xfe\xff\xdd\xe0" + bytes(4))
    return Path(path)


def dataset_bytes(ds) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    return buf.getvalue()


def file_meta(syntax: str, sop: str = DX) -> bytes:
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop, "1.2.826.0.1.3680043.8.498.1"
    meta.TransferSyntaxUID = syntax
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_file_meta_info(buf, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + buf.getvalue()


def pixel_element(vr: bytes, length: int) -> bytes:
    return b"\xe0\x7f\x10\x00" + vr + b"\x00\x00" + length.to_bytes(4, "little")


def j2k_frame(pixels: np.ndarray) -> bytes:
    from openjpeg import encode

    return bytes(encode(pixels, bits_stored=pixels.dtype.itemsize * 8, codec_format=0))


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()
