"""Films ``cxrlab index`` leaves out of the manifest as degenerate (a few pixels, a sliver, a blank).

The rule is the image reader's (:func:`cxrlab.io.flags.degenerate`, which also puts the sentence a
user reads into ``LoadedImage.warnings``, so that ``predict`` and ``serve`` carry it next to the
probabilities); this module only gives the indexer the category it excludes such a film under.
"""

from __future__ import annotations

from cxrlab.io.flags import BLANK, SLIVER, TOO_SMALL, degenerate
from cxrlab.io.images import LoadedImage

__all__ = ["BLANK", "SLIVER", "TOO_SMALL", "exclusion_reason"]


def exclusion_reason(image: LoadedImage) -> str | None:
    """The index's exclusion reason for a degenerate film (:data:`TOO_SMALL`, :data:`SLIVER` or
    :data:`BLANK`), else None."""
    problem = degenerate(image.pixels)
    return problem.category if problem else None
