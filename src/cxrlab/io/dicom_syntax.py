"""DICOM transfer syntaxes: their names, and what to install when one cannot be decoded.

cxrlab installs pydicom's ``pylibjpeg`` plugins (``pylibjpeg-libjpeg`` for JPEG baseline,
extended, lossless and JPEG-LS; ``pylibjpeg-openjpeg`` for JPEG 2000 and HTJ2K; ``pylibjpeg-rle``
for RLE). A decode failure is reported with the syntax by name and, when the decoder is missing
(a trimmed install), the package that decodes it.
"""

from __future__ import annotations

#: Transfer syntax UID prefix -> the pip packages that decode it (pydicom plugins).
_DECODER_PACKAGES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg pylibjpeg-libjpeg (or Pillow)",
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg (or python-gdcm)",
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg (or python-gdcm)",
    "1.2.840.10008.1.2.4.80": "pylibjpeg pylibjpeg-libjpeg (or pyjpegls)",
    "1.2.840.10008.1.2.4.81": "pylibjpeg pylibjpeg-libjpeg (or pyjpegls)",
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle",
}

#: Syntaxes no pydicom plugin decodes: what they are, for the error message.
_NOT_DECODABLE: dict[str, str] = {
    "1.2.840.10008.1.2.4.92": "JPEG 2000 Part 2 multi-component",
    "1.2.840.10008.1.2.4.93": "JPEG 2000 Part 2 multi-component",
    "1.2.840.10008.1.2.4.94": "JPIP referenced (the pixels are on a server, not in the file)",
    "1.2.840.10008.1.2.4.95": "JPIP referenced deflate (the pixels are on a server, not in the file)",
    "1.2.840.10008.1.2.4.100": "MPEG-2 video", "1.2.840.10008.1.2.4.101": "MPEG-2 video",
    "1.2.840.10008.1.2.4.102": "MPEG-4 video", "1.2.840.10008.1.2.4.103": "MPEG-4 video",
    "1.2.840.10008.1.2.4.104": "MPEG-4 video", "1.2.840.10008.1.2.4.105": "MPEG-4 video",
    "1.2.840.10008.1.2.4.106": "MPEG-4 video", "1.2.840.10008.1.2.4.107": "HEVC video",
    "1.2.840.10008.1.2.4.108": "HEVC video",
    "1.2.840.10008.1.2.4.110": "JPEG XL", "1.2.840.10008.1.2.4.111": "JPEG XL",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
    "1.2.840.10008.1.2.8.1": "deflated image frame compression",
}


def syntax_name(uid: str | None) -> str:
    """``JPEG Lossless ... (1.2.840.10008.1.2.4.70)``, or ``unknown`` when the file names none."""
    if not uid:
        return "unknown"
    from pydicom.uid import UID

    name = UID(str(uid)).name
    return f"{name} ({uid})" if name and name != str(uid) else str(uid)


def decode_failure(uid: str | None, exc: Exception) -> str:
    """The reason for an :class:`~cxrlab.errors.ImageReadError` when pixel data did not decode."""
    syntax = syntax_name(uid)
    uid = str(uid or "")
    if uid in _NOT_DECODABLE:
        return f"unsupported DICOM transfer syntax {syntax} ({_NOT_DECODABLE[uid]}): cxrlab cannot decode it"
    if uid and not decoder_available(uid):
        hint = _DECODER_PACKAGES.get(uid)
        install = f" (pip install {hint})" if hint else ""
        return f"unsupported DICOM transfer syntax {syntax}: no decoder installed{install}"
    return f"unsupported or corrupt DICOM pixel data (transfer syntax {syntax}): {_short(exc)}"


def decoder_available(uid: str) -> bool:
    """True when pydicom has a working decoder plugin for the syntax (False if none or unknown)."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(uid).is_available)
    except (NotImplementedError, ValueError):
        return False


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
