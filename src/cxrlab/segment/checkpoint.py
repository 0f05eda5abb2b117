"""Self-describing segmenter checkpoint: a folder with ``weights.safetensors`` and
``segmenter.json`` (:class:`SegMeta` + the weights' SHA-256), written under a temporary name and
swapped in, so a crash never leaves a half-written checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cxrlab.errors import ConfigError
from cxrlab.io.atomic import atomic_dir, sha256_file

FORMAT_VERSION = 1
META_NAME = "segmenter.json"
WEIGHTS_NAME = "weights.safetensors"


@dataclass(frozen=True)
class SegMeta:
    """Everything needed to rebuild and use a lung segmenter."""

    architecture: str  # "unet"
    width: int
    depth: int
    size: int  # films are stretched to size x size
    mean: float
    std: float
    threshold: float = 0.5
    epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # mask source, counts
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str = ""
    created: str = ""
    format_version: int = FORMAT_VERSION


def make_seg_meta(**kwargs: Any) -> SegMeta:
    from cxrlab.artifacts.provenance import git_commit, software_versions

    kwargs.setdefault("versions", software_versions())
    kwargs.setdefault("git_commit", git_commit())
    kwargs.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return SegMeta(**kwargs)


def save_segmenter(folder: str | Path, model, meta: SegMeta) -> Path:
    from safetensors.torch import save_file

    with atomic_dir(folder) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME))
        record = asdict(meta) | {"weights_sha256": sha256_file(tmp / WEIGHTS_NAME)}
        (tmp / META_NAME).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return Path(folder)


def resolve_segmenter(path: str | Path) -> Path:
    """Accept a segment run folder (uses ``checkpoint/``), a checkpoint folder or its json."""
    path = Path(path)
    if path.is_file() and path.name == META_NAME:
        path = path.parent
    for cand in (path, path / "checkpoint"):
        for c in (cand, cand.with_name(cand.name + ".old")):
            if (c / META_NAME).is_file() and (c / WEIGHTS_NAME).is_file():
                return c
    raise ConfigError(f"{path}: no lung segmenter found (expected {META_NAME} + {WEIGHTS_NAME}, or a 'cxrlab segment train' folder)")


def read_seg_meta(path: str | Path) -> SegMeta:
    folder = resolve_segmenter(path)
    try:
        record = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder / META_NAME}: unreadable ({exc})") from None
    if record.get("format_version", 0) > FORMAT_VERSION:
        raise ConfigError(f"{folder}: segmenter format {record['format_version']} is newer than this cxrlab supports")
    known = set(SegMeta.__dataclass_fields__)
    try:
        return SegMeta(**{k: v for k, v in record.items() if k in known})
    except TypeError as exc:
        raise ConfigError(f"{folder / META_NAME}: incomplete ({exc})") from None


def load_segmenter(path: str | Path):
    """``(UNet in eval mode, SegMeta)`` from a checkpoint or run folder; checksum verified."""
    from safetensors.torch import load_file

    from cxrlab.segment.unet import UNet

    folder = resolve_segmenter(path)
    meta = read_seg_meta(folder)
    expected = json.loads((folder / META_NAME).read_text(encoding="utf-8")).get("weights_sha256")
    if expected and sha256_file(folder / WEIGHTS_NAME) != expected:
        raise ConfigError(f"{folder}: {WEIGHTS_NAME} does not match the checksum in {META_NAME}")
    if meta.architecture != "unet":
        raise ConfigError(f"{folder}: unknown segmenter architecture {meta.architecture!r}")
    model = UNet(width=meta.width, depth=meta.depth)
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
    return model.eval(), meta
