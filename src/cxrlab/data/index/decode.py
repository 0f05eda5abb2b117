"""Worker side of indexing: decode one file and describe it (run in worker processes).

Kept apart from :mod:`cxrlab.data.index.indexer` so that worker processes import only what they need.
"""

from __future__ import annotations

import hashlib

from cxrlab.data.index.film_checks import exclusion_reason
from cxrlab.data.index.fingerprint import fingerprint
from cxrlab.errors import ImageReadError, ImageRefusedError
from cxrlab.io.images import read_image, to_uint8


def describe_file(path: str) -> dict[str, object]:
    """Everything the manifest records about a file's bytes and pixels.

    Returns ``{"error": reason}`` (``{"refused": reason}`` for a non-radiograph) instead of raising,
    so that one bad file never stops a run, and ``"degenerate"`` (the exclusion reason) for a film
    too small, too thin or blank to be a radiograph.
    The hashes and statistics are of the full-resolution decode (no draft/reduced decoding).
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        image = read_image(data, name=path)
        gray = to_uint8(image)
        info: dict[str, object] = {
            "width": image.width, "height": image.height, "bits": image.bits, "format": image.format,
            "sha1": hashlib.sha1(data).hexdigest(), **fingerprint(gray), "meta": dict(image.meta),
        }
        problem = exclusion_reason(image)
        if problem:
            info["degenerate"] = problem
    except ImageRefusedError as exc:  # not a chest radiograph: excluded on purpose, with the reason
        return {"refused": exc.reason}
    except ImageReadError as exc:
        return {"error": exc.reason}
    except OSError as exc:
        return {"error": f"cannot read file ({exc.strerror or exc})"}
    except Exception as exc:  # a decoder bug on one odd file must not stop the whole index
        return {"error": f"unexpected error while decoding ({type(exc).__name__}: {exc})"}
    return info


def describe_chunk(paths: list[str]) -> list[dict[str, object]]:
    """Describe several files (one task for a worker process: fewer round-trips than one per file)."""
    return [describe_file(p) for p in paths]
