"""Argument types checked at the door of every ``Clinic`` method, from its own type hints.

Python does not check hints, so ``enroll(start="2026-01-05")`` used to fail deep inside
with ``AttributeError: 'str' object has no attribute 'year'``. ``checked_arguments``
wraps each public method of a class once; a call with a value of the wrong type is
refused with one line before any work starts: ``start must be a datetime.date, not str``
(``InvalidInput``). The hints are the single statement of what each method takes.

Two rules are stricter than ``isinstance``: a ``bool`` is not an ``int`` (``adjust(P,
True)`` is a mistake, not one point), and a ``datetime`` is not a ``date`` (a start or
``since`` is a clinical date; a datetime would carry a time and a zone the rule ignores).
Iterables are checked to be iterables, not read: a generator of rows stays unread.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from ..errors import InvalidInput

C = TypeVar("C", bound=type)

Check = Callable[[object], bool]


def checked_arguments(cls: C) -> C:
    """Wrap every public method defined on ``cls`` so its arguments are checked first."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _checked(member))
    return cls


def _checked(method: Callable[..., Any]) -> Callable[..., Any]:
    checks: dict[str, tuple[Check, str]] | None = None
    positional: list[str] = []

    @functools.wraps(method)
    def wrapper(self: object, *args: object, **kwargs: object) -> Any:
        nonlocal checks, positional
        # On the first call, not at import: the hints name classes imported after the
        # class is defined, and a command calls two or three of a hundred methods.
        if checks is None:
            positional = [p.name for p in inspect.signature(method).parameters.values()][1:]
            checks = _checks_of(method)
        for name, value in (*zip(positional, args, strict=False), *kwargs.items()):
            found = checks.get(name)
            if found is not None and not found[0](value):
                raise InvalidInput(f"{name} must be {found[1]}, not {_type_name(value)}")
        return method(self, *args, **kwargs)

    return wrapper


def _checks_of(method: Callable[..., Any]) -> dict[str, tuple[Check, str]]:
    # Through the module's attributes: a name only the hints use may be imported on first
    # use (``app/lazy.py``), absent from the module's globals until then.
    hints = typing.get_type_hints(method, localns=_Attributes(sys.modules[method.__module__]))
    hints.pop("return", None)
    checks = {}
    for name, hint in hints.items():
        check, names = _check(hint)
        checks[name] = (check, _article(names[0]) + " or ".join(names))
    return checks


class _Attributes(Mapping[str, Any]):
    """A module's attributes as a namespace, its ``__getattr__`` included (PEP 562)."""

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self._module, name)
        except AttributeError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(vars(self._module))

    def __len__(self) -> int:
        return len(vars(self._module))


def _check(hint: Any) -> tuple[Check, list[str]]:
    """A test for values of ``hint`` and the names it is described by."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_check(option) for option in typing.get_args(hint)]
        tests = [test for test, _ in parts]
        return (lambda value: any(test(value) for test in tests)), [
            name for _, names in parts for name in names
        ]
    if origin is collections.abc.Mapping:
        key, value = (_check(a)[0] for a in typing.get_args(hint))
        described = " to ".join(" or ".join(_check(a)[1]) for a in typing.get_args(hint))
        return (
            lambda given: (
                isinstance(given, collections.abc.Mapping)
                and all(key(k) and value(v) for k, v in given.items())
            )
        ), [f"mapping of {described}"]
    if origin is collections.abc.Sequence:
        (item,) = (_check(a)[0] for a in typing.get_args(hint))
        (described,) = (" or ".join(_check(a)[1]) for a in typing.get_args(hint))
        return (
            lambda given: (
                isinstance(given, collections.abc.Sequence)
                and not isinstance(given, str | bytes)
                and all(item(v) for v in given)
            )
        ), [f"sequence of {described}"]
    if origin is collections.abc.Iterable:
        return (
            lambda given: (
                isinstance(given, collections.abc.Iterable) and not isinstance(given, str | bytes)
            )
        ), ["iterable"]
    if origin is collections.abc.Callable:
        return callable, ["callable"]
    if hint is type(None):
        return (lambda value: value is None), ["None"]
    if hint is int:
        return (lambda value: isinstance(value, int) and not isinstance(value, bool)), ["int"]
    if hint is dt.date:
        return (lambda value: isinstance(value, dt.date) and not isinstance(value, dt.datetime)), [
            "datetime.date"
        ]
    if isinstance(hint, type):
        return (lambda value: isinstance(value, hint)), [_class_name(hint)]
    raise TypeError(f"no argument check for the hint {hint!r}")  # a new kind of hint: add it


def _class_name(cls: type) -> str:
    """``datetime.date``, ``pathlib.Path``, ``str``, ``Outcome``: as a reader would write it."""
    if cls.__module__ in ("datetime", "pathlib"):
        return f"{cls.__module__}.{cls.__name__}"
    return cls.__name__


def _type_name(value: object) -> str:
    return "None" if value is None else _class_name(type(value))


def _article(name: str) -> str:
    if name == "None":
        return ""
    return "an " if name[0].lower() in "aeio" else "a "
