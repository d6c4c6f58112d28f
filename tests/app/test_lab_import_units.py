"""A lab file's units, one by one: each specimen (lab export) or message (HL7, FHIR) is its
own unit of work. A refused one is listed with its line and writes nothing, the rest go
on; patients the mapping's ``[identity]`` does not name are counted as not in CM; a rerun
of the fixed file pays exactly what the right file pays. On every store."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import attrs
import pytest

import cmrewards
from cmrewards import Clinic, LabImportReport, LabMap
from support.clinics import FakeClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HL7 = Path(__file__).resolve().parents[1] / "fixtures" / "hl7"
HEADER = "Specimen ID,Patient ID,Collected,Analyte,Result\n"
PROGRAM = cmrewards.load_program_file(EXAMPLES / "ctn0094-program.toml")


@pytest.fixture
def lab_map() -> LabMap:
    return cmrewards.load_lab_map(EXAMPLES / "ctn0094-map.toml")


def set_up(clinic: Clinic) -> Clinic:
    """The CTN stimulant program, a lab-feed account and P1, P2 enrolled."""
    clinic.add_staff("feed-1", "lab-feed", actor="admin-1")
    clinic.add_program(PROGRAM, actor="admin-1")
    for participant in ("P1", "P2"):
        clinic.enroll(participant, PROGRAM.id, start=dt.date(2026, 1, 5), actor="admin-1")
    return clinic


@pytest.fixture
def panel(any_clinic: Clinic) -> Clinic:
    return set_up(any_clinic)


def run(clinic: Clinic, lab_map: LabMap, *rows: str) -> LabImportReport:
    text = HEADER + "".join(f"{row}\n" for row in rows)
    read = cmrewards.read_lab_file(io.StringIO(text), lab_map, "lab.csv")
    return clinic.import_lab_results(read, actor="feed-1", chunk_size=3)


def money(clinic: Clinic) -> dict[str, int]:
    return {p: clinic.balance(p).points for p in ("P1", "P2")}


def lines(clinic: Clinic, participant: str) -> list[tuple[object, ...]]:
    """The statement as the participant reads it (ids differ between clinics)."""
    return [
        (line.occurred_at, line.outcome, line.points, line.streak, line.cumulative_cents)
        for line in clinic.statement(participant).lines
    ]


# Line 2 completes P1's second specimen (S2, 01/14) before its first (S1, 01/07) in the
# file; P2's S3 (line 4) has a result word the mapping does not know.
RIGHT = (
    "S2,P1,01/14/2026 10:00,Cocaine,NEG",
    "S1,P1,01/07/2026 10:00,Cocaine,NEG",
    "S3,P2,01/07/2026 10:00,Cocaine,NEG",
    "S1,P1,01/07/2026 10:00,Amphetamine,NEG",
    "S2,P1,01/14/2026 10:00,Amphetamine,NEG",
    "S3,P2,01/07/2026 10:00,Amphetamine,NEG",
    "S4,P2,01/14/2026 10:00,Cocaine,NEG",
    "S4,P2,01/14/2026 10:00,Amphetamine,NEG",
)


def test_a_refused_specimen_writes_nothing_and_the_others_are_applied(
    panel: Clinic, lab_map: LabMap
) -> None:
    wrong = list(RIGHT)
    wrong[2] = "S3,P2,01/07/2026 10:00,Cocaine,maybe"
    report = run(panel, lab_map, *wrong)
    assert (report.applied, report.replayed_units, report.not_in_cm) == (3, 0, 0)
    assert [(r.at, r.error_type, r.exit_code) for r in report.refused] == [
        ("line 4", "InvalidInput", 2)
    ]
    assert report.refused[0].error.startswith("line 4: Result 'maybe' is not a known result")
    assert (report.complete, report.failed_line, report.exit_code) == (False, 4, 2)
    assert (report.specimens, report.outcomes, report.stored) == (3, 3, 6)
    # Nothing of S3, its good line 7 included; S4 was paid as P2's first met.
    assert {r.specimen for r in panel.analyte_results("P2")} == {"S4"}
    assert money(panel) == {"P1": 10 + 15, "P2": 10}
    assert panel.verify().ok


def test_fixing_the_line_and_importing_again_pays_what_the_right_file_pays(
    any_clinic: Clinic, lab_map: LabMap, clock: FakeClock
) -> None:
    fixed = set_up(any_clinic)
    wrong = list(RIGHT)
    wrong[2] = "S3,P2,01/07/2026 10:00,Cocaine,maybe"
    assert not run(fixed, lab_map, *wrong).complete
    again = run(fixed, lab_map, *RIGHT)
    # S3 comes late: P2's S4 is settled again, as the second met in a row.
    assert (again.complete, again.applied, again.replayed_units, again.outcomes) == (
        True,
        1,
        3,
        1,
    )
    with cmrewards.open(None, clock=clock) as right:
        right.init("admin-1")
        set_up(right)
        assert run(right, lab_map, *RIGHT).complete
        assert money(fixed) == money(right) == {"P1": 10 + 15, "P2": 10 + 15}
        assert lines(fixed, "P2") == lines(right, "P2")
    assert fixed.verify().ok


def test_an_unknown_participant_is_refused_and_the_import_goes_on(
    panel: Clinic, lab_map: LabMap
) -> None:
    report = run(
        panel,
        lab_map,
        "S9,P-9,01/07/2026 10:00,Cocaine,NEG",
        "S1,P1,01/07/2026 10:00,Cocaine,NEG",
        "S1,P1,01/07/2026 10:00,Amphetamine,NEG",
    )
    assert [(r.at, r.error_type) for r in report.refused] == [("line 2", "NotFound")]
    assert (report.applied, report.outcomes) == (1, 1)
    assert money(panel)["P1"] == 10


def test_patients_the_ids_map_does_not_list_are_not_in_cm(panel: Clinic, lab_map: LabMap) -> None:
    """The export holds every patient of the lab; the ids map names the CM ones. Others are
    counted once per specimen, never refused, and nothing of them is kept or shown."""
    mapped = attrs.evolve(lab_map, identity=cmrewards.Identity(ids={"MRN-1": "P1"}))
    rows = (
        "S1,MRN-1,01/07/2026 10:00,Cocaine,NEG",
        "X1,MRN-777,01/07/2026 10:00,Cocaine,NEG",
        "X1,MRN-777,01/07/2026 10:00,Whatever,???",
        "X2,MRN-778,01/07/2026 10:00,Cocaine,NEG",
        "S1,MRN-1,01/07/2026 10:00,Amphetamine,NEG",
    )
    report = run(panel, mapped, *rows)
    assert (report.complete, report.not_in_cm, report.applied, report.outcomes) == (True, 2, 1, 1)
    assert "MRN-77" not in repr(report)
    assert {r.specimen for r in panel.analyte_results("P1")} == {"S1"}
    again = run(panel, mapped, *rows)
    assert (again.complete, again.not_in_cm, again.replayed_units) == (True, 2, 1)


def test_a_bad_row_that_names_no_specimen_is_refused_alone(panel: Clinic, lab_map: LabMap) -> None:
    report = run(
        panel,
        lab_map,
        "S1,P1,01/07/2026 10:00,Cocaine,NEG",
        ",P1,01/07/2026 10:00,Cocaine,NEG",
        "S1,P1,01/07/2026 10:00,Amphetamine,NEG",
        "S2,P1,01/14/2026 10:00",
    )
    assert [r.at for r in report.refused] == ["line 3", "line 5"]  # in file order
    assert [r.error for r in report.refused] == [
        "line 3: Specimen ID is empty",
        "line 5: expected at least 5 fields, got 3",
    ]
    assert (report.applied, report.outcomes) == (1, 1)


# --- messages: HL7 v2 -------------------------------------------------------------------


def hl7(clinic: Clinic, text: str) -> LabImportReport:
    lab = cmrewards.load_lab_map(EXAMPLES / "hl7-map.toml")
    messages = cmrewards.read_hl7_messages(io.StringIO(text), lab, "lab.hl7")
    return clinic.import_lab_messages(messages, actor="feed-1", chunk_size=2)


@pytest.fixture
def hl7_clinic(any_clinic: Clinic) -> Clinic:
    any_clinic.add_staff("feed-1", "lab-feed", actor="admin-1")
    any_clinic.add_program(PROGRAM, actor="admin-1")
    any_clinic.enroll("P-1001", PROGRAM.id, start=dt.date(2026, 3, 2), actor="admin-1")
    return any_clinic


def test_a_batch_goes_on_past_a_refused_message_and_skips_patients_outside_cm(
    hl7_clinic: Clinic,
) -> None:
    final = (HL7 / "nine_panel_final.hl7").read_text(encoding="utf-8")
    dilute = (HL7 / "dilute.hl7").read_text(encoding="utf-8")
    unknown = dilute.replace("P-1001^", "P-9999^")  # a CM id no one holds: refused
    outside = final.replace("^^^CMREWARDS^PI", "^^^OTHER^PI")  # not a CM patient: skipped
    report = hl7(hl7_clinic, unknown + outside + final)
    assert [(r.at, r.error_type) for r in report.refused] == [("line 1", "NotFound")]
    assert (report.applied, report.not_in_cm, report.specimens, report.outcomes) == (1, 1, 1, 1)
    assert hl7_clinic.balance("P-1001").points == 10
    again = hl7(hl7_clinic, dilute + outside + final)
    assert (again.complete, again.applied, again.replayed_units, again.not_in_cm) == (
        True,
        1,
        1,
        1,
    )
    assert hl7_clinic.verify().ok


def test_an_entered_in_error_specimen_is_voided_and_waits_for_nothing(hl7_clinic: Clinic) -> None:
    text = (HL7 / "entered_in_error.hl7").read_text(encoding="utf-8")
    report = hl7(hl7_clinic, text)
    assert (report.messages, report.specimens, report.voided, report.pending) == (2, 1, 1, 0)
