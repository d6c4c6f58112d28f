"""The CTN-0094 lab export, and the same results as a lab and an EHR would send them.

The export (``../shared/data/ctn0094/lab_results.csv``, one row per analyte per specimen)
is beside the checkout when CI copies it there; tests that read it skip without it. The
converters here write its rows, in test code and from the public specifications alone, as

- HL7 v2.5.1 ``ORU^R01`` messages (``as_hl7``): one message per specimen, the participant
  in ``PID-3`` under the assigning authority ``AUTHORITY``, the accession in ``OBR-3``, the
  collection time in ``OBR-7`` as the lab wrote it (clinic local time, no offset), one
  ``OBX`` per analyte with its LOINC code and a SNOMED CT coded result, status ``F``;
- a FHIR R4 bulk export (``as_ndjson``): a ``Specimen`` line per specimen (its accession
  and collection time, with the program zone's offset, as R4 requires), then an
  ``Observation`` line per row (LOINC code, coded value, the participant as a subject
  identifier of ``SYSTEM``, the specimen by reference), status ``final``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import cmrewards
from cmrewards import LabMap, LabRow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CTN = ROOT.parent / "shared" / "data" / "ctn0094" / "lab_results.csv"
ZONE = ZoneInfo("America/New_York")  # examples/ctn0094-program.toml
AUTHORITY = "CTN0094"
"""PID-3's assigning authority (CX-4) of the participant id in the HL7 messages."""
SYSTEM = "urn:example:ctn0094:participant"
"""The identifier system of ``Observation.subject`` in the FHIR export."""
CODES = {"NEG": ("260415000", "Not detected"), "POS": ("260373001", "Detected")}
"""SNOMED CT qualifier values a lab codes a drug screen's result with."""


def csv_map() -> LabMap:
    """The export's own mapping file."""
    return cmrewards.load_lab_map(EXAMPLES / "ctn0094-map.toml")


def hl7_map() -> LabMap:
    """What the lab interface's mapping file says: the participant is PID-3 of ``AUTHORITY``."""
    return cmrewards.lab_map_from_dict(
        {"identity": {"assigning_authority": AUTHORITY}}, "lab-map.toml"
    )


def fhir_map() -> LabMap:
    """What the EHR's mapping file says: the participant is the subject identifier of
    ``SYSTEM``."""
    return cmrewards.lab_map_from_dict({"identity": {"system": SYSTEM}}, "ehr-map.toml")


def read_rows() -> tuple[list[LabRow], dict[int, str]]:
    """The export's rows as the CSV reader gives them, and each line's own result word
    (``NEG``/``POS``), by line number, for the converters to code."""
    with CTN.open(encoding="utf-8-sig", newline="") as file:
        rows = list(cmrewards.read_lab_file(file, csv_map(), str(CTN)))
    read = [r for r in rows if isinstance(r, LabRow)]
    assert len(read) == len(rows), "the export reads without a bad row"
    with CTN.open(encoding="utf-8-sig", newline="") as file:
        words = {n: row[4] for n, row in enumerate(csv.reader(file), start=1)}
    return read, words


def _loinc(analyte: str) -> str:
    return next(a for a in cmrewards.ANALYTES if a.name == analyte).codes[0]


def _specimens(rows: list[LabRow]) -> dict[str, list[LabRow]]:
    """The rows of each specimen, specimens in the order their first row comes."""
    specimens: dict[str, list[LabRow]] = {}
    for row in rows:
        specimens.setdefault(row.specimen, []).append(row)
    return specimens


def as_hl7(rows: list[LabRow], words: dict[int, str]) -> str:
    """The rows as a lab interface's file: one ``ORU^R01`` per specimen, segments ended
    by ``\\r``, messages one after the other."""
    messages = []
    for number, (accession, same) in enumerate(_specimens(rows).items(), start=1):
        first = same[0]
        collected = first.collected.strftime("%Y%m%d%H%M")
        segments = [
            f"MSH|^~\\&|CTNLAB|CTN LABORATORY|CMREWARDS|CLINIC|{collected}||ORU^R01^ORU_R01"
            f"|CTN-{number:05d}|P|2.5.1",
            f"PID|1||{first.participant}^^^{AUTHORITY}^PI",
            f"OBR|1|{accession}^CLINIC|{accession}^CTNLAB|UDS^Urine drug screen^L|||{collected}",
        ]
        for n, row in enumerate(same, start=1):
            code, display = CODES[words[row.line]]
            segments.append(
                f"OBX|{n}|CWE|{_loinc(row.analyte)}^{row.analyte}^LN||{code}^{display}^SCT||||||F"
            )
        messages.append("\r".join(segments) + "\r")
    return "".join(messages)


def as_ndjson(rows: list[LabRow], words: dict[int, str]) -> str:
    """The rows as a bulk export: Specimen lines, then one Observation line per row."""
    lines: list[object] = []
    for accession, same in _specimens(rows).items():
        specimen = {
            "resourceType": "Specimen",
            "id": accession,
            "accessionIdentifier": {"value": accession},
            "collection": {"collectedDateTime": same[0].collected.replace(tzinfo=ZONE).isoformat()},
        }
        lines.append(specimen)
    for row in rows:
        code, display = CODES[words[row.line]]
        observation = {
            "resourceType": "Observation",
            "id": f"{row.specimen}-{row.analyte}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": _loinc(row.analyte)}]},
            "subject": {"identifier": {"system": SYSTEM, "value": row.participant}},
            "specimen": {"reference": f"Specimen/{row.specimen}"},
            "valueCodeableConcept": {
                "coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]
            },
        }
        lines.append(observation)
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
