"""The library speaks in library terms: no CLI hints in the messages it raises.

A clinic engineer's web service shows a library message to its own users, who have no
``cmrewards staff add`` to run. The CLI adds its hints where it catches an error
(``cli/_shell.py`` for a missing database, ``cli/setup.py`` for ``init``). This scans every
string the library holds outside ``cli/`` (docstrings aside) for a CLI command, option or
environment variable.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import cmrewards
from cmrewards.cli import cli
from support.cli import assert_error

PACKAGE = Path(cmrewards.__file__).parent
CLI_WORDS = re.compile(
    r"'cmrewards [a-z]|`cmrewards [a-z]|(?<![\w-])--[a-z][a-z-]+|CMREWARDS_[A-Z]"
    r"|\b(?:use|run|see|with|try) '[a-z]"
)
"""``'cmrewards init``, ``--db``, ``CMREWARDS_DB``, ``use 'staff add'`` ..."""


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of every docstring node: module, class, function and attribute docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            for statement in node.body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    found.add(id(statement.value))
    return found


def library_strings() -> Iterator[tuple[str, int, str]]:
    """(module, line, text) of each string constant outside ``cli/`` that is no docstring."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in skip:
                continue
            if isinstance(node.value, str):
                yield str(path.relative_to(PACKAGE)), node.lineno, node.value


def test_the_scan_sees_the_library_s_messages() -> None:
    texts = [text for _, _, text in library_strings()]
    assert len(texts) > 500
    assert any("is not a cmrewards database" in text for text in texts)
    assert CLI_WORDS.search("no database at x; create one with 'cmrewards init --admin ID'")
    assert CLI_WORDS.search("already has staff; use 'staff add'")
    assert not CLI_WORDS.search("CHECK (kind IN ('correct', 'void'))")


def test_no_library_message_carries_a_cli_hint() -> None:
    found = [
        f"{module}:{line}: {text[:90]!r}"
        for module, line, text in library_strings()
        if CLI_WORDS.search(text)
    ]
    assert not found, "CLI words in library messages (the CLI adds its own hints):\n" + "\n".join(
        found
    )


def test_the_library_says_what_and_the_cli_adds_how(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(cmrewards.NotFound) as library:
        cmrewards.open(missing, create=False)
    assert str(library.value) == f"no database at {missing}"
    result = CliRunner().invoke(cli, ["--json", "--db", str(missing), "staff", "list"])
    message = assert_error(result, 1)["message"]
    assert message == (
        f"no database at {missing}; create one with 'cmrewards init --admin ID'"
        " or point --db / CMREWARDS_DB at it"
    )

    db = str(tmp_path / "clinic.db")
    with cmrewards.open(db) as clinic:
        clinic.init("admin-1")
        with pytest.raises(cmrewards.AlreadyExists) as again:
            clinic.init("admin-2")
    assert str(again.value) == f"{db} already has staff: its first admin adds the others"
    result = CliRunner().invoke(
        cli, ["--json", "--db", db, "init", "--admin", "admin-2", "--no-sign-in"]
    )
    message = assert_error(result, 1)["message"]
    assert message == f"{again.value}; use 'cmrewards staff add'"
