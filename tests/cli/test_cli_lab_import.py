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


def ctn_clinic(path: Path, staff: str, participants: tuple[str, ...], start: str) -> Path:
    """A database at ``path`` with the CTN-0094 program, ``staff`` ("ID ROLE") beside
    admin-1, and ``participants`` enrolled from ``start``."""
    program = EXAMPLES / "ctn0094-program.toml"
    for command in (
        "init --admin admin-1 --no-sign-in",
        f"staff add {staff.split()[0]} --role {staff.split()[1]} --actor admin-1",
        f"program add --file {shlex.quote(str(program))} --actor admin-1",
        *(f"enroll {p} --program ctn-stimulant --start {start} --actor admin-1"
          for p in participants),
    ):  # fmt: skip
        result = run(path, *shlex.split(command))
        assert result.exit_code == 0, result.stderr
    return path


def lab_export(folder: Path, *rows: str) -> Path:
    """``folder``/lab.csv: the CTN-0094 mapping's export header, then ``rows``."""
    lab = folder / "lab.csv"
    lab.write_text(
        "\n".join(["Specimen ID,Patient ID,Collected,Analyte,Result", *rows]) + "\n",
        encoding="utf-8",
    )
    return lab


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return ctn_clinic(tmp_path / "clinic.db", "rec-01 recorder", ("CTN-00010",), "2026-01-05")


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
    lab = lab_export(
        tmp_path,
        "S1,CTN-00010,01/24/2026 10:00,Cocaine,NEG",
        "S1,CTN-00010,24.01.2026 10:00,Amphetamine,NEG",
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


def test_a_refusal_for_an_unknown_participant_names_the_nearest_one(
    db: Path, tmp_path: Path
) -> None:
    """Newcomer finding (session 6): the lab refusal said "no participant 'CTN-00O10'"
    without the "did you mean" every other refusal of a mistyped id gives."""
    lab = lab_export(
        tmp_path,
        "S1,CTN-00O10,01/24/2026 10:00,Cocaine,NEG",
        "S2,ZZ-1,01/24/2026 10:00,Cocaine,NEG",
    )
    result = run(db, "import", str(lab), "--map", str(MAP), "--actor", "rec-01", json_output=False)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[:2] == [
        "cmrewards: refused line 2: no participant 'CTN-00O10'; did you mean CTN-00010?",
        "cmrewards: refused line 3: no participant 'ZZ-1'",
    ]


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


# --- a nightly file: each specimen its own unit -------------------------------------------

NIGHTLY_MAP = """time_format = "%Y-%m-%d %H:%M"
[columns]
participant = "MRN"
specimen = "Accession"
collected = "Collected"
analyte = "Test"
result = "Result"
[results]
"NOT DETECTED" = "negative"
"DETECTED" = "positive"
[analytes]
"COC" = "cocaine"
"AMP" = "amphetamine"
"""
NIGHTLY = "Accession,MRN,Collected,Test,Result\n"


@pytest.fixture
def nightly(tmp_path: Path) -> Path:
    """A database with the two-analyte program, a lab-feed account and P-6001, P-6002."""
    return nightly_clinic(tmp_path / "nightly.db")


def nightly_clinic(path: Path) -> Path:
    return ctn_clinic(path, "lab-1 lab-feed", ("P-6001", "P-6002"), "2026-03-02")


def import_nightly(db: Path, lab: Path, mapping: Path) -> Result:
    return run(db, "import", str(lab), "--map", str(mapping), "--actor", "lab-1", json_output=False)


# P-6001's A2 (03-11) is complete on line 2, before A1 (03-04); P-6002's A3 says "MAYBE".
RIGHT = [
    "A2,P-6001,2026-03-11 09:00,AMP,NOT DETECTED",
    "A1,P-6001,2026-03-04 09:00,COC,NOT DETECTED",
    "A3,P-6002,2026-03-04 09:00,COC,NOT DETECTED",
    "A1,P-6001,2026-03-04 09:00,AMP,NOT DETECTED",
    "A2,P-6001,2026-03-11 09:00,COC,NOT DETECTED",
    "A3,P-6002,2026-03-04 09:00,AMP,NOT DETECTED",
    "A4,P-6002,2026-03-11 09:00,COC,NOT DETECTED",
    "A4,P-6002,2026-03-11 09:00,AMP,NOT DETECTED",
]


def test_a_refused_specimen_is_listed_the_rest_applied_and_the_fixed_file_pays_in_full(
    nightly: Path, tmp_path: Path
) -> None:
    mapping = tmp_path / "lab.toml"
    mapping.write_text(NIGHTLY_MAP, encoding="utf-8")
    lab = tmp_path / "export.csv"
    wrong = [row.replace(",COC,NOT DETECTED", ",COC,MAYBE") if row.startswith("A3") else row
             for row in RIGHT]  # fmt: skip
    lab.write_text(NIGHTLY + "\n".join(wrong) + "\n", encoding="utf-8")
    first = import_nightly(nightly, lab, mapping)
    assert first.exit_code == 2
    assert first.stdout == (
        "specimens: 3 applied, 0 already applied, 1 refused, 0 not in CM (skipped);"
        " 6 analyte results stored, 0 already stored; 3 outcomes recorded,"
        " 0 specimens pending\n"
    )
    assert first.stderr == (
        f"cmrewards: refused line 4: Result 'MAYBE' is not a known result; map it in [results]"
        f" of {mapping}\n"
        "cmrewards: 1 specimen refused, nothing of it written; fix and import again\n"
    )
    balances = {p: json.loads(run(nightly, "balance", p).stdout)["points"] for p in ("P-6001",)}
    assert balances == {"P-6001": 10 + 15}  # A2 was paid though its lines came first
    lab.write_text(NIGHTLY + "\n".join(RIGHT) + "\n", encoding="utf-8")
    fixed = import_nightly(nightly, lab, mapping)
    assert fixed.exit_code == 0, fixed.stderr
    assert fixed.stdout.startswith("specimens: 1 applied, 3 already applied, 0 refused,")
    clean = nightly_clinic(tmp_path / "clean.db")
    assert import_nightly(clean, lab, mapping).exit_code == 0

    def money(db: Path) -> dict[str, int]:
        return {p: json.loads(run(db, "balance", p).stdout)["points"] for p in ("P-6001", "P-6002")}

    assert money(nightly) == money(clean) == {"P-6001": 25, "P-6002": 25}


def test_patients_outside_cm_are_counted_and_never_printed(nightly: Path, tmp_path: Path) -> None:
    (tmp_path / "ids.csv").write_text("identifier,participant\nMRN-1,P-6001\n", encoding="utf-8")
    mapping = tmp_path / "lab.toml"
    mapping.write_text(NIGHTLY_MAP + '[identity]\nids = "ids.csv"\n', encoding="utf-8")
    lab = tmp_path / "export.csv"
    lab.write_text(
        NIGHTLY
        + "A1,MRN-1,2026-03-04 09:00,COC,NOT DETECTED\n"
        + "Z1,MRN-55501,2026-03-04 09:00,COC,NOT DETECTED\n"
        + "Z1,MRN-55501,2026-03-04 09:00,XYZ,??\n"
        + "A1,MRN-1,2026-03-04 09:00,AMP,NOT DETECTED\n",
        encoding="utf-8",
    )
    for json_output in (False, True):
        result = run(nightly, "import", str(lab), "--map", str(mapping), "--actor", "lab-1",
                     json_output=json_output)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert "55501" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["not_in_cm"] == 1
    assert json.loads(run(nightly, "balance", "P-6001").stdout)["points"] == 10
