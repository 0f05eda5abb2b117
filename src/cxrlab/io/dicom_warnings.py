"""pydicom's own warnings about odd files, kept off the user's terminal.

pydicom reports oddities of a file with :func:`warnings.warn` (``Expected explicit VR, but found
implicit VR``, ``Invalid value for VR IS: '1A'``, a Photometric Interpretation its codestream
contradicts...), which a command line prints to stderr as noise, without the file's name. The
reader records them while it reads one file (:func:`captured_pydicom_warnings`) and turns the
meaningful ones (``UserWarning``) into ``LoadedImage.warnings`` entries (``DICOM: ...``); notes about
the file's byte-level encoding that pydicom silently worked around are dropped. Other warnings
(deprecations, numpy's, another thread's) are re-issued unchanged once the file is read.

:func:`warnings.catch_warnings` swaps process-wide state, so captures are serialised by a lock:
DICOM files are parsed one at a time even when predict/serve decode in threads (pydicom's parsing
holds the GIL anyway).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator

#: Prefix of the ``LoadedImage.warnings`` entries that come from pydicom.
PREFIX = "DICOM: "
#: At most this many pydicom warnings are kept per file (the rest are counted).
MAX_KEPT = 4

_LOCK = threading.Lock()
#: Encoding notes pydicom worked around without consequence for the picture: not worth a reader's time.
_ENCODING_NOTES = re.compile(
    r"^(Expected (explicit|implicit) VR, but found (explicit|implicit) VR|"
    r"The value length \(\d+\) exceeds the maximum length|"
    r"Value length of .* is odd|"
    r"Unknown encoding|Incorrect value for Specific Character Set)", re.IGNORECASE)
_SEE_ALSO = re.compile(r"\s*Please see <[^>]*> for allowed values for each VR\.?\s*$")


@contextlib.contextmanager
def captured_pydicom_warnings() -> Iterator[list[str]]:
    """Collect the warnings pydicom (or a decoder plugin) raises inside the block into the yielded
    list, as ``LoadedImage.warnings`` entries (deduplicated, at most :data:`MAX_KEPT` plus a count)."""
    notes: list[str] = []
    foreign: list[warnings.WarningMessage] = []
    try:
        with _LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield notes
            finally:
                ours = [w for w in caught if issubclass(w.category, UserWarning) and _from_the_reader(w)]
                foreign = [w for w in caught if w not in ours]
                notes.extend(warning_notes([str(w.message) for w in ours]))
    finally:
        for w in foreign:  # deprecations, numpy's, another thread's: not ours to swallow
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def warning_notes(messages: list[str]) -> list[str]:
    """pydicom warning texts -> ``DICOM: ...`` entries, without encoding notes or repeats."""
    kept: list[str] = []
    for message in messages:
        text = _SEE_ALSO.sub("", " ".join(message.split()))
        if not text or _ENCODING_NOTES.match(text):
            continue
        entry = PREFIX + (text if len(text) <= 300 else text[:297] + "...")
        if entry not in kept:
            kept.append(entry)
    if len(kept) > MAX_KEPT:
        kept = [*kept[:MAX_KEPT], f"{PREFIX}{len(kept) - MAX_KEPT} more warning(s) from pydicom"]
    return kept


#: Packages whose warnings, raised while a file is read, are about that file.
_READER_PACKAGES = ("pydicom", "cxrlab", "gdcm", "pylibjpeg", "openjpeg", "rle", "libjpeg")


def _from_the_reader(w: warnings.WarningMessage) -> bool:
    """Raised inside pydicom, a decoder plugin or cxrlab (pydicom sometimes points its warnings at
    the caller's line, which is then cxrlab's)."""
    filename = os.path.abspath(str(w.filename))
    return any(filename.startswith(root) for root in _package_roots())


def _package_roots() -> list[str]:
    roots = []
    for name in _READER_PACKAGES:
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None) if module is not None else None
        if origin:
            origin = os.path.abspath(origin)  # a package: its folder; a one-file module (gdcm.py): itself
            is_package = os.path.basename(origin).startswith("__init__.")
            roots.append(os.path.dirname(origin) + os.sep if is_package else origin)
    return roots
