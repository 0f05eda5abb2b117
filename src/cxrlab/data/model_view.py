"""The one way a film becomes the model's ``(size, size)`` uint8 view.

Training reads its films through the preprocessing cache, which decodes JPEGs with DCT-domain
downscaling (Pillow ``draft``, several times faster for large files). A full-resolution decode
followed by the same resize gives other pixels (about one grey level on average, tens at edges), and
a model trained on one and served the other loses accuracy on unseen sources (measured in
``benchmarks/results/site.md``). So every path that makes a model view from a file - the cache,
evaluation without a cache, explain, the site profile, predict and serve - goes through here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxrlab.config import PreprocessConfig
from cxrlab.data.preprocess import preprocess
from cxrlab.io.images import DEFAULT_MAX_PIXELS, LoadedImage, read_image, to_uint8

#: Formats whose decoder can downscale while decoding (the only ones where ``reduce_to`` changes pixels).
SCALED_DECODE_FORMATS = ("JPEG", "MPO")


def decode_size(cfg: PreprocessConfig, box: tuple[float, float, float, float] | None = None) -> int:
    """Smallest side the decoder may reduce a film to: the model size, or more when only a crop
    (``box``, fractions of the film) is kept."""
    if box is None:
        return cfg.size
    return int(np.ceil(cfg.size / max(min(box[2] - box[0], box[3] - box[1]), 0.05)))


def read_view(source: str | Path | bytes, cfg: PreprocessConfig, *, name: str | None = None,
              max_pixels: int = DEFAULT_MAX_PIXELS, box=None) -> np.ndarray:
    """Decode ``source`` and preprocess it into the model's view. Raises ``ImageReadError``."""
    image = read_image(source, name=name, max_pixels=max_pixels, reduce_to=decode_size(cfg, box))
    return preprocess(to_uint8(image), cfg, box)


def view_of(image: LoadedImage, source: str | Path | bytes, cfg: PreprocessConfig, *, name: str | None = None,
            max_pixels: int = DEFAULT_MAX_PIXELS, box=None) -> np.ndarray:
    """The model's view of a film already decoded at full resolution (``image``, read from ``source``):
    the same pixels as :func:`read_view` (a JPEG is decoded again, scaled, which is cheap)."""
    if image.format in SCALED_DECODE_FORMATS:
        return read_view(source, cfg, name=name, max_pixels=max_pixels, box=box)
    return preprocess(to_uint8(image), cfg, box)
