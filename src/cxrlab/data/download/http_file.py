"""Resumable, verified HTTP downloads with the standard library only.

Bytes go to ``<dest>.part``; an interrupted download keeps it and the next attempt asks the server
for the rest (``Range: bytes=N-``). A server that ignores ranges sends the whole file again (we then
start over). Only a complete file whose SHA-256 matches (when one is expected) is renamed to
``dest``; a mismatching one is deleted. Unreachable hosts fail within ``connect_timeout`` seconds.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, getproxies, proxy_bypass, urlopen

from cxrlab.data.download.errors import ChecksumError, DownloadError, OfflineError

Progress = Callable[[int, "int | None"], None]
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size: int
    resumed_from: int  # bytes already on disk (.part) when the last attempt started
    reused: bool  # the file was already there (and matched the checksum, when one was given)


class _Interrupted(Exception):
    """A transfer stopped early; the .part file keeps what arrived."""


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    retries: int = 2,
    progress: Progress | None = None,
) -> DownloadResult:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify, then rename into place.

    ``retries``: extra attempts within this call after an interruption (each resumes).
    Raises :class:`OfflineError` (host unreachable), :class:`DownloadError` (HTTP error or
    still incomplete; the .part stays for the next run) or :class:`ChecksumError` (file removed).
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if dest.exists():
        digest = sha256_file(dest)
        if expected is None or digest == expected:
            return DownloadResult(dest, digest, dest.stat().st_size, 0, reused=True)
        dest.unlink()  # a stale or corrupt earlier copy: fetch again
    dest.parent.mkdir(parents=True, exist_ok=True)
    _check_reachable(url, connect_timeout)
    part = part_path(dest)
    resumed_from = 0
    for attempt in range(retries + 1):
        resumed_from = part.stat().st_size if part.exists() else 0
        try:
            _fetch_into(url, part, read_timeout, progress)
            break
        except _Interrupted as exc:
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{url}: download interrupted ({exc}); {have} bytes kept in {part} - run the same command "
                    "again to resume"
                ) from None
    digest = sha256_file(part)
    if expected is not None and digest != expected:
        part.unlink()
        raise ChecksumError(
            f"{url}: checksum mismatch - expected SHA-256 {expected}, got {digest}; the corrupt download was "
            "deleted. Try again; if it persists the file upstream changed or something tampers with it."
        )
    os.replace(part, dest)
    return DownloadResult(dest, digest, dest.stat().st_size, resumed_from, reused=False)


def _check_reachable(url: str, timeout: float) -> None:
    """Open (and close) a TCP connection to the host, or to the proxy that would be used."""
    parts = urlsplit(url)
    proxy = None if parts.hostname and proxy_bypass(parts.hostname) else getproxies().get(parts.scheme)
    target = urlsplit(proxy if "://" in (proxy or "") else f"http://{proxy}") if proxy else parts
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
    if not host:
        raise DownloadError(f"{url}: not a valid download URL")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        via = f" (via proxy {host}:{port})" if proxy else ""
        raise OfflineError(
            f"{url}: cannot reach {parts.hostname}{via} within {timeout:g} s ({_reason(exc)}); this machine seems "
            "offline or the host is blocked. Download the file elsewhere and pass it with --archive, or retry online."
        ) from None


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)


def _fetch_into(url: str, part: Path, read_timeout: float, progress: Progress | None) -> None:
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "cxrlab-datasets/1", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        resp = urlopen(Request(url, headers=headers), timeout=read_timeout)
    except HTTPError as exc:
        if exc.code == 416 and start:
            if _range_total(exc.headers.get("Content-Range")) == start:
                return  # the .part already holds the whole file
            part.unlink()
            raise _Interrupted("server refused to resume; starting over") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (URLError, TimeoutError, OSError) as exc:
        raise _Interrupted(_reason(getattr(exc, "reason", exc))) from None
    with resp:
        offset = start if start and resp.status == 206 and _range_start(resp.headers.get("Content-Range")) == start else 0
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        done = offset
        try:
            with open(part, "ab" if offset else "wb") as fh:
                while chunk := resp.read(_CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (http.client.HTTPException, OSError, TimeoutError) as exc:
            raise _Interrupted(f"{type(exc).__name__} after {done} bytes") from None
    if total is not None and done != total:
        raise _Interrupted(f"connection closed after {done} of {total} bytes")


def _range_start(header: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", header or "")
    return int(match.group(1)) if match else None


def _range_total(header: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", header or "")
    return int(match.group(1)) if match else None
