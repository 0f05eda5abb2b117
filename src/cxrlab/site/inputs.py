"""A site's films from whatever a user has: a folder (searched recursively), glob patterns, a list
of files, or a manifest DataFrame with a ``path`` column; and a bundle opened for the site tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxrlab.config import PreprocessConfig
from cxrlab.data.films import FilmSet, load_films
from cxrlab.errors import CxrlabError

class SiteError(CxrlabError):
    """A site folder, label table or bundle cannot be used for the requested step."""


@dataclass(frozen=True)
class SiteFilms:
    films: FilmSet
    found: int  # files found before sampling
    sampled: int  # files decoded
    origin: str  # the folder / pattern / "N files" / "manifest (N rows)" the films came from

    def describe(self) -> dict[str, Any]:
        return {"origin": self.origin, "found": self.found, "decoded": self.sampled, "readable": len(self.films),
                "unreadable": len(self.films.errors),
                "unreadable_examples": dict(list(self.films.errors.items())[:10])}


def site_paths(source) -> tuple[list[str], str]:
    """``(paths, origin)`` for a folder / pattern / file list / manifest DataFrame."""
    from cxrlab.predict.files import collect_paths

    if hasattr(source, "columns"):  # a pandas DataFrame (manifest rows)
        if "path" not in source.columns:
            raise SiteError("the table of site films has no 'path' column")
        paths = [str(p) for p in source["path"] if str(p)]
        if not paths:
            raise SiteError("the table of site films is empty")
        return paths, f"manifest ({len(paths)} rows)"
    items = [source] if isinstance(source, (str, Path)) else list(source)
    paths, _warnings = collect_paths(items)
    origin = str(items[0]) if len(items) == 1 else f"{len(items)} inputs"
    return [str(p) for p in paths], origin


def load_site_films(source, cfg: PreprocessConfig, max_films: int = 0, seed: int = 0, workers: int = 2) -> SiteFilms:
    """Decode the site's films (a seeded sample of ``max_films`` when there are more; 0 = all).
    Raises :class:`SiteError` when none is readable."""
    if isinstance(source, FilmSet):
        return SiteFilms(source, len(source) + len(source.errors), len(source) + len(source.errors), "films in memory")
    paths, origin = site_paths(source)
    found = len(paths)
    if max_films and found > max_films:
        keep = np.sort(np.random.default_rng(seed).permutation(found)[:max_films])
        paths = [paths[i] for i in keep]
    films = load_films(paths, cfg, workers)
    if not len(films):
        first = next(iter(films.errors.items()), ("", "no file"))
        raise SiteError(f"{origin}: none of the {len(paths)} files could be read (first: {first[0]}: {first[1]})")
    return SiteFilms(films, found, len(paths), origin)


def open_bundle(path: str | Path, threads: int = 0):
    """``(Bundle, Predictor)`` from one verified read of the bundle file."""
    from cxrlab.export.bundle_file import read_bundle
    from cxrlab.predict.predictor import Predictor

    bundle = read_bundle(path)
    return bundle, Predictor.from_read_bundle(bundle, path, threads)
