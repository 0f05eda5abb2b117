"""The bundle file: a zip holding ``model.onnx``, ``card.json``, ``SHA256SUMS`` and optional
extra members (``training_profile.json``: what ``cxrlab site-check`` compares a site against).

Loading verifies every member against ``SHA256SUMS`` and refuses a bundle whose checksums do not
match. Nothing is unpickled: the card is JSON and the graph is handed to ONNX Runtime as bytes.
This module needs no torch.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cxrlab.artifacts.bundle_card import BUNDLE_FORMAT, BUNDLE_VERSION, BundleCard
from cxrlab.errors import ConfigError, CxrlabError
from cxrlab.io.atomic import atomic_path

MODEL_FILE, CARD_FILE, SUMS_FILE = "model.onnx", "card.json", "SHA256SUMS"
PROFILE_FILE = "training_profile.json"
#: Refuse members bigger than this (a zip bomb, or not a bundle).
MAX_MEMBER_BYTES = 4 * 1024**3


class BundleError(CxrlabError):
    """A bundle is missing, malformed, or fails its checksums."""


@dataclass(frozen=True)
class Bundle:
    path: str
    card: BundleCard
    onnx: bytes
    sha256: dict[str, str]  # member name -> hex digest (verified)
    extras: dict[str, bytes] = field(default_factory=dict)  # other verified members, e.g. PROFILE_FILE


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bundle(path: str | Path, onnx_bytes: bytes, card: BundleCard,
                 extras: dict[str, bytes] | None = None) -> Path:
    """Write the zip atomically; ``SHA256SUMS`` lists every other member in ``sha256sum`` format.
    ``extras``: more members (name -> bytes), checksummed like the others."""
    card_bytes = (json.dumps(card.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n").encode("utf-8")
    extras = dict(extras or {})
    clash = {MODEL_FILE, CARD_FILE, SUMS_FILE} & set(extras)
    if clash or any("/" in n or "\\" in n or not n for n in extras):
        raise BundleError(f"{path}: invalid extra member name(s) {sorted(clash or extras)}")
    members = {MODEL_FILE: onnx_bytes, CARD_FILE: card_bytes, **extras}
    sums = "".join(f"{sha256_hex(data)}  {name}\n" for name, data in members.items()).encode("ascii")
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name == MODEL_FILE else zipfile.ZIP_DEFLATED)
        zf.writestr(SUMS_FILE, sums, compress_type=zipfile.ZIP_DEFLATED)
    return path


def read_bundle(path: str | Path) -> Bundle:
    """Open and verify a bundle; raises :class:`BundleError` naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: bundle not found")
    try:
        with zipfile.ZipFile(path) as zf:
            members = _read_members(zf, path)
    except zipfile.BadZipFile:
        raise BundleError(f"{path}: not a cxrlab bundle (not a zip file)") from None
    except OSError as exc:
        raise BundleError(f"{path}: cannot read bundle ({exc.strerror or exc})") from None
    sums = _parse_sums(members.pop(SUMS_FILE), path)
    for name in sorted(set(members) | set(sums)):
        if name not in sums:
            raise BundleError(f"{path}: {name} is not listed in {SUMS_FILE}; refusing to load a modified bundle")
        if name not in members:
            raise BundleError(f"{path}: {SUMS_FILE} lists {name} but the bundle does not contain it")
        if sha256_hex(members[name]) != sums[name]:
            raise BundleError(f"{path}: checksum mismatch for {name}: the bundle is corrupt or was modified; refusing to load")
    card = _parse_card(members[CARD_FILE], path)
    extras = {name: data for name, data in members.items() if name not in (MODEL_FILE, CARD_FILE)}
    return Bundle(path=str(path), card=card, onnx=members[MODEL_FILE], sha256=sums, extras=extras)


def _read_members(zf: zipfile.ZipFile, path: Path) -> dict[str, bytes]:
    infos = {info.filename: info for info in zf.infolist() if not info.is_dir()}
    missing = [n for n in (MODEL_FILE, CARD_FILE, SUMS_FILE) if n not in infos]
    if missing:
        raise BundleError(f"{path}: not a cxrlab bundle (missing {', '.join(missing)})")
    for info in infos.values():
        if info.file_size > MAX_MEMBER_BYTES:
            raise BundleError(f"{path}: member {info.filename} is {info.file_size:,} bytes, over the limit")
    try:
        return {name: zf.read(info) for name, info in infos.items()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise BundleError(f"{path}: corrupt bundle ({exc})") from None


def _parse_sums(data: bytes, path: Path) -> dict[str, str]:
    sums = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        digest, sep, name = line.strip().partition("  ")
        if not line.strip():
            continue
        if not sep or len(digest) != 64:
            raise BundleError(f"{path}: malformed {SUMS_FILE} line {line!r}")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def _parse_card(data: bytes, path: Path) -> BundleCard:
    try:
        card = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: {CARD_FILE} is not valid JSON ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: {CARD_FILE} is not a cxrlab model card")
    if int(card.get("format_version", 0)) > BUNDLE_VERSION:
        raise BundleError(f"{path}: bundle format {card['format_version']} is newer than this cxrlab supports")
    try:
        return BundleCard.from_dict(card, where=f"{path}: {CARD_FILE}")
    except ConfigError as exc:
        raise BundleError(str(exc)) from None
