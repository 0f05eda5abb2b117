"""Tell a colour photograph from a gray film stored as RGB.

Chroma is measured in YCbCr on a subsample of at most ~256k pixels. The image's overall tint (the
median Cb/Cr: a sepia scan, a blue-ish phone photo of a light box) is removed first, so that a
uniformly tinted film is not taken for a photograph; what remains is colour that varies across the
picture. A few coloured annotations (arrows, text) stay well under :data:`COLOUR_FRACTION`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Chroma (0-255 scale) away from the image's tint for a pixel to count as coloured.
CHROMA_THRESHOLD = 30.0
#: Fraction of coloured pixels from which an image is a colour photograph (refused).
COLOUR_FRACTION = 0.05
#: Tint strength (0-255 scale) from which a gray film is reported as tinted.
TINT_THRESHOLD = 12.0
_SAMPLES = 512


@dataclass(frozen=True)
class Chroma:
    coloured: float  # fraction of pixels whose chroma departs from the image's tint
    tint: float  # strength of the overall colour cast

    @property
    def is_colour(self) -> bool:
        return self.coloured > COLOUR_FRACTION

    @property
    def is_tinted(self) -> bool:
        return not self.is_colour and self.tint > TINT_THRESHOLD

    def refusal(self, what: str) -> str:
        return f"not a chest radiograph: colour {what} (strong chroma in {self.coloured:.0%} of pixels)"

    def tint_warning(self) -> str:
        return f"tinted image (colour cast of {self.tint:.0f}/255): converted to gray"


def measure_chroma(rgb: np.ndarray) -> Chroma:
    """Chroma statistics of an ``(H, W, 3+)`` uint8/uint16 array."""
    step = max(1, int(np.ceil(max(rgb.shape[0], rgb.shape[1]) / _SAMPLES)))
    sample = np.asarray(rgb[::step, ::step, :3], dtype=np.float32)
    if rgb.dtype != np.uint8:
        peak = float(sample.max()) or 1.0
        sample *= 255.0 / peak
    r, g, b = sample[..., 0], sample[..., 1], sample[..., 2]
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    tint_cb, tint_cr = float(np.median(cb)), float(np.median(cr))
    departure = np.hypot(cb - tint_cb, cr - tint_cr)
    return Chroma(coloured=float(np.mean(departure > CHROMA_THRESHOLD)), tint=float(np.hypot(tint_cb, tint_cr)))
