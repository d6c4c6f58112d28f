"""Every CLI command is documented (help text, README.md); every design citation resolves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cmrewards.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand under ``group``, as ("staff add", command)."""
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        yield " ".join(here), command
        if isinstance(command, click.Group):
            yield from walk(command, here)


COMMANDS = list(walk(cli))
NAMES = [name for name, _ in COMMANDS]


def test_the_walk_finds_the_commands_of_design_section_7() -> None:
    for name in ("init", "staff add", "staff list", "program show", "record", "verify", "demo"):
        assert name in NAMES


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=NAMES)
def test_every_command_has_help_text(name: str, command: click.Command) -> None:
    text = (command.help or command.short_help or "").strip()
    assert text != "", f"'cmrewards {name}' has no help text"


@pytest.mark.parametrize("name", NAMES)
def test_every_command_appears_in_the_readme(name: str) -> None:
    readme = README.read_text(encoding="utf-8")
    mentions = [f"cmrewards {name}"] if " " not in name else [f"cmrewards {name}", name]
    assert any(mention in readme for mention in mentions), f"README.md never mentions {name!r}"


def test_help_lists_every_top_level_command() -> None:
    result = CliRunner().invoke(cli, ["--help"], prog_name="cmrewards")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage: cmrewards ")
    listed = result.stdout.split("\nCommands:\n", 1)[1]
    names = {line.split()[0] for line in listed.splitlines() if line.startswith("  ")}
    assert names == set(cli.commands)


@pytest.mark.parametrize(
    "name", [name for name, command in COMMANDS if isinstance(command, click.Group)]
)
def test_group_help_lists_its_subcommands(name: str) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"], prog_name="cmrewards")
    assert result.exit_code == 0, result.stderr
    group: click.Group = cli
    for part in name.split():
        found = group.commands[part]
        assert isinstance(found, click.Group)
        group = found
    listed = result.stdout.split("\nCommands:\n", 1)[1]
    names = {line.split()[0] for line in listed.splitlines() if line.startswith("  ")}
    assert names == set(group.commands)


ROOT = README.parent
DESIGN = ROOT / "docs" / "design.md"
CITATION = re.compile(
    r"docs/design\.md(?:'s)?,? (?:sections? )?(\d+(?:\.\d+)?(?:(?:-|, | and )\d+(?:\.\d+)?)*)"
)
"""``docs/design.md section 3.1``, ``... sections 2-4 and 7``, ``docs/design.md 3.4:``."""


def cited_sections() -> Iterator[tuple[str, str]]:
    """(file, section) for every citation of the design in the code and the tests."""
    for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]):
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            for part in re.split(r", | and ", match.group(1)):
                first, _, last = part.partition("-")
                numbers = range(int(first), int(last) + 1) if last else [first]
                yield from ((path.name, str(n)) for n in numbers)


def test_every_design_citation_names_a_section_of_docs_design_md() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.MULTILINE))
    cited = list(cited_sections())
    assert len(cited) > 30
    missing = sorted({(name, section) for name, section in cited if section not in sections})
    assert not missing, f"citations of sections docs/design.md lacks: {missing}"


def test_no_comment_cites_the_design_contract_outside_the_repository() -> None:
    stale = [
        path.name
        for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])
        if re.search(r"(?<!docs/)DESIGN\.md", path.read_text(encoding="utf-8"))
    ]
    assert not stale
