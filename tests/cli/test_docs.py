"""Every CLI command is documented: help text in the code, a mention in README.md."""

from __future__ import annotations

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
