"""Self-describing checkpoints.

A checkpoint is a folder::

    weights.safetensors   model weights
    checkpoint.json       everything needed to rebuild and use the model (see CheckpointMeta)
    train_state.pt        optional: optimizer/scheduler/RNG state, loaded only with weights_only=True

Folders are written under a temporary name and swapped in, so a crash never leaves a
half-written checkpoint; ``checkpoint.json`` records the SHA-256 of the weights.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cxrlab import __version__
from cxrlab.config import PreprocessConfig, from_dict
from cxrlab.errors import ConfigError
from cxrlab.io.atomic import atomic_dir, sha256_file
from cxrlab.labels import LabelScheme

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CheckpointMeta:
    """What ``checkpoint.json`` holds. ``evaluate``/``export``/``predict``/``serve`` need nothing else."""

    architecture: str
    classes: tuple[str, ...]
    label_scheme: dict[str, Any]
    in_chans: int
    preprocess: dict[str, Any]  # PreprocessConfig as dict
    mean: tuple[float, ...]
    std: tuple[float, ...]
    epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    thresholds: dict[str, Any] = field(default_factory=dict)
    weights_origin: dict[str, Any] = field(default_factory=dict)  # pretrained weights: package/file, sha256, mean/std
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str = ""
    created: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> int:
        return int(self.preprocess.get("size", 224))

    def preprocess_config(self) -> PreprocessConfig:
        return from_dict(PreprocessConfig, self.preprocess)

    def scheme(self) -> LabelScheme:
        d = self.label_scheme
        return LabelScheme(name=d["name"], classes=tuple(d["classes"]), mapping=tuple(d["mapping"].items()))


def software_versions() -> dict[str, str]:
    import timm
    import torchvision

    return {"cxrlab": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__}


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def make_meta(**kwargs: Any) -> CheckpointMeta:
    """A CheckpointMeta with versions/commit/time filled in."""
    kwargs.setdefault("versions", software_versions())
    kwargs.setdefault("git_commit", git_commit())
    kwargs.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    kwargs["classes"] = tuple(kwargs["classes"])
    kwargs["mean"] = tuple(float(v) for v in kwargs["mean"])
    kwargs["std"] = tuple(float(v) for v in kwargs["std"])
    return CheckpointMeta(**kwargs)


def save_checkpoint(folder: str | Path, model: nn.Module, meta: CheckpointMeta, train_state: dict | None = None) -> Path:
    """Write a checkpoint folder atomically (build ``folder.tmp``, then swap it in)."""
    from safetensors.torch import save_file

    with atomic_dir(folder) as tmp:
        module = model.module if hasattr(model, "module") else model
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(tmp / "weights.safetensors"))
        if train_state is not None:
            torch.save(train_state, tmp / "train_state.pt")
        record = asdict(meta)
        record["weights_sha256"] = sha256_file(tmp / "weights.safetensors")
        (tmp / "checkpoint.json").write_text(json.dumps(record, indent=2, default=_json_default), encoding="utf-8")
    return Path(folder)


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
    if path.is_file() and path.name == "checkpoint.json":
        path = path.parent
    candidates = [path, path / "checkpoints" / which, path / "checkpoints" / "last"]
    for cand in candidates:
        for c in (cand, cand.with_name(cand.name + ".old")):
            if (c / "checkpoint.json").exists() and (c / "weights.safetensors").exists():
                return c
    raise ConfigError(f"{path}: no checkpoint found (expected checkpoint.json + weights.safetensors, or a run folder)")


def read_meta(path: str | Path, which: str = "best") -> CheckpointMeta:
    folder = resolve_checkpoint_dir(path, which)
    try:
        record = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder / 'checkpoint.json'}: unreadable ({exc})") from None
    record.pop("weights_sha256", None)
    known = set(CheckpointMeta.__dataclass_fields__)
    unknown = set(record) - known
    if record.get("format_version", 0) > FORMAT_VERSION:
        raise ConfigError(f"{folder}: checkpoint format {record['format_version']} is newer than this cxrlab supports")
    for key in unknown:
        record.pop(key)
    record["classes"] = tuple(record["classes"])
    record["mean"] = tuple(record["mean"])
    record["std"] = tuple(record["std"])
    return CheckpointMeta(**record)


def load_checkpoint(path: str | Path, which: str = "best", device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model from a checkpoint alone; returns ``(model in eval mode, meta)``."""
    from safetensors.torch import load_file

    from cxrlab.models.registry import create_model

    folder = resolve_checkpoint_dir(path, which)
    meta = read_meta(folder)
    record = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
    expected = record.get("weights_sha256")
    if expected and sha256_file(folder / "weights.safetensors") != expected:
        raise ConfigError(f"{folder}: weights.safetensors does not match the checksum in checkpoint.json")
    model = create_model(meta.architecture, meta.num_classes, in_chans=meta.in_chans, pretrained=False)
    model.load_state_dict(load_file(str(folder / "weights.safetensors")))
    return model.to(device).eval(), meta


def load_train_state(path: str | Path) -> dict | None:
    """The optimizer/scheduler/RNG state of a checkpoint folder (``weights_only=True``)."""
    f = Path(path) / "train_state.pt"
    if not f.exists():
        return None
    return torch.load(f, map_location="cpu", weights_only=True)


def update_meta(path: str | Path, **changes: Any) -> CheckpointMeta:
    """Rewrite fields of ``checkpoint.json`` in place (e.g. temperature, thresholds) atomically."""
    from cxrlab.io.atomic import write_text

    folder = resolve_checkpoint_dir(path)
    record = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
    bad = set(changes) - set(CheckpointMeta.__dataclass_fields__)
    if bad:
        raise ConfigError(f"unknown checkpoint field(s): {', '.join(sorted(bad))}")
    record.update(changes)
    write_text(folder / "checkpoint.json", json.dumps(record, indent=2, default=_json_default))
    return read_meta(folder)
