"""DICOM transfer syntaxes: their names, and what to install when one cannot be decoded.

cxrlab's core decoders are licence-clean (MIT / Apache-2.0 / BSD): pydicom's own (native, deflated,
RLE), ``pylibjpeg`` with ``pylibjpeg-openjpeg`` (JPEG 2000, HTJ2K) and ``pylibjpeg-rle`` (fast RLE),
``python-gdcm`` (JPEG baseline / extended 8-bit, JPEG lossless, JPEG-LS, JPEG 2000) and Pillow.
12-bit JPEG Extended (…4.51 with BitsStored > 8) is read only by ``pylibjpeg-libjpeg``, which is
GPL-3.0 and therefore an optional extra: ``pip install 'cxrlab[dicom-gpl]'``. A frame no installed
plugin can decode is refused *before* decoding, naming the syntax and what to install
(:func:`missing_decoder`); a decode that fails anyway names the syntax (:func:`decode_failure`).
"""

from __future__ import annotations

#: The optional extra (and its package) that adds the GPL-3.0 JPEG decoder.
GPL_EXTRA = "pip install 'cxrlab[dicom-gpl]'"
GPL_PACKAGE = "pylibjpeg-libjpeg (GPL-3.0)"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
#: pydicom plugins that decode JPEG Extended only with 8-bit samples (they say so when asked for 12).
_EIGHT_BIT_JPEG_PLUGINS = frozenset({"gdcm", "pillow"})

#: Transfer syntax UID -> the pip packages that decode it (pydicom plugins), core decoders first.
_DECODER_PACKAGES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "python-gdcm (or Pillow)",
    JPEG_EXTENDED: f"python-gdcm; for 12-bit samples 'cxrlab[dicom-gpl]', which adds {GPL_PACKAGE}",
    "1.2.840.10008.1.2.4.57": "python-gdcm",
    "1.2.840.10008.1.2.4.70": "python-gdcm",
    "1.2.840.10008.1.2.4.80": "python-gdcm (or pyjpegls)",
    "1.2.840.10008.1.2.4.81": "python-gdcm (or pyjpegls)",
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


def missing_decoder(uid: str | None, bits_stored: int) -> str | None:
    """Why no installed decoder can read frames of this syntax and sample precision (the reason of
    an :class:`~cxrlab.errors.ImageReadError`, naming the syntax and what to install), or None.
    Native, unknown and never-decodable syntaxes are left to the decoding (:func:`decode_failure`)."""
    uid = str(uid or "")
    if uid in _DECODER_PACKAGES and not decoder_available(uid):
        return f"unsupported DICOM transfer syntax {syntax_name(uid)}: no decoder installed " \
               f"(pip install {_DECODER_PACKAGES[uid]})"
    if uid == JPEG_EXTENDED and bits_stored > 8 and available_plugins(uid) <= _EIGHT_BIT_JPEG_PLUGINS:
        return (f"unsupported DICOM transfer syntax {syntax_name(uid)} with {bits_stored}-bit samples: "
                f"no installed decoder reads 12-bit JPEG Extended (python-gdcm and Pillow read 8-bit only); "
                f"{GPL_EXTRA} adds {GPL_PACKAGE}, which does")
    return None


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
    """True when pydicom can decode the syntax (natively or with a plugin; False if none or unknown)."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(uid).is_available)
    except (NotImplementedError, ValueError):
        return False


def available_plugins(uid: str) -> frozenset[str]:
    """Names of pydicom's installed, working decoder plugins for the syntax (``gdcm``, ``pillow``,
    ``pylibjpeg``, ``pydicom``...); empty when none is installed or the syntax is unknown."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(uid)
        return frozenset(decoder.available_plugins) if decoder.is_available else frozenset()
    except (NotImplementedError, ValueError):
        return frozenset()


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
