"""``cmrewards import FILE.hl7 --map MAP.toml``: HL7 v2 messages, their format told from the
content, applied through the statuses; a bad message is one line and writes nothing."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from support.cli import assert_error, ctn_clinic, invoke, ok

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HL7 = ROOT / "tests" / "fixtures" / "hl7"
MAP = EXAMPLES / "hl7-map.toml"
RESULTS = EXAMPLES / "hl7-results.hl7"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return ctn_clinic(tmp_path / "clinic.db", "P-1001", "P-1002", "P-1003")


def snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as connection:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {t: connection.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}


def test_an_hl7_file_is_told_by_its_content_and_a_rerun_writes_nothing(db: Path) -> None:
    report = ok(db, f"import {RESULTS} --map {MAP} --actor feed-01")
    # Three messages of two specimens: a specimen reported again counts once.
    assert (report["messages"], report["specimens"], report["failed_at"]) == (3, 2, None)
    assert (report["applied"], report["replayed_units"], report["refused"]) == (3, 0, [])
    assert report["preliminary"] == 9
    assert report["outcomes"] >= 1
    before = snapshot(db)
    again = ok(db, f"import {RESULTS} --map {MAP} --actor feed-01")
    assert again["stored"] == 0
    assert again["replayed"] > 0
    assert (again["applied"], again["replayed_units"]) == (0, 3)
    assert snapshot(db) == before
    # The final 9-panel is met (10 points); the corrected result's specimen is met too,
    # an extra sample of the same week; the preliminary one paid nothing.
    assert ok(db, "balance P-1001")["points"] == 10


def test_the_summary_says_what_the_messages_did(db: Path) -> None:
    done = ok(
        db, f"import {HL7 / 'entered_in_error.hl7'} --map {MAP} --actor feed-01", json_output=False
    )
    # One specimen, reported twice; withdrawn, it waits for nothing: none pending.
    assert done == (
        "messages: 2 applied, 0 already applied, 0 refused; 1 specimen, 0 not in CM"
        " (skipped); 18 analyte results stored (0 preliminary), 0 already stored;"
        " 1 outcome recorded, 0 corrected, 1 voided, 0 specimens pending\n"
    )
    assert ok(db, "balance P-1001")["points"] == 0


def test_a_batch_file_applies_each_participant_s_message(db: Path) -> None:
    report = ok(db, f"import {HL7 / 'batch.hl7'} --map {MAP} --actor feed-01")
    assert (report["messages"], report["specimens"], report["outcomes"]) == (3, 3, 3)
    # P-1002's specimen is cocaine-positive: not_met, no points; the others are met.
    points = {p: ok(db, f"balance {p}")["points"] for p in ("P-1001", "P-1002", "P-1003")}
    assert points["P-1002"] == 0
    assert points["P-1001"] == points["P-1003"] > 0


def test_hl7_without_a_mapping_is_a_usage_error(db: Path) -> None:
    error = assert_error(invoke(db, f"import {RESULTS} --actor feed-01"), 2)
    assert error["message"] == (
        f"{RESULTS} holds HL7 messages: give --map MAP.toml, whose [identity] says which"
        " identifier is the participant (see 'cmrewards import --help')"
    )


def test_a_csv_mapping_cannot_read_hl7(db: Path) -> None:
    csv_map = EXAMPLES / "ctn0094-map.toml"
    error = assert_error(invoke(db, f"import {RESULTS} --map {csv_map} --actor feed-01"), 2)
    assert error["message"] == (
        f"the mapping {csv_map} has no [identity] assigning_authority: it must say which"
        " PID-3 identifier is the participant"
    )


def test_a_bad_message_is_refused_in_one_line_and_writes_nothing(db: Path, tmp_path: Path) -> None:
    text = (HL7 / "nine_panel_final.hl7").read_bytes().decode()
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(text.replace("19359-9^Cocaine", "ZZ-9^Cocaine").encode())
    before = snapshot(db)
    result = invoke(db, f"import {bad} --map {MAP} --actor feed-01", json_output=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "cmrewards: refused line 9: OBX-3 'ZZ-9' is not a known analyte or LOINC"
        f" code; map it in [analytes] of {MAP}\n"
        "cmrewards: 1 message refused, nothing of it written; fix and import again\n"
    )
    assert snapshot(db) == before


def test_a_message_for_an_unknown_participant_is_refused_and_the_rest_applied(
    db: Path, tmp_path: Path
) -> None:
    """Its lab id carries the CM assigning authority, so it is not a patient outside CM: it
    is refused (exit non-zero), the message after it applied; the fixed file's rerun
    replays that one and applies the refused one."""
    good = (HL7 / "nine_panel_final.hl7").read_bytes().decode()
    dilute = (HL7 / "dilute.hl7").read_bytes().decode()
    mixed = tmp_path / "mixed.hl7"
    mixed.write_bytes((dilute.replace("P-1001^", "P-9999^") + good).encode())
    result = invoke(db, f"import {mixed} --map {MAP} --actor feed-01")
    assert result.exit_code != 0
    report = json.loads(result.stdout)
    assert (report["applied"], report["failed_at"], report["stored"]) == (1, "line 1", 9)
    assert [r["at"] for r in report["refused"]] == ["line 1"]
    assert "P-9999" in report["error"]
    mixed.write_bytes((dilute + good).encode())
    again = ok(db, f"import {mixed} --map {MAP} --actor feed-01")
    assert (again["applied"], again["replayed_units"], again["refused"]) == (1, 1, [])


def test_a_recorder_s_file_may_not_withdraw_a_decided_result(db: Path) -> None:
    """The file's first message (a final) is the recorder's to import; its second withdraws
    that decided result, which only an admin or a lab-feed account may apply: the import
    is refused in one line (exit 1), the first message stays, nothing of the second is
    written, and the lab-feed account's rerun applies it."""
    sample = HL7 / "entered_in_error.hl7"
    result = invoke(db, f"import {sample} --map {MAP} --actor rec-01", json_output=False)
    assert result.exit_code == 1
    message, summary = result.stderr.splitlines()
    assert re.fullmatch(
        r"cmrewards: refused line 15: specimen ACC-1001-03 amphetamine: this"
        r" entered-in-error report changes a decided result, and 'rec-01' is a recorder;"
        r" only an admin or a lab-feed account may apply a lab's change; nothing of it was"
        r" written",
        message,
    ), message
    assert summary == (
        "cmrewards: 1 message refused, nothing of it written;"
        " import it again as an admin or a lab-feed account"
    )
    assert result.stdout.startswith("messages: 1 applied, 0 already applied, 1 refused;")
    assert ok(db, "balance P-1001")["points"] == 10
    before = snapshot(db)
    assert invoke(db, f"import {sample} --map {MAP} --actor rec-01").exit_code == 1
    assert snapshot(db) == before
    done = ok(db, f"import {sample} --map {MAP} --actor feed-01")
    assert (done["applied"], done["replayed_units"], done["voided"]) == (1, 1, 1)
    assert done["failed_at"] is None
    assert ok(db, "balance P-1001")["points"] == 0


def test_the_help_names_the_formats(db: Path) -> None:
    result = invoke(db, "import --help", json_output=False)
    assert "HL7 v2" in result.stdout
    assert "FILE" in result.stdout
    said = " ".join(result.stdout.split())
    assert "goes on past a unit it refuses" in said
    assert "exits non-zero" in said


def test_report_help_says_what_is_as_of_now(db: Path) -> None:
    said = " ".join(invoke(db, "report --help", json_output=False).stdout.split())
    assert "is as of now" in said
    assert "results, awards, adjustments and prizes are the range's" in said


FHIR = ROOT / "tests" / "fixtures" / "fhir"


def test_a_fhir_export_is_told_by_its_content_and_gives_the_hl7_record(
    db: Path, tmp_path: Path
) -> None:
    """The same results as NDJSON (tests/fixtures/fhir) and as HL7 v2 (tests/fixtures/hl7),
    each imported by `cmrewards import`, leave the same balances; a rerun writes nothing."""
    report = ok(
        db, f"import {FHIR / 'results.ndjson'} --map {FHIR / 'ehr-map.toml'} --actor feed-01"
    )
    assert report["failed_at"] is None
    assert report["messages"] > 0
    before = snapshot(db)
    again = ok(
        db, f"import {FHIR / 'results.ndjson'} --map {FHIR / 'ehr-map.toml'} --actor feed-01"
    )
    assert again["stored"] == 0
    assert snapshot(db) == before

    other = ctn_clinic(tmp_path / "hl7.db", "P-1001", "P-1002", "P-1003")
    for sample in sorted(HL7.glob("*.hl7")):
        if "batch" not in sample.name:
            ok(other, f"import {sample} --map {HL7 / 'lab.toml'} --actor feed-01")
    for participant in ("P-1001", "P-1002", "P-1003"):
        assert ok(db, f"balance {participant}") == ok(other, f"balance {participant}")


def test_fhir_without_a_mapping_is_a_usage_error(db: Path) -> None:
    assert_error(invoke(db, f"import {FHIR / 'results.ndjson'} --actor feed-01"), 2)


def test_a_file_refused_for_permission_and_for_a_fault_says_both(db: Path, tmp_path: Path) -> None:
    """One message not permitted (a recorder withdrawing a decided result) and one that
    cannot be read: the closing line says to fix the file and to import the one not
    permitted as an admin or a lab-feed account."""
    bad = (HL7 / "nine_panel_final.hl7").read_bytes().decode()
    bad = bad.replace("19359-9^Cocaine", "ZZ-9^Cocaine")
    both = tmp_path / "both.hl7"
    both.write_bytes((HL7 / "entered_in_error.hl7").read_bytes() + bad.encode())
    result = invoke(db, f"import {both} --map {MAP} --actor rec-01", json_output=False)
    assert result.exit_code != 0
    assert result.stderr.splitlines()[-1] == (
        "cmrewards: 2 messages refused, nothing of them written; fix and import again,"
        " as an admin or a lab-feed account for the 1 message not permitted"
    )
