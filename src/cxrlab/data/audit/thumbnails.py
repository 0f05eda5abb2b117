"""Read every film once into a small search thumbnail, in worker processes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxrlab.data.audit.descriptors import dup_thumbnail
from cxrlab.data.index.fingerprint import pixel_sha1
from cxrlab.errors import CxrlabError
from cxrlab.io.images import read_image, to_uint8
from cxrlab.io.parallel import Progress, parallel_map

_CHUNK = 128


@dataclass(frozen=True)
class Thumbnails:
    """``images[i]`` is row i's thumbnail (zeros when ``ok[i]`` is False, reason in ``errors``)."""

    images: np.ndarray  # (N, S, S) uint8
    ok: np.ndarray  # (N,) bool
    errors: dict[int, str]
    pixel_sha1: list[str]  # as given, or computed here where the manifest had none


def _read_chunk(task: tuple[list[str], list[bool], int, int]) -> list[tuple]:
    paths, need_sha1, size, read_size = task
    out = []
    for path, need in zip(paths, need_sha1):
        try:
            img = read_image(path, reduce_to=None if need else read_size)
            gray = to_uint8(img)
            out.append((dup_thumbnail(gray, size), pixel_sha1(gray) if need else "", ""))
        except CxrlabError as exc:
            out.append((None, "", getattr(exc, "reason", str(exc))))
    return out


def read_thumbnails(
    paths: list[str],
    sha1s: list[str],
    *,
    size: int = 32,
    read_size: int = 128,
    workers: int = 2,
    progress: Progress | None = None,
) -> Thumbnails:
    """Thumbnails for all ``paths``; rows without a ``pixel_sha1`` are decoded in full to compute it,
    the others with fast JPEG draft decoding to about ``read_size`` pixels."""
    n = len(paths)
    images = np.zeros((n, size, size), np.uint8)
    ok = np.zeros(n, bool)
    errors: dict[int, str] = {}
    hashes = list(sha1s)
    starts = list(range(0, n, _CHUNK))

    def collect(start: int, results: list[tuple]) -> None:
        for i, (thumb, sha, err) in enumerate(results, start):
            if thumb is None:
                errors[i] = err
                continue
            images[i], ok[i] = thumb, True
            if sha:
                hashes[i] = sha

    def args(start: int) -> tuple:
        stop = min(start + _CHUNK, n)
        return paths[start:stop], [not s for s in sha1s[start:stop]], size, read_size

    tasks = [args(start) for start in starts]
    results = parallel_map(_read_chunk, tasks, workers=workers, weights=[len(task[0]) for task in tasks],
                           progress=progress)
    for start, result in zip(starts, results):
        collect(start, result)
    return Thumbnails(images=images, ok=ok, errors=errors, pixel_sha1=hashes)

