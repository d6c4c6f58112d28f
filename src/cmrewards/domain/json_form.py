"""Plain-JSON form of the public records, both ways: ``cmrewards.to_json`` and ``from_json``.

One conversion for everything that leaves the library as JSON: the CLI's ``--json``,
the export's JSON files, an embedder's web response, and the stored result of an
idempotent write (so a replay returns exactly what the first call returned).

The form (docs/decisions.md, "Embedding: Datetimes stay UTC"): a record is an object of its fields
(plus the few derived values it names in ``__json_extra__``, such as a schedule's
``kind``); an enum is its value; a datetime is ISO 8601 text in UTC with the ``Z``
designator and microseconds (``2026-01-05T15:30:00.000000Z``), except a wall-clock time
whose zone is not known yet (a lab row's collection time, before its program's zone
applies), which is written as it is, without an offset; a date is
``YYYY-MM-DD``; a tuple or list is an array, a set a sorted array; a mapping an object
with text keys. Money stays integer cents and points stay integer points, as in the
records. ``to_json`` refuses anything else (``UsageError``) rather than hand
``json.dumps`` a value it would fail on later.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import enum
import types
import typing
from typing import Any, TypeVar

import attrs

from ..errors import InvalidInput, UsageError
from .clock import from_utc_text, to_utc_text

T = TypeVar("T")

_AS_IS = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """``value`` as plain JSON values: ``json.dumps(cmrewards.to_json(result))``.

    Takes every record and enum the library returns, and lists, tuples, sets and
    mappings of them. Returns dicts, lists, text, integers, floats, booleans and None,
    not a JSON string: a web framework's encoder or ``json.dumps`` writes those as they
    are. See the module docstring for the form; ``from_json`` reads it back. Raises
    ``UsageError`` for a value of any other type.
    """
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
        return to_json(value.value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # a wall-clock time whose zone is not known yet
            return value.isoformat(timespec="microseconds")
        return to_utc_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(to_json(v) for v in value)
    if isinstance(value, collections.abc.Mapping):
        return {_key(k): to_json(v) for k, v in value.items()}
    raise UsageError(f"to_json takes the library's records, not {kind.__module__}.{kind.__name__}")


def _key(key: object) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if not isinstance(key, str):
        raise UsageError(f"to_json takes mappings with text keys, not {type(key).__name__}")
    return key


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in attrs.fields(cls))
    return names


def from_json(cls: type[T], data: Any) -> T:
    """Rebuild a ``cls`` record from what ``to_json`` made of it (after ``json.loads``, too).

    ``from_json(Balance, json.loads(text)) == balance``. A field added to a record since
    the JSON was written keeps its default. Raises ``InvalidInput`` when ``data`` does not
    have the record's shape.
    """
    try:
        return typing.cast(T, _structure(cls, data))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        name = getattr(cls, "__name__", str(cls))
        raise InvalidInput(
            f"not the JSON form of a {name} ({type(error).__name__}: {error})"
        ) from None


def _structure(kind: Any, data: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _structure(_option(typing.get_args(kind), data), data)
    if origin is tuple:
        (item,) = typing.get_args(kind)[:1]
        return tuple(_structure(item, v) for v in data)
    if origin is frozenset:
        (item,) = typing.get_args(kind)
        return frozenset(_structure(item, v) for v in data)
    if origin in (dict, collections.abc.Mapping):
        key, value = typing.get_args(kind)
        return {_structure(key, k): _structure(value, v) for k, v in data.items()}
    if attrs.has(kind):
        if not isinstance(data, dict):
            raise TypeError(f"{kind.__name__} is an object, not {type(data).__name__}")
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
    if kind is float and type(data) is int:  # JSON writes 1.0 as 1 in some encoders
        return float(data)
    return data


def _option(options: tuple[Any, ...], data: Any) -> Any:
    """The member of a union that ``data`` is the form of."""
    if data is None and type(None) in options:
        return type(None)
    present = [o for o in options if o is not type(None)]
    if len(present) == 1:
        return present[0]
    for option in present:  # primitives: ``int | str``
        if option in _AS_IS and type(data) is option:
            return option
    if isinstance(data, dict):  # records: the one whose fields the object has
        for option in (o for o in present if attrs.has(o)):
            fields = attrs.fields(option)
            required = {f.name for f in fields if f.default is attrs.NOTHING}
            known = {f.name for f in fields} | set(getattr(option, "__json_extra__", ()))
            if required <= set(data) <= known:
                return option
    raise TypeError(f"{data!r} is none of {', '.join(map(str, present))}")
