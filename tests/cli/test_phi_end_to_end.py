"""No PHI anywhere, end to end (issue 13, item 3): HL7 v2 messages and FHIR resources full of
a person's names, birth date, address, phone numbers, e-mail, MRN, SSN and account number
go through ``cmrewards import`` (text and ``--json``), refused ones included (an unknown
participant, an analyte nobody mapped); then the SQLite database file (and ``-wal``), the
``export`` folder, every stdout and stderr and every log record are searched for them.

The readers' own tests (test_hl7v2.py, test_fhir*.py) check that a reader drops PID and
Patient; this one checks the whole path: applying, refusing, storing, exporting, showing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import Result

from support.cli import invoke

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "examples" / "ctn0094-program.toml"

GIVEN, MIDDLE, FAMILY = "Thaddeus", "Ondine", "Wolfenbarger"
BIRTH_HL7, BIRTH_FHIR = "19620513", "1962-05-13"
STREET, UNIT, CITY, POSTCODE = "7731 Juniper Cascade Blvd", "Suite 4Q", "Frostmoor", "58712"
PHONE, MOBILE = "555-0187-2290", "555-0143-9916"
EMAIL = "t.wolfenbarger@example.net"
MRN, SSN, ACCOUNT = "MRN-88431207", "987-65-4329", "ACCT-55120987"
KIN = "Perpetua"  # next of kin (NK1): a name the record must not hold either
PHI = [
    GIVEN, MIDDLE, FAMILY, BIRTH_HL7, BIRTH_FHIR, STREET, UNIT, CITY, POSTCODE, PHONE, MOBILE,
    EMAIL, MRN, SSN, "987654329", ACCOUNT, KIN,
]  # fmt: skip
"""Each distinctive string; the SSN also without its dashes."""

SYSTEM = "urn:example:phi-test:participant"
MAPS = {
    "hl7.toml": '[identity]\nassigning_authority = "CMREWARDS"\n',
    "ehr.toml": f'[identity]\nsystem = "{SYSTEM}"\n',
}
PANEL = [("19359-9", "cocaine"), ("19261-7", "amphetamine")]


def hl7(participant: str, accession: str, status: str, *, code: str = "") -> str:
    """One ORU^R01 for a cocaine and amphetamine screen, PID and NK1 full of PHI; ``code``
    replaces the amphetamine LOINC code (an analyte nobody mapped)."""
    segments = [
        f"MSH|^~\\&|LAB|ACME|CMREWARDS|CLINIC|20260303120000-0500||ORU^R01^ORU_R01|{accession}-{status}|P|2.5.1",
        f"PID|1||{MRN}^^^NSCLINIC^MR~{participant}^^^CMREWARDS^PI~{SSN}^^^USSSA^SS"
        f"||{FAMILY}^{GIVEN}^{MIDDLE}^^^^L||{BIRTH_HL7}|M|||{STREET}^{UNIT}^{CITY}^ND^{POSTCODE}^USA^H"
        f"||{PHONE}^PRN^PH~{MOBILE}^PRN^CP~^NET^Internet^{EMAIL}|||||{ACCOUNT}|{SSN}",
        f"NK1|1|{FAMILY}^{KIN}|SPO^Spouse|{STREET}^{UNIT}^{CITY}^ND^{POSTCODE}|{MOBILE}",
        f"OBR|1|{accession}^CLINIC|{accession}^LAB|UDS^Urine drug screen^L|||202603020915-0500",
    ]
    for n, (loinc, _) in enumerate(PANEL, start=1):
        segments.append(
            f"OBX|{n}|CWE|{code if code and n == 2 else loinc}^Screen^LN||260385009^Negative^SCT"
            f"||||||{status}"
        )
    return "\r".join(segments) + "\r"


def patient(participant: str) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": "pt-1",
        "identifier": [
            {"system": "urn:example:northside:mrn", "value": MRN},
            {"system": SYSTEM, "value": participant},
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN},
        ],
        "name": [{"family": FAMILY, "given": [GIVEN, MIDDLE], "text": f"{GIVEN} {FAMILY}"}],
        "telecom": [
            {"system": "phone", "value": PHONE},
            {"system": "phone", "value": MOBILE, "use": "mobile"},
            {"system": "email", "value": EMAIL},
        ],
        "birthDate": BIRTH_FHIR,
        "address": [{"line": [STREET, UNIT], "city": CITY, "postalCode": POSTCODE}],
        "contact": [{"name": {"family": FAMILY, "given": [KIN]}, "telecom": [{"value": MOBILE}]}],
    }


def observations(accession: str, status: str, *, code: str = "") -> list[dict[str, object]]:
    return [
        {
            "resourceType": "Observation",
            "id": f"{accession}-{name}",
            "status": status,
            "code": {
                "coding": [
                    {"system": "http://loinc.org", "code": code if code and n == 2 else loinc}
                ]
            },
            "subject": {"reference": "Patient/pt-1", "display": f"{FAMILY}, {GIVEN} {MIDDLE}"},
            "specimen": {"identifier": {"value": accession}},
            "effectiveDateTime": "2026-03-04T09:15:00-05:00",
            "valueCodeableConcept": {"text": "Not detected"},
            "performer": [{"display": f"{GIVEN} {FAMILY}"}],
        }
        for n, (loinc, name) in enumerate(PANEL, start=1)
    ]


def bundle(participant: str, accession: str, status: str, *, code: str = "") -> str:
    resources = [patient(participant), *observations(accession, status, code=code)]
    entries = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


def ndjson(participant: str, accession: str, status: str) -> str:
    lines = [patient(participant), *observations(accession, status)]
    return "".join(json.dumps(line) + "\n" for line in lines)


FILES = {
    # name: (content, map, exit code)
    "final.hl7": (hl7("P-2001", "ACC-2001-01", "F"), "hl7.toml", 0),
    "preliminary.hl7": (hl7("P-2001", "ACC-2001-02", "P"), "hl7.toml", 0),
    "stranger.hl7": (hl7("P-9999", "ACC-9999-01", "F"), "hl7.toml", 1),
    "unmapped.hl7": (hl7("P-2001", "ACC-2001-03", "F", code="ZZ-77"), "hl7.toml", 2),
    "bundle.json": (bundle("P-2002", "ACC-2002-01", "final"), "ehr.toml", 0),
    "export.ndjson": (ndjson("P-2002", "ACC-2002-02", "preliminary"), "ehr.toml", 0),
    "stranger.json": (bundle("P-9999", "ACC-9999-02", "final"), "ehr.toml", 1),
    "unmapped.json": (bundle("P-2002", "ACC-2002-03", "final", code="ZZ-78"), "ehr.toml", 2),
}


def leaks(where: str, data: bytes) -> list[str]:
    """Each PHI string found in ``data``, in any case, as UTF-8 or as JSON escapes it."""
    found = []
    folded = data.decode("utf-8", errors="replace").casefold()
    for phi in PHI:
        forms = {phi.casefold(), json.dumps(phi)[1:-1].casefold()}
        if any(form in folded for form in forms):
            found.append(f"{where}: {phi!r}")
    return found


def test_no_phi_reaches_the_database_the_export_the_output_or_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "clinic.db"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, text in MAPS.items():
        (inbox / name).write_text(text, encoding="utf-8")
    for name, (content, _, _) in FILES.items():
        (inbox / name).write_text(content, encoding="utf-8", newline="")
        assert any(phi in content for phi in PHI)  # the sample does carry them
    outputs: list[tuple[str, Result]] = []

    def run(command: str, code: int = 0, *, json_output: bool) -> Result:
        result = invoke(db, command, json_output=json_output)
        assert result.exit_code == code, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        outputs.append((f"{'--json ' if json_output else ''}{command}", result))
        return result

    for command in (
        "init --admin admin-1 --no-sign-in",
        "staff add rec-01 --role recorder --actor admin-1",
        "staff add feed-01 --role lab-feed --actor admin-1",
        f"program add --file {PROGRAM} --actor admin-1",
        "enroll P-2001 --program ctn-stimulant --start 2026-03-02 --actor admin-1",
        "enroll P-2002 --program ctn-stimulant --start 2026-03-02 --actor admin-1",
    ):
        run(command, json_output=True)
    for name, (_, lab_map, code) in FILES.items():
        for json_output in (False, True):  # the second run is a replay, or the same refusal
            command = f"import {inbox / name} --map {inbox / lab_map} --actor feed-01"
            result = run(command, code, json_output=json_output)
            if code:  # one line per refused message, then the count
                *refused, summary = result.stderr.splitlines()
                assert refused, result.stderr
                assert all(line.startswith("cmrewards: refused line ") for line in refused)
                assert " refused, nothing of " in summary
    # What was applied is there: the refusals are not all there is.
    shown = json.loads(run("results P-2001", json_output=True).stdout)
    assert {(r["specimen"], r["status"]) for r in shown} == {
        ("ACC-2001-01", "final"),
        ("ACC-2001-02", "preliminary"),
    }
    assert {r["specimen"] for r in json.loads(run("results P-2002", json_output=True).stdout)} == {
        "ACC-2002-01",
        "ACC-2002-02",
    }
    for participant in ("P-2001", "P-2002"):
        for json_output in (False, True):
            for command in ("results", "balance", "history", "statement"):
                run(f"{command} {participant}", json_output=json_output)
    run("verify", json_output=False)
    run(f"export --out {tmp_path / 'export'}", json_output=False)

    found: list[str] = []
    stored = sorted(tmp_path.glob("clinic.db*"))
    assert db in stored
    for path in stored:  # the database, and its -wal / -shm / -journal while they exist
        found += leaks(path.name, path.read_bytes())
    exported = sorted(p for p in (tmp_path / "export").rglob("*") if p.is_file())
    assert {p.name for p in exported} >= {"analyte_results.json", "idempotency_keys.csv"}
    for path in exported:
        found += leaks(f"export/{path.name}", path.read_bytes())
    for command, result in outputs:
        found += leaks(f"stdout of {command}", result.stdout_bytes)
        found += leaks(f"stderr of {command}", result.stderr_bytes)
    found += leaks("the log", "\n".join(r.getMessage() for r in caplog.records).encode())
    assert found == []
