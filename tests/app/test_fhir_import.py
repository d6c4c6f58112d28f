"""FHIR results through the Clinic: the sample documents and the NDJSON export make one record.

The samples of ``tests/fixtures/fhir`` (a 9-panel final result, a preliminary cocaine
positive corrected to negative, a final result then entered in error, a dilute specimen)
are imported into a fresh clinic as six documents, and into another as one bulk export:
the two records agree entry for entry; sending any of it again writes nothing; and no
Patient content reaches the database file, the export or any report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

import cmrewards
from cmrewards import Clinic, LabImportReport
from support.clinics import FakeClock, database_location
from support.panels import NINE_PANEL_ANALYTES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
DOCUMENTS = [
    "1-nine-panel-final.json",
    "2-preliminary.json",
    "3-corrected.json",
    "4-final-before-error.json",
    "5-entered-in-error.json",
    "6-dilute.json",
]
EXPORT = "results.ndjson"
PHI = (
    "Quillfeather",
    "Marguerite",
    "Odile",
    "1984-07-19",
    "19840719",
    "Larkspur",
    "Tallowmere",
    "66999",
    "555-0142-7788",
    "quillfeather@example.org",
    "MRN-55501234",
    "999-12-3456",
)
PROGRAM = cmrewards.program_from_dict(
    {
        "id": "uds-9",
        "name": "Urine drug screens from the EHR",
        "point_value_cents": 25,
        "timezone": "America/Chicago",
        "calendar": False,
        "targets": [
            {
                "id": "stimulant-negative",
                "analytes": ["cocaine", "amphetamine"],
                "schedule": {"kind": "escalating", "award": "points", "start": 10, "step": 5},
            },
            {
                "id": "drug-free",
                "analytes": list(NINE_PANEL_ANALYTES),
                "schedule": {"kind": "escalating", "award": "points", "start": 20, "step": 10},
            },
        ],
    },
    "uds-9.toml",
)


def fresh_clinic(location: str | None) -> Clinic:
    clock = FakeClock(dt.datetime(2026, 3, 20, 18, tzinfo=dt.UTC))
    clinic = cmrewards.open(location, clock=clock, seeds=iter(range(1, 10**6)).__next__)
    clinic.init("admin-1")
    clinic.add_staff("feed-1", "lab-feed", actor="admin-1")  # the EHR's corrections too
    clinic.add_program(PROGRAM, actor="admin-1")
    clinic.enroll("P-1001", PROGRAM.id, start=dt.date(2026, 3, 2), actor="admin-1")
    return clinic


def import_file(clinic: Clinic, name: str) -> LabImportReport:
    ehr = cmrewards.load_lab_map(FIXTURES / "ehr-map.toml")
    with (FIXTURES / name).open(encoding="utf-8") as file:
        messages = cmrewards.read_fhir_messages(file, ehr, name)
        report = clinic.import_lab_messages(messages, actor="feed-1")
    assert report.complete, report
    return report


def record(clinic: Clinic) -> tuple[object, ...]:
    """What a clinic's staff and auditors see of P-1001."""
    return (
        clinic.balance("P-1001").points,
        [(e.kind, e.detail) for e in clinic.history("P-1001")],
        [
            (r.specimen, r.analyte, r.status, r.result, r.collected_at, r.reports)
            for r in clinic.analyte_results("P-1001")
        ],
    )


@pytest.fixture(params=["memory", "sqlite"])
def two_clinics(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Clinic, Clinic]]:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    with (
        database_location(request.param, tmp_path / "a") as first,
        database_location(request.param, tmp_path / "b") as second,
    ):
        clinics = fresh_clinic(first), fresh_clinic(second)
        yield clinics
        for clinic in clinics:
            clinic.close()


def test_the_documents_and_the_export_make_the_same_record(
    two_clinics: tuple[Clinic, Clinic],
) -> None:
    by_documents, by_export = two_clinics
    for name in DOCUMENTS:
        import_file(by_documents, name)
    exported = import_file(by_export, EXPORT)
    assert record(by_documents) == record(by_export)
    # Six reports of four specimens (a specimen reported again counts once), each deciding
    # both targets once; the withdrawn specimen's two outcomes voided, and it waits for
    # nothing: no specimen is pending.
    assert (
        exported.messages,
        exported.specimens,
        exported.outcomes,
        exported.corrected,
        exported.voided,
        exported.pending,
    ) == (6, 4, 8, 0, 2, 0)
    # stimulant-negative: met (10), met at the correction (15), the withdrawn met voided,
    # dilute invalid. drug-free: cannabinoid-positive not_met, met (20), voided, invalid.
    assert by_export.balance("P-1001").points == 10 + 15 + 20
    standing = {(r.specimen, r.analyte): r for r in by_export.analyte_results("P-1001")}
    cocaine = standing[("ACC-1001-02", "cocaine")]
    assert (cocaine.decides, cocaine.result, cocaine.reports) == (
        True,
        cmrewards.LabResult.NEGATIVE,
        2,
    )
    assert standing[("ACC-1001-03", "opiates")].status is cmrewards.ResultStatus.ENTERED_IN_ERROR
    assert standing[("ACC-1001-04", "opiates")].result is cmrewards.LabResult.DILUTE
    for clinic in two_clinics:
        assert clinic.verify().ok


def test_a_resend_through_either_door_is_a_replay(two_clinics: tuple[Clinic, Clinic]) -> None:
    clinic, _ = two_clinics
    import_file(clinic, EXPORT)
    before = record(clinic)
    again = import_file(clinic, EXPORT)
    assert (again.stored, again.outcomes, again.replayed) == (0, 0, again.rows)
    for name in DOCUMENTS:
        resent = import_file(clinic, name)
        assert (resent.stored, resent.outcomes) == (0, 0)
    assert record(clinic) == before


def test_no_patient_content_reaches_the_database_the_export_or_a_report(
    tmp_path: Path,
) -> None:
    samples = [(FIXTURES / name).read_text(encoding="utf-8") for name in [*DOCUMENTS, EXPORT]]
    assert all(word in text for text in samples for word in PHI if word != "19840719")
    clinic = fresh_clinic(str(tmp_path / "clinic.db"))
    said = [repr(import_file(clinic, name)) for name in [*DOCUMENTS, EXPORT]]
    said += [repr(record(clinic)), repr(clinic.statement("P-1001")), repr(clinic.report())]
    clinic.export(tmp_path / "export")
    clinic.close()
    stored = [p.read_bytes() for p in tmp_path.iterdir() if p.is_file()]
    stored += [p.read_bytes() for p in (tmp_path / "export").iterdir()]
    leaked = [
        word
        for word in PHI
        if any(word in text for text in said) or any(word.encode() in data for data in stored)
    ]
    assert leaked == []
    assert len(stored) > 3
