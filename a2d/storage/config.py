"""Typed configuration: dataclasses filled from YAML files and dotted command-line overrides.

Components are named by registered name (``synth: vital_simple``, ``model: flow``), never by import
path. Unknown keys are errors that name the key and list the valid ones. The resolved config is
plain data (:func:`to_dict`) and is saved with every dataset and checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from a2d.contracts.errors import ConfigError, ConfigNotFoundError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing or malformed file is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigNotFoundError(f"config file {str(path)!r} {what}; check the path")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"config file {str(path)!r} is not valid YAML ({_yaml_problem(exc)}); fix the file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"config file {str(path)!r} cannot be read as text ({reason}); pass a YAML file"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping at the top level; write `key: value` lines"
        )
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line of a YAML error: what and where (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """``["--train.batch_size", "64", "--model.dim=128"]`` -> ``{"train.batch_size": 64, ...}``.

    Values are parsed as YAML scalars (``64`` -> int, ``true`` -> bool, ``[1, 2]`` -> list).
    """
    out: dict[str, Any] = {}
    i = 0
    args = list(args)
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ConfigError(
                f"unexpected argument {arg!r}; overrides look like --section.key VALUE"
            )
        key = arg[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"override {arg!r} has no value")
            raw = args[i + 1]
            i += 2
        try:
            out[key.replace("-", "_")] = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            out[key.replace("-", "_")] = raw
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``: dotted keys as nested sections."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
            node = child
        node[last] = value
    return out


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two mappings (``update`` wins). Where ``update`` names another component
    (``encoder: pooled`` over ``encoder: cnn``), the base's arguments of the old one
    (``encoder_args``) are dropped, not merged into the new one's."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, str) and out.get(k) != v and isinstance(out.get(f"{k}_args"), Mapping):
            out.pop(f"{k}_args")
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a section (mapping), got {value!r}")
        return from_dict(tp, value, prefix=where)
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types are ConfigErrors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in section {prefix!r}" if prefix else ""
        raise ConfigError(
            f"unknown config key(s) {', '.join(repr((prefix + '.' if prefix else '') + k) for k in unknown)}"
            f"{where}; valid keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        where = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], where)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"invalid config{' section ' + repr(prefix) if prefix else ''}: {exc}"
        ) from exc


def to_dict(obj: Any) -> Any:
    """Plain, YAML/JSON-able data from a config dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def resolve(
    cls: type[T],
    *,
    base: Sequence[Mapping[str, Any]] = (),
    path: str | Path | None = None,
    values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """The one config resolution of a2d: dataclass defaults <- ``base`` layers (e.g. a size
    preset) <- the YAML file ``path`` <- explicit ``values`` (CLI options; ``None`` is "not given")
    <- dotted ``overrides``. Every layer deep-merges into the ones before: a dotted key sets one
    value, not a whole section. Unknown keys and wrong types are :class:`ConfigError` s."""
    data: dict[str, Any] = {}
    for layer in base:
        data = merge(data, layer)
    if path is not None:
        data = merge(data, load_yaml(path))
    data = merge(data, nest({k: v for k, v in (values or {}).items() if v is not None}))
    data = merge(data, nest(overrides or {}))
    return from_dict(cls, data)
