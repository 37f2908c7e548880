"""Paper configs: dataclasses with ``quick`` and ``default`` presets, and ``--set key=value``."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from landmarks.errors import UserInputError


class BadOverride(UserInputError, ValueError):
    pass


def field_types(cfg: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(type(cfg))
    return {f.name: hints[f.name] for f in dataclasses.fields(cfg)}


def type_name(t: Any) -> str:
    if isinstance(t, type):
        return t.__name__
    return str(t).replace("typing.", "")


def describe_keys(cfg: Any) -> str:
    return "\n".join(f"  {k} ({type_name(t)}, now {getattr(cfg, k)!r})" for k, t in field_types(cfg).items())


def parse_value(text: str, t: Any, key: str) -> Any:
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if text.lower() in ("none", "null") and len(args) < len(typing.get_args(t)):
            return None
        for a in args:
            try:
                return parse_value(text, a, key)
            except BadOverride:
                continue
        raise BadOverride(f"--set {key}={text}: expected {type_name(t)}")
    if origin is typing.Literal:
        allowed = typing.get_args(t)
        if text not in [str(a) for a in allowed]:
            raise BadOverride(f"--set {key}={text}: must be one of {', '.join(map(str, allowed))}")
        return next(a for a in allowed if str(a) == text)
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(t) or (str,)
        items = [s for s in text.strip("()[] ").split(",") if s.strip()]
        return origin(parse_value(s.strip(), inner, key) for s in items)
    if t is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise BadOverride(f"--set {key}={text}: expected a bool (true/false)")
    if t in (int, float, str):
        try:
            value = t(text)
        except ValueError:
            raise BadOverride(f"--set {key}={text}: expected {t.__name__}") from None
        if t is float and value != value:
            raise BadOverride(f"--set {key}={text}: NaN is not a valid value")
        return value
    raise BadOverride(f"--set {key}: values of type {type_name(t)} cannot be set from the command line")


def apply_overrides(cfg: Any, pairs: list[str]) -> Any:
    """Return a copy of ``cfg`` with ``key=value`` pairs applied, typed by the dataclass."""
    types_ = field_types(cfg)
    changes: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise BadOverride(f"--set {pair!r}: expected key=value. Valid keys:\n{describe_keys(cfg)}")
        key, text = pair.split("=", 1)
        key = key.strip()
        if key not in types_:
            raise BadOverride(f"--set: unknown key {key!r}. Valid keys:\n{describe_keys(cfg)}")
        try:
            changes[key] = parse_value(text.strip(), types_[key], key)
        except BadOverride as e:
            raise BadOverride(f"{e}. Valid keys:\n{describe_keys(cfg)}") from None
    new = dataclasses.replace(cfg, **changes)
    check = getattr(new, "validate", None)
    if callable(check):
        try:
            check()
        except ValueError as e:
            raise BadOverride(f"--set: {e}") from None
    return new
