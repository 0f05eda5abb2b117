"""``LoadedImage``: what every reader returns (importable from :mod:`cxrlab.io.images`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: 2-D ``uint8`` or ``uint16`` pixels, MONOCHROME2.

    ``meta`` holds header fields (DICOM: see :data:`cxrlab.io.dicom_meta.HEADER_FIELDS`);
    ``warnings`` human-readable reasons to look twice ("lateral view (ViewPosition=LL): ...",
    "multi-frame file: first of 10 frames used", "degenerate image: 1x20000 ...").
    """

    pixels: np.ndarray
    bits: int
    format: str
    meta: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])
