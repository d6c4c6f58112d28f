"""The code blocks of README.md and docs/*.md, and how each is run and checked.

A reader works through a section of the README in one terminal and one folder, pasting
its blocks in order. ``tests/cli/test_docs.py`` does the same:

- **Sessions.** The blocks under one ``## `` heading of a file run in order, in one new
  folder holding a link to the repository's ``examples/`` (so the paths the README gives
  "from the repository's root" work). Shell blocks share the ``CMREWARDS_*`` variables
  they export; Python blocks share one namespace. A block preceded by
  ``<!-- continues: HEADING -->`` runs in that section's session instead (an output shown
  further down, of commands run in a quickstart). The passphrases a block would ask for
  are given as a script gives them (``signing_in``).
- **Output.** In ``sh``, lines ``#> text`` after a command are what it prints; in
  ``python``, ``#> text`` (on its own line or after a statement) is what the block prints,
  in order. ``...`` matches any text (``doctest``'s ELLIPSIS). A command or block without
  ``#>`` lines must run, and what it prints is not compared.
- **Other languages.** A ``toml`` block is a program file (``id`` and ``[[targets]]``), a
  fragment of one (``[[targets]]`` alone: checked inside a minimal program), or a lab
  mapping file (``[columns]`` or ``[identity]``), and must load. A block without a
  language whose first line names a folder (``src/cmrewards/``) is a map of the files:
  each file it names must exist.
- **Not run.** A block that cannot run here (it builds the environment, or needs a server
  on another machine) is preceded by ``<!-- not run: why -->``. Such blocks are rare, and
  the test says how rare.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import subprocess
import sys
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

import cmrewards

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
MARKER = re.compile(r"^<!--\s*(not run|continues):\s*(.+?)\s*-->$")
EXPECTED = re.compile(r"(?:^|\s)#> ?(.*)$")
SESSION_VARIABLES = re.compile(r"^declare -x (CMREWARDS_[A-Z_]+)=", re.MULTILINE)


@attrs.frozen
class Block:
    """One fenced block of a document."""

    document: Path
    line: int
    """The line of its opening fence, for messages."""
    language: str
    text: str
    section: str
    """The ``## `` heading it is under ("" before the first)."""
    marker: tuple[str, str] | None = None
    """``("not run", why)`` or ``("continues", heading)`` from the comment just before it."""

    @property
    def where(self) -> str:
        inside = self.document.is_relative_to(ROOT)
        return f"{self.document.relative_to(ROOT) if inside else self.document.name}:{self.line}"

    @property
    def session(self) -> str:
        """Which session it runs in: its file and section, or the one it continues."""
        section = self.marker[1] if self.marker and self.marker[0] == "continues" else self.section
        return f"{self.document.name}: {section or '(top)'}"


def blocks(document: Path) -> list[Block]:
    """Every fenced block of ``document``, in order."""
    found = []
    section, marker = "", None
    lines = document.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            start, language = index, line[3:].strip()
            body = []
            index += 1
            while not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            found.append(
                Block(document, start + 1, language, "\n".join(body) + "\n", section, marker)
            )
        if line.strip():
            matched = MARKER.match(line.strip())
            marker = (matched.group(1), matched.group(2)) if matched else None
        index += 1
    return found


def all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in blocks(document)]


@attrs.define
class Session:
    """One reader's folder, shell variables and Python namespace."""

    directory: Path
    namespace: dict[str, Any] = attrs.Factory(dict)

    @property
    def variables(self) -> Path:
        return self.directory / ".doc-session-variables"

    def close(self) -> None:
        """Close what the Python blocks opened."""
        for value in self.namespace.values():
            if isinstance(value, cmrewards.Clinic):
                with contextlib.suppress(cmrewards.CMRewardsError):
                    value.close()


def new_session(directory: Path) -> Session:
    directory.mkdir(parents=True)
    (directory / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return Session(directory)


def run(block: Block, session: Session) -> list[str]:
    """Run ``block`` in ``session``; the problems found, each naming where (none: it passed)."""
    runner = {"sh": run_shell, "python": run_python, "toml": check_toml, "": check_file_map}
    if block.language not in runner:
        return [f"{block.where}: no runner for ```{block.language} blocks; see {__name__}"]
    return runner[block.language](block, session)


# --- matching what is printed --------------------------------------------------------------

_CHECKER = doctest.OutputChecker()


def matches(expected: list[str], printed: str) -> bool:
    want = "\n".join(expected).rstrip() + "\n"
    got = "\n".join(line.rstrip() for line in printed.strip("\n").splitlines()) + "\n"
    return _CHECKER.check_output(want, got, doctest.ELLIPSIS)


def mismatch(where: str, what: str, expected: list[str], printed: str) -> str:
    shown = "\n".join(f"    #> {line}" for line in expected)
    return f"{where}: {what} printed\n{printed.rstrip()}\n  where the document shows\n{shown}"


# --- shell ---------------------------------------------------------------------------------


@attrs.frozen
class Command:
    line: int
    text: str
    expected: tuple[str, ...]


def commands(block: Block) -> list[Command]:
    """Each command of a shell block (continued lines joined) with the ``#>`` lines after it."""
    found: list[Command] = []
    pending: list[str] = []
    lines = block.text.splitlines()
    for offset, line in enumerate(lines, block.line + 1):
        stripped = line.strip()
        if stripped.startswith("#>"):
            assert found, f"{block.document.name}:{offset}: output shown before any command"
            shown = EXPECTED.match(stripped)
            assert shown is not None
            last = found[-1]
            found[-1] = attrs.evolve(last, expected=(*last.expected, shown.group(1)))
        elif pending or (stripped and not stripped.startswith("#")):
            pending.append(line)
            if not line.endswith("\\"):
                found.append(Command(offset - len(pending) + 1, "\n".join(pending), ()))
                pending = []
    return found


READER_PASSPHRASE = "the reader's passphrase"
"""What the reader types at each passphrase prompt of a shell block."""


def signing_in(directory: Path) -> dict[str, str]:
    """The reader at the terminal, for a shell block that signs in: the passphrases they
    would type, given as a script gives them (a block may name a file instead), sessions
    kept in the session's folder, and the documented test cost."""
    return {
        "CMREWARDS_PASSPHRASE": READER_PASSPHRASE,
        "CMREWARDS_NEW_PASSPHRASE": READER_PASSPHRASE,
        "CMREWARDS_SESSIONS": str(directory / ".sessions"),
        "CMREWARDS_PASSPHRASE_COST": "test",
    }


def run_shell(block: Block, session: Session) -> list[str]:
    steps = commands(block)
    script = [
        "set -euo pipefail",
        f"if [[ -f {session.variables} ]]; then . {session.variables}; fi",
    ]
    for number, command in enumerate(steps):
        script += [f"printf '\\n\\036{number}\\036\\n'", command.text]
    script.append(f"export -p | grep -E '^declare -x CMREWARDS_' > {session.variables} || true")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CMREWARDS_")}
    environment["PATH"] = f"{BIN}{os.pathsep}{environment['PATH']}"
    environment.update(signing_in(session.directory))
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=session.directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    pieces = re.split(r"\n\036(\d+)\036\n", "\n" + done.stdout)
    outputs = dict(zip(map(int, pieces[1::2]), pieces[2::2], strict=True))
    problems = []
    if done.returncode != 0:
        failed = steps[max(outputs, default=0)]
        problems.append(
            f"{block.document.name}:{failed.line}: `{failed.text}` failed"
            f" (exit {done.returncode}): {done.stderr.strip()}"
        )
    for number, command in enumerate(steps):
        printed = outputs.get(number)
        if problems or not command.expected or printed is None:
            continue
        if not matches(list(command.expected), printed):
            where = f"{block.document.name}:{command.line}"
            problems.append(mismatch(where, f"`{command.text}`", list(command.expected), printed))
    return problems


# --- python --------------------------------------------------------------------------------


def run_python(block: Block, session: Session) -> list[str]:
    expected = [m.group(1) for line in block.text.splitlines() if (m := EXPECTED.search(line))]
    printed = io.StringIO()
    try:
        code = compile(block.text, block.where, "exec")
        with contextlib.chdir(session.directory), contextlib.redirect_stdout(printed):
            exec(code, session.namespace)
    except Exception:
        return [f"{block.where}: the block raised\n{traceback.format_exc(limit=-3)}"]
    if expected and not matches(expected, printed.getvalue()):
        return [mismatch(block.where, "the block", expected, printed.getvalue())]
    return []


# --- files that are read, not run ------------------------------------------------------------


def check_toml(block: Block, session: Session) -> list[str]:
    try:
        data = tomllib.loads(block.text)
        if "columns" in data or "identity" in data:
            cmrewards.lab_map_from_dict(data, block.where)
        elif "id" in data:
            cmrewards.program_from_dict(data, block.where)
        elif "targets" in data:  # a fragment: the targets of some program
            cmrewards.program_from_dict(
                {"id": "fragment", "name": "a fragment", **data}, block.where
            )
        else:
            return [f"{block.where}: a toml block that is no program, fragment or mapping file"]
    except (tomllib.TOMLDecodeError, cmrewards.CMRewardsError) as error:
        return [f"{block.where}: {error}"]
    return []


def check_file_map(block: Block, session: Session) -> list[str]:
    """Every file or folder a map of the files names exists, under the folder it is in."""
    lines = block.text.splitlines()
    if not lines or not lines[0].rstrip().endswith("/"):
        return [f"{block.where}: a block without a language that is no map of the files"]
    paths = list(mapped(lines))
    if len(paths) < 10:
        return [f"{block.where}: the map names only {paths}: is it read as intended?"]
    return [
        f"{block.where}: the map names {path}, which does not exist"
        for path in paths
        if not (ROOT / path).exists()
    ]


PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)*(?:\.\w+|/)")


def mapped(lines: list[str]) -> Iterator[str]:
    """The paths a map names, from the repository's root. A line starts with the names of
    files (``bowl.py caps.py``, siblings) or of a folder and what it holds (``tests/
    domain/ store/``), then says what they are; indentation nests lines in folders."""
    folders: list[tuple[int, str]] = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        names = []
        for token in line.split():
            if not PATH.fullmatch(token):
                break
            names.append(token)
        if not names:
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = "".join(name for _, name in folders)
        if names[0].endswith("/"):
            yield parent + names[0]
            yield from (parent + names[0] + name for name in names[1:])
            folders.append((indent, names[0]))
        else:
            yield from (parent + name for name in names)
