"""Read every film once into a small search thumbnail, in worker processes, with a progress bar."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from cxrlab.data.audit.descriptors import dup_thumbnail
from cxrlab.data.index.fingerprint import pixel_sha1
from cxrlab.errors import CxrlabError
from cxrlab.io.images import read_image, to_uint8

_CHUNK = 128


@dataclass(frozen=True)
class Thumbnails:
    """``images[i]`` is row i's thumbnail (zeros when ``ok[i]`` is False, reason in ``errors``)."""

    images: np.ndarray  # (N, S, S) uint8
    ok: np.ndarray  # (N,) bool
    errors: dict[int, str]
    pixel_sha1: list[str]  # as given, or computed here where the manifest had none


def _read_chunk(paths: list[str], need_sha1: list[bool], size: int, read_size: int) -> list[tuple]:
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
    progress: bool = True,
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

    with _progress(n, enabled=progress and n > 0) as advance:
        if workers <= 1 or len(starts) <= 1:
            for start in starts:
                collect(start, _read_chunk(*args(start)))
                advance(min(_CHUNK, n - start))
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(starts)), mp_context=ctx) as pool:
                futures = {pool.submit(_read_chunk, *args(s)): s for s in starts}
                try:
                    for fut in as_completed(futures):
                        collect(futures[fut], fut.result())
                        advance(min(_CHUNK, n - futures[fut]))
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    return Thumbnails(images=images, ok=ok, errors=errors, pixel_sha1=hashes)


@contextmanager
def _progress(total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]audit: reading[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("read", total=total)
        yield lambda n: bar.advance(task, n)
