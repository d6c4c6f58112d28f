"""The public door: an embedder needs nothing but ``import cmrewards``.

Every type a public ``Clinic`` method returns or takes — and every record, enum and
schedule inside those, field by field — is ``cmrewards.<its name>``, and so is every type
the door's functions return or take. ``__all__`` names each public thing once, and the
lazy table behind it agrees with the imports mypy reads. A class that moves between
internal modules, or a new record a method starts returning, fails here until the door
lists it.
"""

from __future__ import annotations

import ast
import inspect
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

import cmrewards

DOOR = Path(cmrewards.__file__)


def public_methods() -> dict[str, Callable[..., object]]:
    """Every public method and property of ``Clinic``, by name (properties by their getter)."""
    found = {}
    for name in dir(cmrewards.Clinic):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(cmrewards.Clinic, name)
        function = member.fget if isinstance(member, property) else getattr(cmrewards.Clinic, name)
        if callable(function):
            found[name] = function
    return found


def classes_in(hint: object) -> Iterator[type]:
    """The classes a type hint mentions: ``list[X]``, ``X | None``, ``Callable[[X], Y]`` ..."""
    if isinstance(hint, list):  # the argument list of a Callable
        for item in hint:
            yield from classes_in(item)
        return
    origin = typing.get_origin(hint)
    if origin is None:
        if isinstance(hint, type):
            yield hint
        return
    if isinstance(origin, type):
        yield origin
    for argument in typing.get_args(hint):
        yield from classes_in(argument)


def own(classes: Iterator[type]) -> Iterator[type]:
    return (c for c in classes if c.__module__.split(".")[0] == "cmrewards")


def reachable(roots: dict[str, Callable[..., object]], *, returns: bool) -> dict[type, str]:
    """Each project class reachable from the roots' return (or parameter) hints, then from the
    attrs fields of the records found, with the path that reached it first."""
    found: dict[type, str] = {}
    pending: list[tuple[type, str]] = []
    for name, function in sorted(roots.items()):
        hints = typing.get_type_hints(function)
        chosen = (
            [hints.get("return")] if returns else [h for k, h in hints.items() if k != "return"]
        )
        pending += [(c, f"{name}()") for hint in chosen for c in own(classes_in(hint))]
    while pending:
        cls, path = pending.pop(0)
        if cls in found:
            continue
        found[cls] = path
        if attrs.has(cls):
            hints = typing.get_type_hints(cls)
            for field in attrs.fields(cls):
                pending += [(c, f"{path}.{field.name}") for c in own(classes_in(hints[field.name]))]
    return found


def door_functions() -> dict[str, Callable[..., object]]:
    """The functions the door lists (``open``, ``simulate``, ``read_rows`` ...)."""
    return {
        name: value
        for name in cmrewards.__all__
        if inspect.isfunction(value := getattr(cmrewards, name))
    }


RETURNED = reachable(public_methods(), returns=True)
TAKEN = reachable(public_methods(), returns=False)
FROM_FUNCTIONS = {
    **reachable(door_functions(), returns=True),
    **reachable(door_functions(), returns=False),
}


def by_name(found: dict[type, str]) -> list[type]:
    return sorted(found, key=lambda cls: cls.__name__)


def name_of(cls: type) -> str:
    return cls.__name__


def on_the_door(cls: type) -> bool:
    return getattr(cmrewards, cls.__name__, None) is cls and cls.__name__ in cmrewards.__all__


@pytest.mark.parametrize("cls", by_name(RETURNED), ids=name_of)
def test_every_type_a_clinic_method_returns_is_on_the_door(cls: type) -> None:
    assert on_the_door(cls), (
        f"{cls.__module__}.{cls.__name__} (reached by Clinic.{RETURNED[cls]})"
        " is not importable from cmrewards: add it to _HOMES and __all__"
    )


@pytest.mark.parametrize("cls", by_name(TAKEN), ids=name_of)
def test_every_type_a_clinic_method_takes_is_on_the_door(cls: type) -> None:
    assert on_the_door(cls), f"{cls.__module__}.{cls.__name__} (Clinic.{TAKEN[cls]})"


@pytest.mark.parametrize("cls", by_name(FROM_FUNCTIONS), ids=name_of)
def test_every_type_the_door_functions_use_is_on_the_door(cls: type) -> None:
    assert on_the_door(cls), f"{cls.__module__}.{cls.__name__} ({FROM_FUNCTIONS[cls]})"


def test_the_walk_reaches_records_inside_records() -> None:
    """A walk that stopped at the first level would pass vacuously for nested records."""
    assert {cmrewards.Statement, cmrewards.StatementLine, cmrewards.ProgramReport} <= set(RETURNED)
    assert {cmrewards.TargetSummary, cmrewards.Transfer, cmrewards.Movement} <= set(RETURNED)
    assert {cmrewards.EscalatingSchedule, cmrewards.StepBy, cmrewards.PrizeWon} <= set(RETURNED)
    assert {cmrewards.ImportRow, cmrewards.BadRow, cmrewards.Role} <= set(TAKEN)
    assert {cmrewards.SimulationReport, cmrewards.MigrationReport} <= set(FROM_FUNCTIONS)
    assert len(public_methods()) > 30


def test_every_name_in_all_resolves() -> None:
    missing = [name for name in cmrewards.__all__ if not hasattr(cmrewards, name)]
    assert not missing


def test_all_names_each_public_thing_once() -> None:
    assert len(cmrewards.__all__) == len(set(cmrewards.__all__))
    # Each class and function under its own name: the door never renames, so a reader
    # who meets the name in a traceback finds the same name in the source.
    for name in cmrewards.__all__:
        value = getattr(cmrewards, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert name == value.__name__


def test_the_lazy_table_and_the_imports_mypy_reads_agree() -> None:
    """``__all__``, the lazy table and the ``TYPE_CHECKING`` imports list the same names
    in the same homes, so neither the type checker nor a running program sees a different door."""
    tree = ast.parse(DOOR.read_text(encoding="utf-8"))
    checked: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                checked |= {a.name: str(statement.module) for a in statement.names}
    assert checked == cmrewards._LAZY
    assert {*cmrewards._LAZY, "open"} == set(cmrewards.__all__)


@pytest.mark.parametrize("package", ["domain", "store", "views", "app", "cli"])
def test_each_subpackage_says_it_is_internal(package: str) -> None:
    module = __import__(f"cmrewards.{package}", fromlist=["_"])
    assert "internal" in (module.__doc__ or "").lower()


def test_statement_and_program_report_are_reachable_as_the_issue_asks() -> None:
    assert cmrewards.Statement.__name__ == "Statement"
    assert cmrewards.ProgramReport.__name__ == "ProgramReport"
