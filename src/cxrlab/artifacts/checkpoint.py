"""Self-describing checkpoint folders.

A checkpoint is a folder::

    weights.safetensors   model weights
    checkpoint.json       everything needed to rebuild and use the model (CheckpointMeta)
    train_state.pt        optional: optimizer/scheduler/RNG state, loaded only with weights_only=True

Folders are written under a temporary name and swapped in, so a crash never leaves a
half-written checkpoint; ``checkpoint.json`` records the SHA-256 of the weights. Rebuilding the
model is :func:`cxrlab.models.loading.load_checkpoint`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxrlab.artifacts.checkpoint_meta import CheckpointMeta
from cxrlab.artifacts.provenance import git_commit, software_versions, utc_now
from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.errors import ConfigError
from cxrlab.io.atomic import atomic_dir, sha256_file, write_text

if TYPE_CHECKING:
    import torch
    from torch import nn

META_FILE = "checkpoint.json"
WEIGHTS_FILE = "weights.safetensors"
TRAIN_STATE_FILE = "train_state.pt"


def make_meta(**kwargs: Any) -> CheckpointMeta:
    """A CheckpointMeta with versions/commit/time filled in."""
    kwargs.setdefault("versions", software_versions())
    kwargs.setdefault("git_commit", git_commit())
    kwargs.setdefault("created", utc_now())
    return CheckpointMeta(**kwargs)


def save_checkpoint(folder: str | Path, model: nn.Module, meta: CheckpointMeta, train_state: dict | None = None) -> Path:
    """Write a checkpoint folder atomically (build ``folder.tmp``, then swap it in)."""
    import torch
    from safetensors.torch import save_file

    with atomic_dir(folder) as tmp:
        module = model.module if hasattr(model, "module") else model
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        if train_state is not None:
            torch.save(train_state, tmp / TRAIN_STATE_FILE)
        record = meta.to_dict() | {"weights_sha256": sha256_file(tmp / WEIGHTS_FILE)}
        (tmp / META_FILE).write_text(_dumps(record), encoding="utf-8")
    return Path(folder)


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def resolve_checkpoint_dir(path: str | Path, which: str = "best") -> Path:
    """Accept a run folder (uses ``checkpoints/<which>``), a checkpoint folder, or its json file."""
    path = Path(path)
    if path.is_file() and path.name == META_FILE:
        path = path.parent
    run = RunFolder(path)
    for cand in (path, run.checkpoint(which), run.checkpoint("last")):
        for c in (cand, cand.with_name(cand.name + ".old")):
            if (c / META_FILE).exists() and (c / WEIGHTS_FILE).exists():
                return c
    raise ConfigError(f"{path}: no checkpoint found (expected {META_FILE} + {WEIGHTS_FILE}, or a run folder)")


def _record(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder / META_FILE}: unreadable ({exc})") from None


def read_meta(path: str | Path, which: str = "best") -> CheckpointMeta:
    """The checkpoint's own :class:`CheckpointMeta` (see ``cxrlab.artifacts.calibration`` for the
    calibration an evaluation fitted later)."""
    folder = resolve_checkpoint_dir(path, which)
    return CheckpointMeta.from_dict(_record(folder), where=str(folder / META_FILE))


def weights_sha256(folder: str | Path) -> str:
    """The SHA-256 of the weights recorded in ``checkpoint.json`` ("" for very old checkpoints)."""
    return str(_record(resolve_checkpoint_dir(folder)).get("weights_sha256") or "")


def read_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint folder, checked against the checksum in ``checkpoint.json``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    expected = weights_sha256(folder)
    if expected and sha256_file(folder / WEIGHTS_FILE) != expected:
        raise ConfigError(f"{folder}: {WEIGHTS_FILE} does not match the checksum in {META_FILE}")
    return load_file(str(folder / WEIGHTS_FILE))


def load_train_state(path: str | Path) -> dict | None:
    """The optimizer/scheduler/RNG state of a checkpoint folder (``weights_only=True``)."""
    import torch

    f = Path(path) / TRAIN_STATE_FILE
    if not f.exists():
        return None
    return torch.load(f, map_location="cpu", weights_only=True)


def update_meta(path: str | Path, **changes: Any) -> CheckpointMeta:
    """Rewrite fields of ``checkpoint.json`` in place atomically (the weights are unchanged)."""
    folder = resolve_checkpoint_dir(path)
    record = _record(folder)
    meta = CheckpointMeta.from_dict(record, where=str(folder / META_FILE))
    try:
        meta = replace(meta, **changes)
    except TypeError:
        bad = set(changes) - set(CheckpointMeta.__dataclass_fields__)
        raise ConfigError(f"unknown checkpoint field(s): {', '.join(sorted(bad))}") from None
    write_text(folder / META_FILE, _dumps(record | meta.to_dict()))
    return meta
