"""Plain-JSON form of the public records, both ways.

Used for ``--json`` output and for the stored result of an idempotent write, so
a replay returns exactly what the first call returned.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from typing import Any, TypeVar

import attrs

from .clock import from_utc_text, to_utc_text

T = TypeVar("T")


_AS_IS = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """attrs records, enums, datetimes and dates as JSON-ready values."""
    kind = type(value)
    if kind in _AS_IS:  # most values: checked first because results are serialised per write
        return value
    names = _FIELD_NAMES.get(kind) or (_field_names(kind) if attrs.has(kind) else None)
    if names is not None:
        data = {name: to_json(getattr(value, name)) for name in names}
        for name in getattr(kind, "__json_extra__", ()):
            data[name] = to_json(getattr(value, name))
        return data
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return to_utc_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | frozenset | set):
        items = [to_json(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in attrs.fields(cls))
    return names


def from_json(cls: type[T], data: Any) -> T:
    """Rebuild an attrs record written by ``to_json``."""
    return typing.cast(T, _structure(cls, data))


def _structure(kind: Any, data: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        (option,) = [o for o in options if o is not type(None)]
        return _structure(option, data)
    if origin is tuple:
        (item,) = typing.get_args(kind)[:1]
        return tuple(_structure(item, v) for v in data)
    if origin is frozenset:
        (item,) = typing.get_args(kind)
        return frozenset(_structure(item, v) for v in data)
    if origin is dict:
        return dict(data)
    if attrs.has(kind):
        hints = typing.get_type_hints(kind)
        # A field added since the record was stored keeps its default (a stored result
        # replayed by a newer version).
        return kind(
            **{
                f.name: _structure(hints[f.name], data[f.name])
                for f in attrs.fields(kind)
                if f.name in data or f.default is attrs.NOTHING
            }
        )
    if kind is dt.datetime:
        return from_utc_text(data)
    if kind is dt.date:
        return dt.date.fromisoformat(data)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    return data
