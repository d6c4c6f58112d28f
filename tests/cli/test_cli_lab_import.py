"""``cmrewards import FILE --map MAP.toml``: a lab's own export, through its mapping file."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cmrewards
from cmrewards.cli import cli
from support.cli import assert_error
from support.doc_blocks import signing_in

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SAMPLE = EXAMPLES / "ctn0094-sample.csv"
MAP = EXAMPLES / "ctn0094-map.toml"


def run(db: Path, *args: str, json_output: bool = True) -> Result:
    top = ["--db", str(db), *(["--json"] if json_output else [])]
    return CliRunner().invoke(cli, [*top, *args], prog_name="cmrewards")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.db"
    for args in (
        ["init", "--admin", "admin-1", "--no-sign-in"],
        ["staff", "add", "rec-01", "--role", "recorder", "--actor", "admin-1"],
        ["program", "add", "--file", str(EXAMPLES / "ctn0094-program.toml"), "--actor", "admin-1"],
        ["enroll", "CTN-00010", "--program", "ctn-stimulant", "--start", "2026-01-05",
         "--actor", "admin-1"],
    ):  # fmt: skip
        result = run(path, *args)
        assert result.exit_code == 0, result.stderr
    return path


def test_import_with_a_map_decides_each_specimen_and_a_rerun_writes_nothing(db: Path) -> None:
    first = run(db, "import", str(SAMPLE), "--map", str(MAP), "--actor", "rec-01")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["stored"], report["specimens"], report["outcomes"]) == (14, 2, 2)
    again = run(
        db, "import", str(SAMPLE), "--map", str(MAP), "--actor", "rec-01", json_output=False
    )
    assert again.exit_code == 0, again.stderr
    assert again.stdout == (
        "specimens: 0 applied, 2 already applied, 0 refused, 0 not in CM (skipped);"
        " 0 analyte results stored, 14 already stored; 0 outcomes recorded,"
        " 0 specimens pending\n"
    )
    balance = json.loads(run(db, "balance", "CTN-00010").stdout)
    assert balance["points"] == 10


def test_a_bad_row_refuses_its_specimen_with_its_line(db: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab.csv"
    lab.write_text(
        "Specimen ID,Patient ID,Collected,Analyte,Result\n"
        "S1,CTN-00010,01/24/2026 10:00,Cocaine,NEG\n"
        "S1,CTN-00010,24.01.2026 10:00,Amphetamine,NEG\n",
        encoding="utf-8",
    )
    result = run(db, "import", str(lab), "--map", str(MAP), "--actor", "rec-01", json_output=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "cmrewards: refused line 3: Collected '24.01.2026 10:00' does not match"
        " the time format '%m/%d/%Y %H:%M'\n"
        "cmrewards: 1 specimen refused, nothing of it written; fix and import again\n"
    )
    # S1's good row (line 2) is not stored either: the specimen is one unit.
    assert json.loads(run(db, "results", "CTN-00010").stdout) == []


def test_a_missing_column_and_a_bad_mapping_are_one_line_errors(db: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab.csv"
    lab.write_text("Specimen,Patient ID,Collected,Analyte,Result\n", encoding="utf-8")
    error = assert_error(run(db, "import", str(lab), "--map", str(MAP), "--actor", "rec-01"), 2)
    assert error["message"].startswith(f"{lab} line 1: no column 'Specimen ID'")
    bad_map = tmp_path / "map.toml"
    bad_map.write_text('[columns]\nparticipant = "Patient ID"\n', encoding="utf-8")
    error = assert_error(run(db, "import", str(lab), "--map", str(bad_map), "--actor", "rec-01"), 2)
    assert (
        error["message"] == f"{bad_map}: columns.specimen: is required (the header of that column)"
    )


README = EXAMPLES.parent / "README.md"
SECTION = "## Specimens, panels and mapping files"


def readme_blocks(language: str) -> list[str]:
    """The ``language`` code blocks of the README's section on specimens."""
    section = README.read_text(encoding="utf-8").split(f"\n{SECTION}\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [part.split("\n```", 1)[0] for part in section.split(f"```{language}\n")[1:]]


def test_the_readme_s_mapped_import_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES.parent)
    for name, value in signing_in(tmp_path).items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "lab.db"
    block = readme_blocks("sh")[0]  # the second runs the whole export (Real data)
    commands = [
        line.split("  #")[0] for line in block.splitlines() if line.startswith("cmrewards ")
    ]
    assert len(commands) == 9
    outputs = []
    for command in commands:
        result = run(db, *shlex.split(command)[1:], json_output=False)
        assert result.exit_code == 0, (command, result.stderr)
        outputs.append(result.stdout)
    assert outputs[7] == (
        "specimens: 2 applied, 0 already applied, 0 refused, 0 not in CM (skipped);"
        " 14 analyte results stored, 0 already stored; 2 outcomes recorded,"
        " 0 specimens pending\n"
    )
    assert json.loads(run(db, "balance", "CTN-00010").stdout)["points"] == 10


def test_the_readme_s_mapping_file_is_the_shipped_one() -> None:
    target, mapping = readme_blocks("toml")
    shown = cmrewards.lab_map_from_dict(tomllib.loads(mapping), str(MAP))
    assert shown == cmrewards.load_lab_map(MAP)
    program = tomllib.loads(f'id = "p"\nname = "P"\n{target}')
    assert cmrewards.program_from_dict(program, "README").targets[0].analytes == (
        "cocaine",
        "amphetamine",
    )
