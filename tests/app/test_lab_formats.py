"""``import FILE`` tells the format from the content: HL7 v2, FHIR JSON, or CSV."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import cmrewards
from cmrewards import (
    BadRow,
    InvalidInput,
    LabFormat,
    LabMessage,
    lab_file_format,
    read_lab_messages,
)

HL7 = Path(__file__).parents[1] / "fixtures" / "hl7"
LAB = cmrewards.load_lab_map(HL7 / "lab.toml")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("MSH|^~\\&|LAB|", LabFormat.HL7),
        ("FHS|^~\\&|LAB|", LabFormat.HL7),
        ("BHS|^~\\&|LAB|", LabFormat.HL7),
        ("\ufeff\r\n\x0bMSH|^~\\&|", LabFormat.HL7),  # a BOM, a blank line, an MLLP start byte
        ('{"resourceType": "Bundle", "type": "collection"}', LabFormat.FHIR),
        ('{"resourceType":"Observation"}\n{"resourceType":"Observation"}\n', LabFormat.FHIR),
        ("  \n{\n", LabFormat.FHIR),
        ("participant,target,outcome,at,key,note\n", LabFormat.CSV),
        ("MSHA,Patient ID,Collected\n", LabFormat.CSV),  # a column named like a segment
        ("PID|1||P-1001^^^CLINIC^MR\r", LabFormat.HL7),  # HL7 with its MSH cut off
        ("OBX|1|ST|3397-7^Cocaine^LN\r", LabFormat.HL7),
        ("PID,Collected\n", LabFormat.CSV),
        ("MSH", LabFormat.CSV),
        ("", LabFormat.CSV),
    ],
)
def test_the_format_is_told_from_the_start_of_the_content(head: str, expected: LabFormat) -> None:
    assert lab_file_format(head) is expected


def test_read_lab_messages_reads_an_hl7_file_from_its_start() -> None:
    file = io.StringIO((HL7 / "batch.hl7").read_bytes().decode(), newline="")
    found = list(read_lab_messages(file, LAB, "batch.hl7"))
    assert [m.position for m in found if isinstance(m, LabMessage)] == [
        "line 3",
        "line 17",
        "line 31",
    ]


def test_hl7_without_its_msh_is_refused_as_hl7_naming_the_line() -> None:
    """Not "a CSV file holds rows": the file is HL7 whose header is missing."""
    text = "PID|1||P-1001^^^CLINIC^MR||Doe^Jane\rOBR|1||ACC-1\r"
    found = list(read_lab_messages(io.StringIO(text, newline=""), LAB, "cut.hl7"))
    assert found == [BadRow(1, "a segment before any MSH: every message starts with MSH")]


def test_read_lab_messages_refuses_rows_and_a_mapping_without_identity() -> None:
    with pytest.raises(InvalidInput, match=r"lab\.csv: a CSV file holds rows"):
        read_lab_messages(io.StringIO("participant,target\n"), LAB, "lab.csv")
    columns = cmrewards.lab_map_from_dict(
        {
            "columns": {
                "participant": "P",
                "specimen": "S",
                "collected": "C",
                "analyte": "A",
                "result": "R",
            }
        },
        "csv.toml",
    )
    with pytest.raises(InvalidInput, match=r"csv\.toml has no \[identity\] assigning_authority"):
        read_lab_messages(io.StringIO("MSH|^~\\&|\r"), columns, "lab.hl7")
