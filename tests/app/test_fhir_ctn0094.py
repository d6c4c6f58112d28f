"""The real CTN-0094 export, converted here to a FHIR bulk export, reads to the same results.

Each CSV row becomes an ``Observation`` line (the analyte's LOINC code, the result as a
coded value, the participant as a subject identifier, the specimen by reference) and each
specimen a ``Specimen`` line with its accession number and collection time (the CSV's
local time in the program's zone, with its offset, as R4 requires). The FHIR reader must
give every analyte result the CSV reader gives, grouped one message per specimen, and a
clinic that imports the export must end with the record of one that imports the CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import cmrewards
from cmrewards import Clinic, LabMessage, LabRow
from support.clinics import FakeClock

FINAL = cmrewards.ResultStatus.FINAL
ROOT = Path(__file__).resolve().parents[2]
CTN = ROOT.parent / "shared" / "data" / "ctn0094" / "lab_results.csv"
SYSTEM = "urn:example:ctn0094:participant"
ZONE = ZoneInfo("America/New_York")  # examples/ctn0094-program.toml
CODES = {"NEG": ("260415000", "Not detected"), "POS": ("260373001", "Detected")}
"""SNOMED CT qualifier values a lab codes a drug screen's result with."""


def aware(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=ZONE)


def as_ndjson(rows: list[LabRow], words: dict[int, str]) -> str:
    """The rows as a bulk export: Specimen lines, then one Observation line per row."""
    lines: list[object] = []
    for row in {row.specimen: row for row in rows}.values():
        specimen = {
            "resourceType": "Specimen",
            "id": row.specimen,
            "accessionIdentifier": {"value": row.specimen},
            "collection": {"collectedDateTime": aware(row.collected).isoformat()},
        }
        lines.append(specimen)
    for row in rows:
        analyte = cmrewards.ANALYTES[[a.name for a in cmrewards.ANALYTES].index(row.analyte)]
        code, display = CODES[words[row.line]]
        observation = {
            "resourceType": "Observation",
            "id": f"{row.specimen}-{row.analyte}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": analyte.codes[0]}]},
            "subject": {"identifier": {"system": SYSTEM, "value": row.participant}},
            "specimen": {"reference": f"Specimen/{row.specimen}"},
            "valueCodeableConcept": {
                "coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]
            },
        }
        lines.append(observation)
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)


@pytest.mark.skipif(not CTN.exists(), reason=f"the CTN-0094 export is not at {CTN}")
def test_the_ctn0094_export_as_fhir_ndjson_reads_to_the_same_results() -> None:
    lab_map = cmrewards.load_lab_map(ROOT / "examples" / "ctn0094-map.toml")
    with CTN.open(encoding="utf-8-sig", newline="") as file:
        rows = list(cmrewards.read_lab_file(file, lab_map, str(CTN)))
    assert all(isinstance(r, LabRow) for r in rows)
    rows_read = [r for r in rows if isinstance(r, LabRow)]
    with CTN.open(encoding="utf-8-sig", newline="") as file:
        words = {n: row[4] for n, row in enumerate(csv.reader(file), start=1)}
    text = as_ndjson(rows_read, words)
    ehr = cmrewards.lab_map_from_dict({"identity": {"system": SYSTEM}}, "ehr-map.toml")
    started = time.perf_counter()
    messages = list(cmrewards.read_fhir_messages(io.StringIO(text), ehr, "ctn0094.ndjson"))
    elapsed = time.perf_counter() - started
    assert all(isinstance(m, LabMessage) for m in messages)
    read = [
        (r.participant, r.accession, r.collected, a.analyte, a.result, a.status)
        for m in messages
        if isinstance(m, LabMessage)
        for r in m.reports
        for a in r.analytes
    ]
    expected = [
        (
            r.participant,
            r.specimen,
            aware(r.collected),
            r.analyte,
            r.result,
            cmrewards.ResultStatus.FINAL,
        )
        for r in rows_read
    ]
    assert len(rows_read) == 8638
    assert len(messages) == len({r.specimen for r in rows_read}) == 1234
    assert sorted(read) == sorted(expected)
    assert elapsed < 10, f"{elapsed:.1f} s to read 9,872 lines"


def ctn_clinic() -> Clinic:
    """A clinic with the CTN stimulant program and everyone in the export enrolled on the
    day of their first specimen."""
    clinic = cmrewards.open(clock=FakeClock(dt.datetime(2026, 6, 1, tzinfo=dt.UTC)))
    clinic.init("admin-1")
    clinic.add_staff("rec-1", "recorder", actor="admin-1")
    program = cmrewards.load_program_file(ROOT / "examples" / "ctn0094-program.toml")
    clinic.add_program(program, actor="admin-1")
    first: dict[str, dt.date] = {}
    with CTN.open(encoding="utf-8-sig", newline="") as file:
        for row in csv.DictReader(file):
            day = dt.datetime.strptime(row["Collected"], "%m/%d/%Y %H:%M").date()
            first[row["Patient ID"]] = min(first.get(row["Patient ID"], day), day)
    for participant, day in sorted(first.items()):
        clinic.enroll(participant, program.id, start=day, actor="admin-1")
    return clinic


@pytest.mark.skipif(not CTN.exists(), reason=f"the CTN-0094 export is not at {CTN}")
def test_a_clinic_importing_the_fhir_export_keeps_the_record_of_the_csv() -> None:
    lab_map = cmrewards.load_lab_map(ROOT / "examples" / "ctn0094-map.toml")
    by_csv, by_fhir = ctn_clinic(), ctn_clinic()
    with CTN.open(encoding="utf-8-sig", newline="") as file:
        rows = list(cmrewards.read_lab_file(file, lab_map, str(CTN)))
    with CTN.open(encoding="utf-8-sig", newline="") as file:
        words = {n: row[4] for n, row in enumerate(csv.reader(file), start=1)}
    from_csv = by_csv.import_lab_results(rows, actor="rec-1")
    text = as_ndjson([r for r in rows if isinstance(r, LabRow)], words)
    ehr = cmrewards.lab_map_from_dict({"identity": {"system": SYSTEM}}, "ehr-map.toml")
    messages = cmrewards.read_fhir_messages(io.StringIO(text), ehr, "ctn0094.ndjson")
    from_fhir = by_fhir.import_lab_messages(messages, actor="rec-1")
    assert (from_fhir.complete, from_fhir.specimens, from_fhir.outcomes) == (True, 1234, 1234)
    assert (from_csv.stored, from_csv.outcomes) == (from_fhir.stored, from_fhir.outcomes)
    people = sorted({r.participant for r in rows if isinstance(r, LabRow)})
    for person in people:
        assert by_fhir.balance(person) == by_csv.balance(person), person
        assert [(e.kind, e.detail) for e in by_fhir.history(person)] == [
            (e.kind, e.detail) for e in by_csv.history(person)
        ], person
