"""Typed, frozen configuration dataclasses and their YAML/dict loading.

YAML files and CLI options only ever *load into* these classes; nothing is evaluated.
Unknown keys and wrong types are rejected with a message naming the key; a field annotated with a
``Literal`` (``cxrlab.choices``) only takes one of its values, and a bad one is reported with the
key, the value and the choices (and the YAML file, when loading one).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cxrlab.choices import REMOVED_CHOICES, CropMode, EqualizeMode, ResizeMode
from cxrlab.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class PreprocessConfig:
    """How a decoded 8-bit gray film becomes a square model input (before normalisation).

    ``resize``: ``stretch`` (ignore aspect), ``letterbox`` (pad to square with black) or
    ``center-crop`` (crop the long side). ``equalize``: ``none``, ``hist`` (global histogram
    equalisation), ``clahe`` (contrast-limited adaptive equalisation) or ``window`` (percentile
    windowing: the darkest and brightest 1 % of pixels clipped, the rest stretched to 0-255). ``crop``: ``none`` or
    ``lungs`` (crop each film to its lung box plus ``crop_margin`` before resizing; the boxes are the
    ``lung_*`` manifest columns written by ``cxrlab segment predict``).
    """

    size: int = 224
    resize: ResizeMode = "stretch"
    equalize: EqualizeMode = "none"
    crop: CropMode = "none"
    crop_margin: float = 0.1

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 2048:
            raise ConfigError(f"preprocess.size must be between 16 and 2048, got {self.size}")
        check_choices(self, "preprocess")
        if not 0.0 <= self.crop_margin <= 1.0:
            raise ConfigError(f"preprocess.crop_margin must be between 0 and 1, got {self.crop_margin}")

    def key(self) -> str:
        """A short stable string that identifies these parameters (used in cache keys)."""
        crop = f"-lungs{self.crop_margin:g}" if self.crop == "lungs" else ""
        return f"s{self.size}-{self.resize}-{self.equalize}{crop}"


def check_choices(obj: Any, where: str) -> None:
    """Raise ``ConfigError`` when a ``Literal`` field of the dataclass ``obj`` holds another value
    (for instances built directly, not through :func:`from_dict`)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if typing.get_origin(hints[f.name]) is typing.Literal:
            check_choice(hints[f.name], getattr(obj, f.name), f"{where}.{f.name}" if where else f.name)


def check_choice(literal: Any, value: Any, where: str) -> Any:
    """``value`` if the ``Literal`` type allows it, else a ``ConfigError`` naming ``where``, the
    value and the allowed values."""
    allowed = typing.get_args(literal)
    if value not in allowed:
        reason = f" ({REMOVED_CHOICES[value]})" if isinstance(value, str) and value in REMOVED_CHOICES else ""
        raise ConfigError(f"{where}: {value!r} is not allowed{reason}; choose one of {', '.join(map(str, allowed))}")
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """A plain, YAML/JSON-safe dict of a (nested) config dataclass."""
    return dataclasses.asdict(obj)


def from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "") -> T:
    """Build ``cls`` from a mapping, recursing into nested dataclasses and checking types.

    A dataclass may name keys it no longer has in a class attribute ``REMOVED_KEYS = {key: (inert,
    reason)}``: a mapping that still holds one (the ``config.yaml`` of an older run) loads when the
    value is ``inert`` (what meant "off"; ``None`` = every value was inert) and is refused with
    ``reason`` otherwise."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    data = _drop_removed_keys(cls, dict(data or {}), where)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for name in names & set(data):
        kwargs[name] = _coerce(hints[name], data[name], f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def _drop_removed_keys(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    for key, (inert, reason) in getattr(cls, "REMOVED_KEYS", {}).items():
        if key in data:
            value = data.pop(key)
            if inert is not None and value != inert:
                name = f"{where}.{key}" if where else key
                raise ConfigError(f"{name}: {value!r} is no longer an option ({reason})")
    return data


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        return check_choice(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}") from None
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b=value`` (value read as YAML scalar: numbers, true/false, lists)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. optim.lr=0.001)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.path=value`` overrides applied."""
    out = _deep_copy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {key} is not a section")
        node[keys[-1]] = value
    return out


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load ``cls`` from an optional YAML file plus ``key=value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML ({exc})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded or {}
    data = apply_overrides(data, overrides or [])
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None


def save_config(obj: Any, path: str | Path) -> None:
    """Write a config dataclass as YAML, atomically."""
    from cxrlab.io.atomic import write_text

    write_text(path, yaml.safe_dump(to_dict(obj), sort_keys=False))
