"""``cmrewards results P``: a participant's analyte results as they stand, preliminary ones
shown (not paid), and ``balance`` saying which specimens await their final results."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from support.cli import assert_error, ctn_clinic, invoke, ok, text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HL7 = ROOT / "tests" / "fixtures" / "hl7"
MAP = EXAMPLES / "hl7-map.toml"
HEADER = ["specimen", "collected", "analyte", "result", "status", "reports"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return ctn_clinic(tmp_path / "clinic.db", "P-1001")


@pytest.fixture
def messages(tmp_path: Path) -> tuple[Path, Path]:
    """The sample's preliminary message and its correction, as two files."""
    whole = (HL7 / "preliminary_then_corrected.hl7").read_text(encoding="utf-8")
    second = whole.index("MSH", 3)
    preliminary, corrected = tmp_path / "preliminary.hl7", tmp_path / "corrected.hl7"
    preliminary.write_text(whole[:second], encoding="utf-8")
    corrected.write_text(whole[second:], encoding="utf-8")
    return preliminary, corrected


def rows(db: Path) -> list[list[str]]:
    """The table as a person reads it, split into its columns."""
    return [line.split() for line in text(db, "results P-1001").splitlines()]


def test_no_results_yet_says_so_and_an_unknown_participant_is_one_line(db: Path) -> None:
    assert text(db, "results P-1001") == "P-1001 has no analyte results yet\n"
    assert ok(db, "results P-1001") == []
    assert "P-9999" in assert_error(invoke(db, "results P-9999"), 1)["message"]


def test_a_preliminary_result_is_shown_and_the_balance_says_it_awaits_the_final(
    db: Path, messages: tuple[Path, Path]
) -> None:
    preliminary, _ = messages
    ok(db, f"import {preliminary} --map {MAP} --actor feed-01")
    table = rows(db)
    assert table[0] == HEADER
    # Collected 09:20 -06:00 (the lab's offset): 10:20 in the program's New York zone.
    assert table[1] == [
        "ACC-1001-02", "2026-03-05", "10:20", "EST", "amphetamine", "negative", "preliminary", "1"
    ]  # fmt: skip
    assert len(table) == 1 + 9
    assert {r[6] for r in table[1:]} == {"preliminary"}
    assert next(r[5] for r in table if r[4] == "cocaine") == "positive"
    # Shown but not paid.
    said = text(db, "balance P-1001")
    assert (
        said == "P-1001: 0 points ($0.00), 0 available; no cap; 1 specimen awaiting final results\n"
    )
    assert ok(db, "balance P-1001")["awaiting_final"] == ["ACC-1001-02"]


def test_the_correction_replaces_it_and_the_specimen_no_longer_waits(
    db: Path, messages: tuple[Path, Path]
) -> None:
    for file in messages:
        ok(db, f"import {file} --map {MAP} --actor feed-01")
    shown = ok(db, "results P-1001")
    cocaine = next(r for r in shown if r["analyte"] == "cocaine")
    assert (cocaine["result"], cocaine["reports"]) == ("negative", 2)
    assert cocaine["status"] != "preliminary"
    assert {r["status"] for r in shown} & {"preliminary"} == set()
    assert "awaiting" not in text(db, "balance P-1001")
    assert ok(db, "balance P-1001")["awaiting_final"] == []
    spreadsheet = list(csv.reader(io.StringIO(text(db, "results P-1001 --csv"))))
    assert spreadsheet[0] == HEADER
    assert spreadsheet[1][:2] == ["ACC-1001-02", "2026-03-05T10:20:00-05:00"]
    assert spreadsheet[1][5] == "2"


def test_a_result_entered_in_error_is_shown_withdrawn(db: Path) -> None:
    # A final 9-panel, then the lab's message taking every result of it back (W).
    ok(db, f"import {HL7 / 'entered_in_error.hl7'} --map {MAP} --actor feed-01")
    shown = ok(db, "results P-1001")
    assert {(r["specimen"], r["status"], r["reports"]) for r in shown} == {
        ("ACC-1001-03", "entered-in-error", 2)
    }
    # The value withdrawn is still shown beside its status.
    assert next(r for r in shown if r["analyte"] == "cocaine")["result"] == "negative"
    assert [r[6] for r in rows(db)[1:]] == ["entered-in-error"] * 9
    assert "awaiting" not in text(db, "balance P-1001")
