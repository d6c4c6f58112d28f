"""The FHIR R4 reader: resources, Bundles and NDJSON into lab messages, faults by JSON path.

Resources are built here from the R4 element names; the sample files under
``tests/fixtures/fhir`` (a transaction and a searchset Bundle, and the same results as
one NDJSON export) must read to the same record, and nothing about the person in them
may come out of the reader, in a message or an error.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

import cmrewards
from cmrewards import (
    BadRow,
    InvalidInput,
    LabMap,
    LabMessage,
    LabReport,
    LabResult,
    ReportedAnalyte,
    ResultStatus,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
SYSTEM = "urn:example:cmrewards:participant"
LOINC = "http://loinc.org"
COCAINE = "19359-9"
AMPHETAMINE = "19261-7"
CST = dt.timezone(dt.timedelta(hours=-6))
AT = "2026-03-02T09:15:00-06:00"
COLLECTED = dt.datetime(2026, 3, 2, 9, 15, tzinfo=CST)

Json = dict[str, Any]


@pytest.fixture
def ehr() -> LabMap:
    return cmrewards.load_lab_map(FIXTURES / "ehr-map.toml")


def mapping(**identity: str) -> LabMap:
    table = {"identity": {"system": SYSTEM, **identity}}
    return cmrewards.lab_map_from_dict(table, "map.toml")


def observation(
    code: str | Json = COCAINE, value: str | None = "Negative", status: str = "final", **fields: Any
) -> Json:
    """An Observation of ``code`` (a LOINC code, or the whole CodeableConcept)."""
    resource: Json = {
        "resourceType": "Observation",
        "status": status,
        "code": code if isinstance(code, dict) else {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"identifier": {"system": SYSTEM, "value": "P-1001"}},
        "effectiveDateTime": AT,
        "specimen": {"identifier": {"value": "ACC-1"}},
    }
    if value is not None:
        resource["valueCodeableConcept"] = {"text": value}
    resource.update(fields)
    return {k: v for k, v in resource.items() if v is not None}


def bundle(*resources: Json, kind: str = "collection") -> Json:
    entries = [
        {"fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
        if "id" in r
        else {"resource": r}
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def read(document: Json | str, lab_map: LabMap | None = None) -> list[LabMessage | BadRow]:
    text = document if isinstance(document, str) else json.dumps(document, indent=1)
    return list(cmrewards.read_fhir_messages(io.StringIO(text), lab_map or mapping(), "in.json"))


def ndjson(*resources: Json) -> str:
    return "".join(json.dumps(r) + "\n" for r in resources)


def reports(document: Json | str, lab_map: LabMap | None = None) -> list[LabReport]:
    found = read(document, lab_map)
    assert not [m for m in found if isinstance(m, BadRow)], found
    return [r for m in found if isinstance(m, LabMessage) for r in m.reports]


def fault(document: Json | str, lab_map: LabMap | None = None) -> BadRow:
    found = read(document, lab_map)
    assert isinstance(found[-1], BadRow), found
    return found[-1]


def analytes(report: LabReport) -> dict[str, tuple[LabResult | None, ResultStatus]]:
    return {a.analyte: (a.result, a.status) for a in report.analytes}


# --- single resources -----------------------------------------------------------------------


def test_a_single_observation_is_one_report_of_one_analyte() -> None:
    expected = LabReport(
        participant="P-1001",
        accession="ACC-1",
        collected=COLLECTED,
        analytes=(ReportedAnalyte("cocaine", LabResult.NEGATIVE, ResultStatus.FINAL),),
    )
    assert [expected] == reports(observation())
    assert dt.timedelta(hours=-6) == reports(observation())[0].collected.utcoffset()


def test_a_diagnostic_report_with_contained_observations_specimen_and_patient() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "Urine drug screen"},
        "subject": {"reference": "#pt", "display": "Doe, Jane"},
        "specimen": [{"reference": "#spc"}],
        "result": [{"reference": "#o1"}, {"reference": "#o2"}],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "pt",
                "identifier": [{"system": SYSTEM, "value": "P-1001"}],
            },
            {
                "resourceType": "Specimen",
                "id": "spc",
                "accessionIdentifier": {"value": "ACC-7"},
                "collection": {"collectedDateTime": "2026-03-02T15:15:00Z"},
            },
            observation(id="o1", subject=None, specimen=None, effectiveDateTime=None),
            observation(AMPHETAMINE, "POS", id="o2", subject=None, specimen=None),
        ],
    }
    [read_report] = reports(report)
    assert (
        read_report.participant,
        read_report.accession,
        read_report.collected,
    ) == ("P-1001", "ACC-7", COLLECTED)
    assert analytes(read_report) == {
        "cocaine": (LabResult.NEGATIVE, ResultStatus.FINAL),
        "amphetamine": (LabResult.POSITIVE, ResultStatus.FINAL),
    }


def test_a_report_whose_results_are_not_in_the_file_names_the_reference() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "subject": {"identifier": {"system": SYSTEM, "value": "P-1001"}},
        "result": [{"reference": "Observation/elsewhere"}],
    }
    bad = fault(report)
    assert bad.line == 1
    assert bad.problem.startswith("DiagnosticReport.result[0]: is not in the file")


def test_parse_fhir_message_reads_one_document_at_a_position() -> None:
    message = cmrewards.parse_fhir_message(json.dumps(observation()), mapping(), "request 7")
    assert message.position == "request 7"
    assert [r.accession for r in message.reports] == ["ACC-1"]
    with pytest.raises(InvalidInput, match=r"^request 7: Observation\.code: no coding"):
        cmrewards.parse_fhir_message(json.dumps(observation("0000-0")), mapping(), "request 7")
    with pytest.raises(InvalidInput, match=r"^request 8: not JSON: Expecting"):
        cmrewards.parse_fhir_message("{", mapping(), "request 8")


def test_a_resource_that_is_not_a_result_is_refused() -> None:
    patient = {"resourceType": "Patient", "name": [{"family": "Doe"}]}
    assert fault(patient).problem.startswith("Patient: a Patient is not a lab result")
    assert (
        fault({"status": "final"}).problem == "resource: has no resourceType: not a FHIR resource"
    )


# --- Bundles ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["collection", "transaction", "batch", "searchset"])
def test_bundles_resolve_type_and_id_references_against_full_urls(kind: str) -> None:
    specimen = {
        "resourceType": "Specimen",
        "id": "s1",
        "accessionIdentifier": {"value": "ACC-9"},
    }
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": SYSTEM, "value": "P-9"}],
    }
    read_observation = observation(
        id="o1", subject={"reference": "Patient/p1"}, specimen={"reference": "Specimen/s1"}
    )
    document = bundle(patient, specimen, read_observation, kind=kind)
    [report] = reports(document)
    assert (report.participant, report.accession) == ("P-9", "ACC-9")


def test_a_bundle_is_one_message_and_one_bad_entry_refuses_all_of_it() -> None:
    good = observation()
    other = observation(AMPHETAMINE, specimen={"identifier": {"value": "ACC-2"}})
    [message] = read(bundle(good, other))
    assert isinstance(message, LabMessage)
    assert [r.accession for r in message.reports] == ["ACC-1", "ACC-2"]
    [bad] = read(bundle(good, observation("0000-0")))
    assert isinstance(bad, BadRow)
    assert bad.problem.startswith("Bundle.entry[1].resource.code: no coding is a known analyte")
    assert "http://loinc.org 0000-0" in bad.problem
    assert "map it in [analytes] of map.toml" in bad.problem


@pytest.mark.parametrize("kind", ["history", "document", "message", "transaction-response"])
def test_other_bundle_types_are_refused(kind: str) -> None:
    assert fault(bundle(observation(), kind=kind)).problem.startswith(
        f"Bundle.type: type '{kind}' is not read"
    )


def test_an_entry_without_a_resource_is_refused() -> None:
    document = bundle(observation())
    document["entry"].append({"request": {"method": "DELETE", "url": "Observation/x"}})
    assert fault(document).problem.startswith("Bundle.entry[1]: has no resource")


def test_a_panel_observation_brings_its_members() -> None:
    panel = {
        "resourceType": "Observation",
        "id": "panel",
        "status": "final",
        "code": {"text": "drug screen"},
        "hasMember": [{"reference": "Observation/a"}, {"reference": "Observation/b"}],
    }
    members = [observation(id="a"), observation(AMPHETAMINE, "Negative", id="b")]
    [report] = reports(bundle(panel, *members))
    assert {"cocaine", "amphetamine"} == set(analytes(report))


# --- statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("preliminary", ResultStatus.PRELIMINARY),
        ("final", ResultStatus.FINAL),
        ("corrected", ResultStatus.CORRECTED),
        ("amended", ResultStatus.CORRECTED),
        ("entered-in-error", ResultStatus.ENTERED_IN_ERROR),
        ("cancelled", ResultStatus.CANCELLED),
    ],
)
def test_each_observation_status_drives_the_record(word: str, status: ResultStatus) -> None:
    [report] = reports(observation(status=word))
    assert {"cocaine": (LabResult.NEGATIVE, status)} == analytes(report)


def test_a_registered_observation_has_no_result_yet_and_is_skipped() -> None:
    assert read(observation(value=None, status="registered")) == []
    message = cmrewards.parse_fhir_message(
        json.dumps(observation(value=None, status="registered")), mapping(), "line 1"
    )
    assert message.reports == ()
    [report] = reports(bundle(observation(), observation(AMPHETAMINE, None, "registered")))
    assert list(analytes(report)) == ["cocaine"]


@pytest.mark.parametrize("word", ["unknown", "Final", "done"])
def test_other_statuses_are_refused_by_path(word: str) -> None:
    problem = fault(observation(status=word)).problem
    assert problem.startswith(f"Observation.status: '{word}' is not applied: expected preliminary")


def test_a_withdrawn_result_need_not_repeat_its_value() -> None:
    [report] = reports(observation(value=None, status="entered-in-error"))
    assert analytes(report) == {"cocaine": (None, ResultStatus.ENTERED_IN_ERROR)}
    [report] = reports(observation(value="garbled", status="cancelled"))
    assert analytes(report) == {"cocaine": (None, ResultStatus.CANCELLED)}


def test_a_report_entered_in_error_withdraws_every_result_in_it() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "status": "entered-in-error",
        "result": [{"reference": "#o1"}],
        "contained": [observation(id="o1")],
    }
    [read_report] = reports(report)
    assert analytes(read_report) == {"cocaine": (LabResult.NEGATIVE, ResultStatus.ENTERED_IN_ERROR)}


# --- analytes and results --------------------------------------------------------------------


def test_loinc_codings_are_read_first_then_local_codes_through_the_mapping() -> None:
    local = {"system": "urn:example:lab", "code": "THC-S"}
    both = observation(code={"coding": [local, {"system": LOINC, "code": COCAINE}]})
    assert [a.analyte for r in reports(both) for a in r.analytes] == ["cocaine"]
    alone = observation(code={"coding": [local], "text": "THC screen"})
    lab = cmrewards.lab_map_from_dict(
        {"identity": {"system": SYSTEM}, "analytes": {"THC-S": "cannabinoids"}}, "map.toml"
    )
    assert [a.analyte for r in reports(alone, lab) for a in r.analytes] == ["cannabinoids"]
    by_text = observation(code={"coding": [local], "text": "Cocaine"})
    assert [a.analyte for r in reports(by_text) for a in r.analytes] == ["cocaine"]


def test_an_analyte_the_mapping_ignores_is_skipped() -> None:
    lab = cmrewards.lab_map_from_dict(
        {"identity": {"system": SYSTEM}, "analytes": {"2161-8": "ignore"}}, "map.toml"
    )
    creatinine = observation("2161-8", None, valueQuantity={"value": 14, "unit": "mg/dL"})
    [report] = reports(bundle(observation(), creatinine), lab)
    assert list(analytes(report)) == ["cocaine"]


@pytest.mark.parametrize(
    ("fields", "result"),
    [
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"code": "260415000", "display": "Not detected"}]
                }
            },
            "negative",
        ),
        ({"valueCodeableConcept": {"coding": [{"code": "POS"}]}}, "positive"),
        ({"valueString": "Dilute"}, "dilute"),
        ({"interpretation": [{"coding": [{"code": "NEG"}]}]}, "negative"),
        ({"valueQuantity": {"value": 812}, "interpretation": [{"text": "Positive"}]}, "positive"),
    ],
)
def test_results_come_from_the_value_or_the_interpretation(fields: Json, result: str) -> None:
    [report] = reports(observation(value=None, **fields))
    assert result == report.analytes[0].result


def test_an_unknown_result_is_refused_by_path_with_its_words() -> None:
    problem = fault(observation(value="maybe")).problem
    assert problem == (
        "Observation.valueCodeableConcept: not a known result ('maybe');"
        " map it in [results] of map.toml"
    )
    assert fault(observation(value=None)).problem == (
        "Observation: has no result: valueCodeableConcept, valueString or interpretation"
    )
    lab = cmrewards.lab_map_from_dict(
        {"identity": {"system": SYSTEM}, "results": {"maybe": "invalid"}}, "map.toml"
    )
    assert [a.result for r in reports(observation(value="maybe"), lab) for a in r.analytes] == [
        LabResult.INVALID
    ]


def test_one_analyte_reported_twice_differently_is_refused() -> None:
    twice = bundle(observation(), observation(value="Positive"))
    assert fault(twice).problem.startswith(
        "Bundle.entry[1].resource: reports cocaine differently from Bundle.entry[0].resource"
    )
    [report] = reports(bundle(observation(), observation()))
    assert len(report.analytes) == 1


# --- accession and collection time -------------------------------------------------------------


def test_the_accession_falls_back_from_specimen_to_report_to_reference() -> None:
    assert [r.accession for r in reports(observation(specimen={"reference": "Specimen/s-42"}))] == [
        "s-42"
    ]
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "identifier": [{"system": "urn:lab", "value": "RPT-5"}],
        "result": [{"reference": "#o"}],
        "contained": [observation(id="o", specimen=None)],
    }
    assert [r.accession for r in reports(report)] == ["RPT-5"]
    assert fault(observation(specimen=None)).problem.startswith("Observation: no accession number")
    uuid = observation(specimen={"reference": "urn:uuid:0d9e2f3a-1b4c-4d5e-8f60-718293a4b5c6"})
    assert fault(uuid).problem.startswith("Observation: no accession number")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T15:15:00Z", COLLECTED),
        ("2026-03-02T09:15:00.123456789-06:00", COLLECTED.replace(microsecond=123456)),
    ],
)
def test_collection_times_keep_their_offset(text: str, expected: dt.datetime) -> None:
    [report] = reports(observation(effectiveDateTime=text))
    assert expected == report.collected


@pytest.mark.parametrize(
    "text", ["2026-03-02", "2026-03-02T09:15:00", "03/02/2026 09:15", "2026-02-30T09:15:00Z"]
)
def test_a_collection_time_without_a_time_or_an_offset_is_refused(text: str) -> None:
    assert fault(observation(effectiveDateTime=text)).problem in (
        "Observation.effectiveDateTime: must be a FHIR dateTime with a time and an offset"
        " (2026-03-02T09:15:00-06:00)",
        "Observation.effectiveDateTime: is not a valid date and time",
    )


def test_the_specimen_collection_time_wins_and_observations_must_agree() -> None:
    specimen = {
        "resourceType": "Specimen",
        "id": "s1",
        "accessionIdentifier": {"value": "ACC-1"},
        "collection": {"collectedDateTime": AT},
    }
    late = observation(
        id="o", specimen={"reference": "Specimen/s1"}, effectiveDateTime="2026-03-03T10:00:00-06:00"
    )
    assert [r.collected for r in reports(bundle(specimen, late))] == [COLLECTED]
    other = observation(AMPHETAMINE, effectiveDateTime="2026-03-02T09:16:00-06:00")
    assert fault(bundle(observation(), other)).problem.startswith(
        "Bundle.entry[1].resource: effectiveDateTime differs"
    )


# --- participants and PHI ---------------------------------------------------------------------


def test_the_participant_comes_from_the_patient_identifier_with_the_system() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"system": "urn:mrn", "value": "MRN-1"},
            {"system": SYSTEM, "value": "P-1001", "use": "old"},
            {"system": SYSTEM, "value": "P-2002"},
        ],
    }
    subject = {"reference": "Patient/p1", "identifier": {"system": "urn:mrn", "value": "MRN-1"}}
    [report] = reports(bundle(patient, observation(subject=subject)))
    assert report.participant == "P-2002"


def test_an_ids_map_turns_the_identifier_into_the_participant() -> None:
    lab = cmrewards.lab_map_from_dict(
        {"identity": {"system": SYSTEM, "ids": "ids.csv"}}, "map.toml", ids={"P-1001": "CM-7"}
    )
    assert [r.participant for r in reports(observation(), lab)] == ["CM-7"]
    other = cmrewards.lab_map_from_dict(
        {"identity": {"system": SYSTEM, "ids": "ids.csv"}}, "map.toml", ids={"X": "CM-7"}
    )
    # A patient the ids file does not list is outside CM: a file counts the report and
    # leaves it out; a document sent alone is refused, without echoing the identifier.
    assert read(observation(), other) == [LabMessage((), "line 1", not_in_cm=1)]
    with pytest.raises(InvalidInput) as refused:
        cmrewards.parse_fhir_message(json.dumps(observation()), other, "request 1")
    assert str(refused.value) == (
        "request 1: Observation.subject: the participant's identifier (system"
        f" {SYSTEM}) is not in the ids file of map.toml"
    )
    assert "P-1001" not in str(refused.value)


def test_a_bundle_leaves_out_the_reports_of_patients_outside_cm() -> None:
    outside = {"identifier": {"system": "urn:mrn", "value": "MRN-77"}, "display": "Doe, Jane"}
    patient = {
        "resourceType": "Patient",
        "id": "p9",
        "identifier": [{"system": "urn:mrn", "value": "MRN-9"}],
    }
    found = read(
        bundle(
            observation(id="o1"),
            patient,
            observation(
                id="o2", subject={"reference": "Patient/p9"}, specimen={"reference": "Specimen/s2"}
            ),
        )
    )
    assert [(len(m.reports), m.not_in_cm) for m in found if isinstance(m, LabMessage)] == [(1, 1)]
    assert "MRN" not in repr(found)
    # Named only by another system's identifier (another clinic's MRN), as an HL7 PID
    # without the CM assigning authority is: outside CM too.
    assert read(observation(subject=outside)) == [LabMessage((), "line 1", not_in_cm=1)]


def test_a_subject_without_the_system_is_refused_without_its_content() -> None:
    subject = {"reference": "Patient/elsewhere", "display": "Doe, Jane"}
    problem = fault(observation(subject=subject)).problem
    assert problem.startswith(f"Observation.subject: has no identifier with system {SYSTEM}")
    assert "elsewhere" not in problem
    assert "Doe" not in problem
    # An identifier without a system could be anyone's (a mapping's typo): refused, not
    # counted outside CM.
    nameless = {"identifier": {"value": "X-1"}}
    assert fault(observation(subject=nameless)).problem.startswith("Observation.subject: has no")
    alone = {"identifier": {"system": "urn:mrn", "value": "MRN-77"}, "display": "Doe, Jane"}
    with pytest.raises(InvalidInput) as refused:  # a document sent alone is refused
        cmrewards.parse_fhir_message(json.dumps(observation(subject=alone)), mapping(), "r 1")
    assert "MRN-77" not in str(refused.value)
    assert "Doe" not in str(refused.value)
    group = {"resourceType": "Group", "id": "g1"}
    assert fault(bundle(group, observation(subject={"reference": "Group/g1"}))).problem == (
        "Bundle.entry[1].resource.subject: must be a Patient, not a Group"
    )
    assert fault(observation(subject=None)).problem.startswith("Observation: subject is required")


def test_two_participants_in_one_report_are_refused() -> None:
    other = observation(AMPHETAMINE, subject={"identifier": {"system": SYSTEM, "value": "P-2"}})
    assert "names another participant" in fault(bundle(observation(), other)).problem


def test_a_mapping_without_an_identity_system_is_refused_at_once() -> None:
    lab = cmrewards.load_lab_map(Path(__file__).parents[2] / "examples" / "ctn0094-map.toml")
    with pytest.raises(InvalidInput, match=r"has no \[identity\] system"):
        read(observation(), lab)


# --- NDJSON ---------------------------------------------------------------------------------


def test_ndjson_groups_observations_by_specimen_and_status_in_file_order() -> None:
    text = ndjson(
        observation(),
        observation(AMPHETAMINE, specimen={"identifier": {"value": "ACC-2"}}),
        observation(AMPHETAMINE),
        observation(value="Positive", status="corrected"),
    )
    messages = read(text)
    assert [m.position for m in messages if isinstance(m, LabMessage)] == [
        "line 1",
        "line 2",
        "line 4",
    ]
    first, second, third = (m.reports[0] for m in messages if isinstance(m, LabMessage))
    assert (first.accession, list(analytes(first))) == ("ACC-1", ["cocaine", "amphetamine"])
    assert second.accession == "ACC-2"
    assert analytes(third) == {"cocaine": (LabResult.POSITIVE, ResultStatus.CORRECTED)}


def test_ndjson_faults_name_their_line_and_the_other_reports_are_read() -> None:
    text = ndjson(
        observation(),
        observation("0000-0", specimen={"identifier": {"value": "ACC-2"}}),
        observation(specimen={"identifier": {"value": "ACC-3"}}),
    )
    good, bad, after = read(text)
    assert isinstance(good, LabMessage)
    assert isinstance(after, LabMessage)
    assert after.reports[0].accession == "ACC-3"
    assert isinstance(bad, BadRow)
    assert bad.line == 2
    assert bad.problem.startswith("Observation.code: no coding is a known analyte")
    broken = ndjson(observation()) + "{not json\n" + ndjson(observation())
    assert [
        BadRow(2, "not JSON: Expecting property name enclosed in double quotes at line 2 column 2")
    ] == read(broken)
    assert [BadRow(1, "no Observation, DiagnosticReport or Bundle in the file")] == read(
        ndjson({"resourceType": "Patient"}, {"resourceType": "Patient"})
    )


def test_ndjson_lines_may_be_reports_or_bundles() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "identifier": [{"value": "RPT-1"}],
        "result": [{"reference": "Observation/o1"}],
    }
    text = ndjson(
        observation(id="o1", specimen=None),
        report,
        bundle(observation(specimen={"identifier": {"value": "ACC-3"}})),
    )
    assert [
        (m.position, r.accession)
        for m in read(text)
        if isinstance(m, LabMessage)
        for r in m.reports
    ] == [("line 2", "RPT-1"), ("line 3", "ACC-3")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "is empty"), ("\n  \n", "is empty")],
)
def test_an_empty_file_is_refused_at_once(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        read(text)


def test_a_file_that_is_not_utf8_is_refused_at_once() -> None:
    file = io.TextIOWrapper(io.BytesIO(b'{"resourceType": "\xff"}'), encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"in\.json: not UTF-8 text"):
        list(cmrewards.read_fhir_messages(file, mapping(), "in.json"))


def test_a_pretty_printed_document_that_is_not_json_names_its_line() -> None:
    [bad] = read('{\n  "resourceType": "Observation",\n  "status": final\n}\n')
    assert BadRow(1, "not JSON: Expecting value at line 3 column 13") == bad


# --- the sample files -------------------------------------------------------------------------

PHI = (
    "Quillfeather",
    "Marguerite",
    "Odile",
    "1984-07-19",
    "Larkspur",
    "Tallowmere",
    "66999",
    "555-0142-7788",
    "m.quillfeather@example.org",
    "MRN-55501234",
    "999-12-3456",
    "female",
)


def read_sample(name: str, lab_map: LabMap) -> list[LabMessage | BadRow]:
    with (FIXTURES / name).open(encoding="utf-8") as file:
        return list(cmrewards.read_fhir_messages(file, lab_map, name))


MESSAGES = [
    "1-nine-panel-final.json",
    "2-preliminary.json",
    "3-corrected.json",
    "4-final-before-error.json",
    "5-entered-in-error.json",
    "6-dilute.json",
]
"""One document per message, in the order the EHR sent them (tests/fixtures/hl7 has the
same results as HL7 v2 messages)."""

SAMPLES = [*MESSAGES, "results.ndjson"]


def test_the_documents_and_the_ndjson_export_give_the_same_reports(ehr: LabMap) -> None:
    documents = [m for name in MESSAGES for m in read_sample(name, ehr)]
    exported = read_sample("results.ndjson", ehr)
    assert [m.reports for m in documents if isinstance(m, LabMessage)] == [
        m.reports for m in exported if isinstance(m, LabMessage)
    ]
    assert [m.position for m in exported if isinstance(m, LabMessage)] == [
        f"line {n}" for n in (3, 14, 23, 33, 42, 52)
    ]


def test_the_samples_hold_the_four_clinical_cases(ehr: LabMap) -> None:
    sent = [
        (
            r.accession,
            r.collected.isoformat(),
            {a.analyte: (a.result, a.status) for a in r.analytes},
        )
        for m in read_sample("results.ndjson", ehr)
        if isinstance(m, LabMessage)
        for r in m.reports
    ]
    assert [(accession, at) for accession, at, _ in sent] == [
        ("ACC-1001-01", "2026-03-02T09:15:00-06:00"),
        ("ACC-1001-02", "2026-03-05T09:20:00-06:00"),
        ("ACC-1001-02", "2026-03-05T09:20:00-06:00"),
        ("ACC-1001-03", "2026-03-09T09:10:00-06:00"),
        ("ACC-1001-03", "2026-03-09T09:10:00-06:00"),
        ("ACC-1001-04", "2026-03-12T09:25:00-06:00"),
    ]
    final, preliminary, corrected, before_error, withdrawn, dilute = (r for *_, r in sent)
    negative, positive = LabResult.NEGATIVE, LabResult.POSITIVE
    assert len(final) == 9  # the creatinine is mapped to "ignore"
    assert final["cannabinoids"] == (positive, ResultStatus.FINAL)
    assert {r for name, (r, _) in final.items() if name != "cannabinoids"} == {negative}
    assert preliminary["cocaine"] == (positive, ResultStatus.PRELIMINARY)
    assert set(corrected.values()) == {(negative, ResultStatus.CORRECTED)}
    assert set(before_error.values()) == {(negative, ResultStatus.FINAL)}
    assert set(withdrawn.values()) == {(None, ResultStatus.ENTERED_IN_ERROR)}
    assert set(dilute.values()) == {(LabResult.DILUTE, ResultStatus.FINAL)}
    assert {
        r.participant
        for m in read_sample("results.ndjson", ehr)
        if isinstance(m, LabMessage)
        for r in m.reports
    } == {"P-1001"}


def faulty_mappings() -> list[LabMap]:
    """Mappings under which every sample file fails on its participant or its analytes."""
    return [
        cmrewards.lab_map_from_dict({"identity": {"system": "urn:other"}}, "m1.toml"),
        cmrewards.lab_map_from_dict(
            {"identity": {"system": SYSTEM, "ids": "ids.csv"}}, "m2.toml", ids={"x": "y"}
        ),
        cmrewards.lab_map_from_dict({"identity": {"system": SYSTEM}}, "m3.toml"),
    ]


@pytest.mark.parametrize("name", SAMPLES)
def test_no_patient_content_leaves_the_reader(name: str, ehr: LabMap) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    assert all(word in text for word in PHI)  # the samples carry it all
    said = [repr(read_sample(name, ehr))]
    for lab in faulty_mappings():
        found = read_sample(name, lab)
        assert isinstance(found[-1], BadRow)
        said.append(repr(found))
    broken = text.replace('"status": "final"', '"status": "FINAL"').replace(
        '"status":"final"', '"status":"FINAL"'
    )
    said.append(repr(list(cmrewards.read_fhir_messages(io.StringIO(broken), ehr, name))))
    leaked = [word for word in PHI if any(word in s for s in said)]
    assert leaked == []


def test_an_observation_in_two_reports_is_refused_and_one_listed_twice_is_read_once() -> None:
    def report(name: str, *results: str) -> Json:
        return {
            "resourceType": "DiagnosticReport",
            "id": name,
            "status": "final",
            "result": [{"reference": f"Observation/{r}"} for r in results],
        }

    once = bundle(report("r1", "o1", "o1"), observation(id="o1"))
    assert [len(r.analytes) for r in reports(once)] == [1]
    twice = bundle(report("r1", "o1"), report("r2", "o1"), observation(id="o1"))
    assert fault(twice).problem == (
        "Bundle.entry[1].resource.result[0]: is a result of another report too:"
        " send it in one report"
    )
