"""Every CLI command is documented (help text, README.md); every design citation resolves;
every code block of README.md and docs/*.md runs with its printed output checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cmrewards.cli import cli
from support import doc_blocks

README = Path(__file__).resolve().parents[2] / "README.md"


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand under ``group``, as ("staff add", command)."""
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        yield " ".join(here), command
        if isinstance(command, click.Group):
            yield from walk(command, here)


cli.load_every_command()  # the command line imports each module on first use
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


def readme_command_rows() -> Iterator[tuple[str, str, list[str]]]:
    """(usage, command name, options) for each row of README.md's Commands table: the row
    ``cmrewards sign-in log [--staff ID] [--csv]`` gives ("sign-in log", ["--staff", "--csv"])."""
    for usage in re.findall(r"^\| `cmrewards ([^`]+)` \|", README.read_text("utf-8"), re.M):
        words = usage.split()
        name = next(
            " ".join(words[:n]) for n in range(len(words), 0, -1) if " ".join(words[:n]) in NAMES
        )
        yield usage, name, re.findall(r"--[a-z][a-z-]*", usage)


def test_every_option_of_the_readme_commands_table_exists() -> None:
    """Newcomer finding (session 6): the table listed ``sign-in log --csv``, which did not exist."""
    commands = dict(COMMANDS)
    rows = list(readme_command_rows())
    assert len(rows) >= 40
    unknown = []
    for usage, name, options in rows:
        known = {opt for p in commands[name].params for opt in (*p.opts, *p.secondary_opts)}
        known |= {opt for p in cli.params for opt in (*p.opts, *p.secondary_opts)}
        unknown += [f"cmrewards {usage}: {option}" for option in options if option not in known]
    assert unknown == []


def test_import_help_names_every_format_it_reads() -> None:
    """Newcomer finding 12: ``import --help`` never said it reads FHIR."""
    result = CliRunner().invoke(cli, ["import", "--help"], prog_name="cmrewards")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())
    for kind in ("CSV of outcomes", "lab export", "HL7 v2", "FHIR R4"):
        assert kind in said, kind


def test_readme_lists_every_error_the_library_raises() -> None:
    """Newcomer finding 12: the README's list of errors left out ``CapExceeded``."""
    import cmrewards.errors as errors

    readme = README.read_text(encoding="utf-8")
    raised = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.CMRewardsError)
    ]
    assert len(raised) > 10
    assert [name for name in raised if f"{name}`" not in readme] == []


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


NAMED = re.compile(r'(README|docs/decisions\.md)(?:\.md)?(?: says)?,? \(?(?:section )?"([^"]+)"')
"""``README, "Who is at the keyboard"``, ``docs/decisions.md, "Episodes"``: a part named by
its title (``"Ledger: Reversal"`` is an entry of a section)."""


def named_parts() -> Iterator[tuple[str, str, str]]:
    """(file, document, name) for every part of README.md or docs/decisions.md named by its
    title in the code, the tests or the documents themselves."""
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    files += [README, *(ROOT / "docs").glob("*.md")]
    for path in sorted(files):
        for match in NAMED.finditer(path.read_text(encoding="utf-8")):
            document = "README.md" if match.group(1) == "README" else match.group(1)
            name = " ".join(match.group(2).replace("#", " ").split())  # wrapped over lines
            yield path.name, document, name


def titles(document: str) -> list[str]:
    """A document's headings and its bold entries (``- **Reversals stay outside**``)."""
    text = (ROOT / document).read_text(encoding="utf-8")
    headings = re.findall(r"^#{1,4} (.+)$", text, re.MULTILINE)
    return [*headings, *re.findall(r"\*\*([^*]+)\*\*", text)]


def names_a_part(name: str, document: str) -> bool:
    """A heading or bold entry starts with the name (``"Backups"`` names "Backups and the
    restore drill"); ``"Section: Entry"`` names an entry under a heading."""
    known = [title.lower().lstrip("`") for title in titles(document)]
    parts = [part.strip().lower() for part in name.split(":")]
    return all(any(title.startswith(part) for title in known) for part in parts)


def test_every_readme_or_decisions_part_named_by_its_title_exists() -> None:
    """Newcomer finding 12: ``help(cmrewards.Clinic)`` sent readers to a README section
    ("Embedding in a web server") that does not exist."""
    named = list(named_parts())
    assert len(named) > 20
    missing = sorted({n for n in named if not names_a_part(n[2], n[1])})
    assert not missing, f"parts named by a title no heading or entry has: {missing}"


def test_a_missing_title_is_found() -> None:
    assert names_a_part("Who is at the keyboard", "README.md")
    assert names_a_part("Backups", "README.md")
    assert not names_a_part("Embedding in a web server", "README.md")
    assert not names_a_part("Episodes: no such entry", "docs/decisions.md")


def test_no_comment_cites_the_design_contract_outside_the_repository() -> None:
    stale = [
        path.name
        for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])
        if re.search(r"(?<!docs/)DESIGN\.md", path.read_text(encoding="utf-8"))
    ]
    assert not stale


# --- every code block of the README and docs/ runs, its printed output checked ---------------

BLOCKS = doc_blocks.all_blocks()
SESSIONS: dict[str, list[doc_blocks.Block]] = {}
for _block in BLOCKS:
    if not (_block.marker and _block.marker[0] == "not run"):
        SESSIONS.setdefault(_block.session, []).append(_block)


@pytest.mark.parametrize("session", list(SESSIONS))
def test_every_code_block_runs_as_the_document_shows(session: str, tmp_path: Path) -> None:
    """The blocks of one section, in order, in one folder (support/doc_blocks.py)."""
    reader = doc_blocks.new_session(tmp_path / "reader")
    try:
        problems = [p for block in SESSIONS[session] for p in doc_blocks.run(block, reader)]
    finally:
        reader.close()
    assert not problems, "\n\n".join(problems)


def test_the_documents_show_output_to_check() -> None:
    """Not a suite of blocks that merely run: the quickstarts' outputs are compared."""
    shown = [b for b in BLOCKS if "#>" in b.text]
    assert len(shown) >= 5
    sessions = {b.session for b in shown}
    assert {"README.md: Python quickstart", "README.md: CLI quickstart"} <= sessions


def test_blocks_that_do_not_run_are_rare_and_say_why() -> None:
    skipped = [b for b in BLOCKS if b.marker and b.marker[0] == "not run"]
    assert len(BLOCKS) >= 10
    assert len(skipped) <= len(BLOCKS) // 6, [b.where for b in skipped]
    for block in skipped:
        assert len(block.marker[1]) >= 20, f"{block.where}: say why it cannot run"  # type: ignore[index]


def test_a_continued_session_names_a_section_of_its_document() -> None:
    for block in BLOCKS:
        if block.marker and block.marker[0] == "continues":
            sections = {b.section for b in doc_blocks.blocks(block.document)}
            assert block.marker[1] in sections, block.where


def test_the_runner_fails_a_block_whose_output_differs(tmp_path: Path) -> None:
    """The runner itself: a wrong output, a failing command and a raising block all fail;
    an ellipsis matches what varies."""
    document = tmp_path / "doc.md"
    document.write_text(
        "## One\n\n```sh\nexport CMREWARDS_DB=x.db\necho 'balance 10 points ($2.50)'\n"
        "#> balance 10 points ($2.50)\necho 'at 15:30 today'\n#> at ... today\n```\n\n"
        "```sh\necho $CMREWARDS_DB\n#> x.db\necho 'two'\n#> three\n```\n\n"
        "```sh\nfalse\necho never\n```\n\n"
        "```python\nx = 6 * 7\nprint(x)  #> 42\n```\n\n"
        "```python\nprint(x + 1)  #> 42\n```\n\n```python\nraise ValueError('no')\n```\n",
        encoding="utf-8",
    )
    found = doc_blocks.blocks(document)
    reader = doc_blocks.new_session(tmp_path / "reader")
    outcomes = [doc_blocks.run(block, reader) for block in found]
    assert outcomes[0] == []  # the exact line and the ellipsis both match
    (wrong,) = outcomes[1]  # the variable carried over; 'two' is not 'three'
    assert "doc.md:14: `echo 'two'` printed\ntwo" in wrong
    (failed,) = outcomes[2]
    assert "doc.md:19: `false` failed" in failed
    assert outcomes[3] == []
    assert "the block printed\n43" in outcomes[4][0]
    assert "ValueError: no" in outcomes[5][0]
