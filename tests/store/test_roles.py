"""Each view and use case asks the storage port for the roles it calls, not the whole ``Tx``
(docs/design.md section 6).

mypy --strict proves that a function typed with a role calls nothing outside it; this
test keeps the whole ``Tx`` out of the parameters of ``views/``, ``app/`` and the shared
lookups, except where a function truly reads nearly everything. Read from the source
with ``ast``, as tests/test_layers.py reads imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cmrewards"
SOURCES = sorted(
    [
        *(PACKAGE / "views").glob("*.py"),
        *(PACKAGE / "app").glob("*.py"),
        PACKAGE / "store" / "lookup.py",
    ]
)

WHOLE_PORT = {
    ("views/verify.py", "verify_store"): (
        "every check of verify reads every role: the outcome, transfer and journal chains,"
        " balances and cap usage, schedule states, prizes, redemptions, stock, and each"
        " journaled record (staff, programs, participants, idempotency keys ...)"
    ),
    ("views/verify.py", "_verified"): "verify_store's checks, run with the collector paused",
    ("views/export.py", "export_all"): (
        "writes every table but the journal to a file each, and both chain heads"
    ),
    ("views/export.py", "_tables"): "export_all's tables: one reader for each",
}
"""The functions that take the whole ``Tx``, and why each needs nearly all of the port."""


def mentions_tx(annotation: ast.expr) -> bool:
    """``Tx``, ``port.Tx``, ``"Tx"``, ``Tx | None``, ``Sequence[Tx]`` ...: the whole port."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "Tx":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Tx":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                if mentions_tx(ast.parse(node.value, mode="eval").body):
                    return True
            except SyntaxError:
                continue
    return False


def parameters(source: str) -> Iterator[tuple[str, ast.arg]]:
    """(function name, parameter) for every annotated parameter of every function."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            yield from ((node.name, a) for a in every if a.annotation is not None)


def whole_port_takers() -> dict[tuple[str, str], str]:
    """(module, function) -> parameter, for every function with a parameter typed ``Tx``."""
    found = {}
    for path in SOURCES:
        module = path.relative_to(PACKAGE).as_posix()
        for function, argument in parameters(path.read_text(encoding="utf-8")):
            assert argument.annotation is not None
            if mentions_tx(argument.annotation):
                found[module, function] = argument.arg
    return found


def test_only_the_reads_of_everything_take_the_whole_port() -> None:
    takers = whole_port_takers()
    unexplained = sorted(set(takers) - set(WHOLE_PORT))
    assert not unexplained, (
        f"{unexplained} take the whole Tx: type each with the roles it calls"
        " (store/port.py), or list it in WHOLE_PORT with the reason it needs nearly all"
    )


def test_every_listed_exception_still_takes_the_whole_port() -> None:
    """A function narrowed (or renamed) leaves the list, so the list never excuses more."""
    assert sorted(set(WHOLE_PORT) - set(whole_port_takers())) == []


@pytest.mark.parametrize(
    "annotation",
    ["Tx", "port.Tx", "store.port.Tx", "'Tx'", "Tx | None", "Sequence[Tx]", "'Tx | None'"],
)
def test_the_check_sees_the_whole_port_however_it_is_written(annotation: str) -> None:
    source = f"def read(work: UnitOfWork, tx: {annotation}) -> None: ..."
    assert [mentions_tx(a.annotation) for _, a in parameters(source) if a.annotation] == [
        False,
        True,
    ]


@pytest.mark.parametrize(
    "annotation", ["Tx2", "RecordTx", "JournalingTx", "HoldRelease", "'Ledger'"]
)
def test_the_check_passes_the_roles(annotation: str) -> None:
    source = f"def read(tx: {annotation}) -> None: ..."
    assert [mentions_tx(a.annotation) for _, a in parameters(source) if a.annotation] == [False]


def test_the_check_sees_the_views_and_the_use_cases() -> None:
    """A move that empties the scanned folders would make the tests above pass vacuously."""
    modules = {path.relative_to(PACKAGE).as_posix() for path in SOURCES}
    assert {"views/statement.py", "app/holds.py", "app/recording.py", "store/lookup.py"} <= modules
    typed = {
        (path.relative_to(PACKAGE).as_posix(), function, ast.unparse(argument.annotation))
        for path in SOURCES
        for function, argument in parameters(path.read_text(encoding="utf-8"))
        if argument.arg == "tx" and argument.annotation is not None
    }
    assert len(typed) > 20
    assert {
        ("views/statement.py", "statement_of", "StatementReads"),
        ("app/holds.py", "release_hold", "HoldRelease"),
        ("store/lookup.py", "find_program", "ProgramLookup"),
    } <= typed
