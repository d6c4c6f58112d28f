"""The HL7 v2 reader: ORU^R01 messages into LabMessage records, errors in one line, no PHI.

The sample files under tests/fixtures/hl7 were written for these tests from the HL7 v2.5.1
lab results message structure; every one carries full (invented) demographics.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path

import pytest

import cmrewards
from cmrewards import (
    BadRow,
    InvalidInput,
    LabMessage,
    LabResult,
    ResultStatus,
    hl7_ack,
    parse_oru,
    read_hl7_messages,
)
from support.panels import NINE_PANEL_ANALYTES

HL7 = Path(__file__).parents[1] / "fixtures" / "hl7"
LAB = cmrewards.load_lab_map(HL7 / "lab.toml")
CST = dt.timezone(dt.timedelta(hours=-6))

PHI = (
    "Quimby",
    "Harriet",
    "19810714",
    "Larkspur",
    "Dubuque",
    "52001",
    "5550142",
    "NS-558812",
    "987-65-4320",
    "ACCT-77120",
    "Thornbury",
    "Oswin",
    "19750203",
    "Willowbrook",
    "NS-604417",
    "987-65-4321",
    "Vasquez-Lindqvist",
    "Marisol",
    "Old Quarry",
    "NS-712093",
    "987-65-4322",
)
"""What the sample files say about the people: none of it may come out of the reader."""
DERIVED = ("1981-07-14", "1981, 7, 14", "QUIMBY", "quimby")
"""The same, as a reader might have rewritten it."""


def lab_map(
    identity: dict[str, str], ids: dict[str, str] | None = None, **more: object
) -> cmrewards.LabMap:
    """The samples' mapping (creatinine ignored) with another ``[identity]``."""
    analytes = {"2161-8": "ignore", **more.pop("analytes", {})}  # type: ignore[dict-item]
    data = {"identity": identity, "analytes": analytes, **more}
    return cmrewards.lab_map_from_dict(data, "lab.toml", ids=ids)


def text_of(name: str) -> str:
    return (HL7 / name).read_bytes().decode()


def read(text: str, lab_map: cmrewards.LabMap = LAB) -> list[LabMessage | BadRow]:
    return list(read_hl7_messages(io.StringIO(text, newline=""), lab_map, "lab.hl7"))


def read_file(name: str) -> list[LabMessage]:
    with (HL7 / name).open(encoding="utf-8", newline="") as file:
        found = list(read_hl7_messages(file, LAB, name))
    assert all(isinstance(m, LabMessage) for m in found), found
    return [m for m in found if isinstance(m, LabMessage)]


def results(message: LabMessage) -> dict[str, tuple[LabResult | None, ResultStatus]]:
    (report,) = message.reports
    return {a.analyte: (a.result, a.status) for a in report.analytes}


def test_a_nine_panel_final_reads_as_one_report_of_nine_analytes() -> None:
    (message,) = read_file("nine_panel_final.hl7")
    (report,) = message.reports
    assert message.position == "line 1"
    assert message.control_id == "ACME-20260302-0001"
    assert report.participant == "P-1001"
    assert report.accession == "ACC-1001-01"  # OBR-3, the filler's number, not OBR-2's
    assert report.collected == dt.datetime(2026, 3, 2, 9, 15, tzinfo=CST)
    expected = dict.fromkeys(NINE_PANEL_ANALYTES, (LabResult.NEGATIVE, ResultStatus.FINAL))
    expected["cannabinoids"] = (LabResult.POSITIVE, ResultStatus.FINAL)
    assert expected == results(message)  # creatinine is mapped "ignore"


def test_a_preliminary_result_then_its_correction() -> None:
    preliminary, corrected = read_file("preliminary_then_corrected.hl7")
    assert results(preliminary)["cocaine"] == (LabResult.POSITIVE, ResultStatus.PRELIMINARY)
    assert results(corrected)["cocaine"] == (LabResult.NEGATIVE, ResultStatus.CORRECTED)
    assert preliminary.reports[0].accession == corrected.reports[0].accession == "ACC-1001-02"
    assert [preliminary.position, corrected.position] == ["line 1", "line 15"]


def test_entered_in_error_takes_back_every_analyte_without_a_value() -> None:
    final, withdrawn = read_file("entered_in_error.hl7")
    assert {(LabResult.NEGATIVE, ResultStatus.FINAL)} == set(results(final).values())
    assert {(None, ResultStatus.ENTERED_IN_ERROR)} == set(results(withdrawn).values())
    assert len(results(withdrawn)) == 9


def test_a_dilute_specimen_makes_its_negative_results_dilute() -> None:
    (message,) = read_file("dilute.hl7")
    assert {(LabResult.DILUTE, ResultStatus.FINAL)} == set(results(message).values())
    assert message.reports[0].collected == dt.datetime(2026, 3, 12, 9, 25, tzinfo=CST)


def test_a_positive_beside_a_dilute_specimen_stays_positive() -> None:
    text = text_of("dilute.hl7").replace(
        "19359-9^Cocaine [Presence] in Urine by Screen method^LN||260385009^Negative^SCT",
        "19359-9^Cocaine [Presence] in Urine by Screen method^LN||10828004^Positive^SCT",
    )
    (message,) = read(text)
    assert isinstance(message, LabMessage)
    assert results(message)["cocaine"] == (LabResult.POSITIVE, ResultStatus.FINAL)
    assert results(message)["opiates"] == (LabResult.DILUTE, ResultStatus.FINAL)


def test_a_batch_file_yields_each_message_and_drops_the_envelope() -> None:
    messages = read_file("batch.hl7")
    assert [m.position for m in messages] == ["line 3", "line 17", "line 31"]
    assert [m.reports[0].participant for m in messages] == ["P-1001", "P-1002", "P-1003"]
    assert [m.reports[0].accession for m in messages] == [
        "ACC-1001-05",
        "ACC-1002-01",
        "ACC-1003-01",
    ]
    assert results(messages[1])["opiates"] == (LabResult.POSITIVE, ResultStatus.FINAL)


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"], ids=["CR", "LF", "CRLF"])
def test_any_segment_end_reads_the_same(end: str) -> None:
    text = text_of("batch.hl7").replace("\r", end)
    framed = "\x0b" + text + "\x1c\r"  # a capture that kept the MLLP framing
    expected = read_file("batch.hl7")
    assert expected == read(text) == read(framed)


def test_file_lines_count_for_the_position_with_any_line_end() -> None:
    (message,) = read("\n\n" + text_of("nine_panel_final.hl7").replace("\r", "\r\n"))
    assert isinstance(message, LabMessage)
    assert message.position == "line 3"


NINE_PANEL = text_of("nine_panel_final.hl7")


def variant(*swaps: tuple[str, str]) -> str:
    text = NINE_PANEL
    for old, new in swaps:
        assert old in text, old
        text = text.replace(old, new)
    return text


def only(text: str, lab_map: cmrewards.LabMap = LAB) -> LabMessage:
    (message,) = read(text, lab_map)
    assert isinstance(message, LabMessage), message
    return message


def test_the_placer_number_is_the_accession_when_the_filler_s_is_empty() -> None:
    text = variant(("|ACC-1001-01^ACMELAB|UDS9", "||UDS9"))
    assert only(text).reports[0].accession == "PLC-1001-01"


def test_spm_17_is_the_collection_time_when_present() -> None:
    text = variant(("|||||||||||||202603020915-0600|", "|||||||||||||20260302084530-0600|"))
    assert only(text).reports[0].collected == dt.datetime(2026, 3, 2, 8, 45, 30, tzinfo=CST)


def test_a_time_without_an_offset_is_naive() -> None:
    text = variant(("|||202603020915-0600|||", "|||202603020915|||"), ("SPM|", "NTE|"))
    assert only(text).reports[0].collected == dt.datetime(2026, 3, 2, 9, 15)


def test_the_ids_file_maps_the_identifier_to_the_participant() -> None:
    mapped = lab_map({"assigning_authority": "CMREWARDS", "ids": "ids.csv"}, {"P-1001": "CM-77"})
    assert only(NINE_PANEL, mapped).reports[0].participant == "CM-77"


def test_a_numeric_value_is_read_by_its_abnormal_flag() -> None:
    etg = "45324-1^Ethyl glucuronide [Mass/volume] in Urine^LN"
    line = f"OBX|10|NM|{etg}||812|ng/mL^ng/mL^UCUM|<500|{{flag}}|||F\r"
    for flag, result in (("H", LabResult.POSITIVE), ("N", LabResult.NEGATIVE)):
        text = NINE_PANEL.replace("SPM|", line.format(flag=flag) + "SPM|")
        assert results(only(text))["alcohol"] == (result, ResultStatus.FINAL)


def test_a_local_code_maps_through_the_mapping_and_the_alternate_code_is_tried() -> None:
    local = lab_map({"assigning_authority": "CMREWARDS"}, analytes={"XCOC": "cocaine"})
    text = variant(("19359-9^Cocaine [Presence] in Urine by Screen method^LN", "XCOC^Coke^L"))
    assert results(only(text, local))["cocaine"] == (LabResult.NEGATIVE, ResultStatus.FINAL)
    alternate = variant(
        ("19359-9^Cocaine [Presence] in Urine by Screen method^LN", "Q1^x^L^19359-9")
    )
    assert results(only(alternate))["cocaine"] == (LabResult.NEGATIVE, ResultStatus.FINAL)


BAD = [
    (
        ("ORU^R01^ORU_R01", "ADT^A08^ADT_A01"),
        "MSH-9 'ADT^A08' is not ORU^R01: only lab results are read",
    ),
    (
        ("19359-9^Cocaine", "ZZ-9^Cocaine"),
        "OBX-3 'ZZ-9' is not a known analyte or LOINC code; map it in [analytes] of",
    ),
    (("10828004^Positive^SCT^POS^Positive^L", "MAYBE^Unclear^L"), "OBX-5 'MAYBE' is not a known"),
    (("^L||||||F|||20260302123000", "^L||||||R|||20260302123000"), "OBX-11 'R' is not a status"),
    (("^L||||||F|||20260302123000", "^L|||||||||20260302123000"), "OBX-11 (the result status"),
    (("|||202603020915-0600|||", "|||20260302|||"), "OBR-7 '20260302' is not an HL7 date and"),
    (("|||202603020915-0600|||", "|||202613020915-0600|||"), "OBR-7 '202613020915-0600' is not"),
    (("|PLC-1001-01^NSCLINIC|ACC-1001-01^ACMELAB|UDS9", "|||UDS9"), "OBR 1: OBR-3 (filler"),
    (("SPM|1|", "SPM|1|X||UR\rSPM|2|"), "OBR 1 has a second SPM: one specimen per OBR"),
    (("\rPID|", "\rZPD|"), "OBR before any PID"),
    (("\rOBR|", "\rOBX|1|ST|19359-9^x^LN||NEG||||||F\rOBR|"), "OBX before any OBR"),
    (("\rPV1|", "\rthis is no segment\rPV1|"), "not an HL7 segment"),
    (
        (
            "|112|mg/dL^mg/dL^UCUM|20-300|N|",
            "|112|mg/dL^mg/dL^UCUM|20-300|N|\rOBX|11|NM|45324-1^EtG^LN||9||||||F|",
        ),
        "OBX-5 is a number and OBX-8 '' does not say positive",
    ),
    (
        ("SPM|", "OBX|12|CWE|3397-7^Cocaine^LN||POS^Positive^L||||||F\rSPM|"),
        "OBR 1: OBX-3 '19359-9' and '3397-7' both report cocaine, differently",
    ),
]


@pytest.mark.parametrize(("swap", "problem"), BAD, ids=[p for _, p in BAD])
def test_a_bad_message_is_one_bad_row_and_the_next_message_still_reads(
    swap: tuple[str, str], problem: str
) -> None:
    bad, good = read(variant(swap) + text_of("dilute.hl7"))
    assert isinstance(bad, BadRow)
    assert problem in bad.problem
    assert "\n" not in bad.problem
    assert isinstance(good, LabMessage)
    with pytest.raises(InvalidInput, match=r"^where: ") as raised:
        parse_oru(variant(swap), LAB, "where")
    assert problem in str(raised.value)


def test_a_bad_row_names_the_line_of_the_segment_at_fault() -> None:
    text = variant(("19359-9^Cocaine", "ZZ-9^Cocaine")).replace("\r", "\n")
    (bad,) = read(text)
    assert isinstance(bad, BadRow)
    assert text.splitlines()[bad.line - 1].startswith("OBX|4|CWE|ZZ-9")


def test_segments_before_any_msh_are_one_bad_row() -> None:
    found = read("PID|1||X^^^CMREWARDS\rOBR|1\r" + NINE_PANEL)
    assert [type(f) for f in found] == [BadRow, LabMessage]
    assert found[0] == BadRow(1, "a segment before any MSH: every message starts with MSH")


def test_parse_oru_takes_one_message() -> None:
    message = parse_oru(NINE_PANEL, LAB, "from 127.0.0.1")
    assert message.position == "from 127.0.0.1"
    assert message == attrs_evolve_position(read_file("nine_panel_final.hl7")[0], "from 127.0.0.1")
    with pytest.raises(InvalidInput, match="more than one MSH"):
        parse_oru(NINE_PANEL + NINE_PANEL, LAB, "m")
    with pytest.raises(InvalidInput, match="starts with an MSH"):
        parse_oru("PID|1\r" + NINE_PANEL, LAB, "m")


def attrs_evolve_position(message: LabMessage, position: str) -> LabMessage:
    return LabMessage(message.reports, position, message.control_id)


def test_a_mapping_without_an_assigning_authority_is_refused_at_once() -> None:
    fhir_only = cmrewards.lab_map_from_dict({"identity": {"system": "urn:x"}}, "fhir.toml")
    with pytest.raises(InvalidInput, match=r"fhir.toml has no \[identity\] assigning_authority"):
        read(NINE_PANEL, fhir_only)
    with pytest.raises(InvalidInput, match="assigning_authority"):
        parse_oru(NINE_PANEL, fhir_only, "m")


def test_an_identifier_the_ids_file_does_not_list_is_outside_cm_and_not_echoed() -> None:
    mapped = lab_map({"assigning_authority": "NSCLINIC", "ids": "ids.csv"}, {"NS-000001": "CM-1"})
    assert read(NINE_PANEL, mapped) == [LabMessage((), "line 1", not_in_cm=1)]
    with pytest.raises(InvalidInput) as refused:  # the listener's one message: refused
        parse_oru(NINE_PANEL, mapped, "m")
    assert str(refused.value) == (
        "m: PID-3: the identifier with assigning authority 'NSCLINIC' is not in the ids file"
        " of lab.toml"
    )


def test_a_patient_without_the_cm_identifier_is_outside_cm_and_the_next_message_reads() -> None:
    """A lab sends every patient's results; those without the clinic's CM identifier are
    passed over unread and counted, not refused."""
    outside, good = read(variant(("^^^CMREWARDS^PI", "^^^OTHER^PI")) + text_of("dilute.hl7"))
    assert outside == LabMessage((), "line 1", not_in_cm=1)
    assert isinstance(good, LabMessage)
    assert len(good.reports) == 1
    with pytest.raises(InvalidInput, match=r"^m: PID-3 has no identifier with assigning"):
        parse_oru(variant(("^^^CMREWARDS^PI", "^^^OTHER^PI")), LAB, "m")


def test_a_message_of_two_patients_keeps_the_cm_one_and_counts_the_other() -> None:
    first = NINE_PANEL.split("\rOBR", 1)
    second = text_of("dilute.hl7")
    pid = next(s for s in second.replace("\n", "\r").split("\r") if s.startswith("PID"))
    orders = second.replace("\n", "\r").split("\rOBR", 1)[1]
    outside_pid = pid.replace("^^^CMREWARDS^PI", "^^^OTHER^PI")
    both = f"{first[0]}\rOBR{first[1].rstrip()}\r{outside_pid}\rOBR{orders}"
    (message,) = read(both)
    assert isinstance(message, LabMessage)
    assert (len(message.reports), message.not_in_cm) == (1, 1)


# --- PHI never leaves the reader ----------------------------------------------------------


def every_output(caplog: pytest.LogCaptureFixture) -> str:
    """Every record and error the reader makes of the samples and of broken variants."""
    out: list[str] = []
    for path in sorted(HL7.glob("*.hl7")):
        out += [repr(m) for m in read(path.read_bytes().decode())]
    for swap, _ in BAD:
        out += [repr(m) for m in read(variant(swap))]
        try:
            parse_oru(variant(swap), LAB, "m")
        except InvalidInput as error:
            out.append(str(error))
    mapped = lab_map({"assigning_authority": "NSCLINIC", "ids": "ids.csv"}, {"NS-000001": "CM-1"})
    out += [repr(m) for m in read(NINE_PANEL, mapped)]
    out += [hl7_ack(NINE_PANEL, "AE", "refused"), hl7_ack("PID|garbage", "AR", "no")]
    out += [r.getMessage() for r in caplog.records]
    return "\n".join(out)


def test_no_name_birth_date_address_phone_or_other_identifier_comes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sample = "".join(p.read_bytes().decode() for p in HL7.glob("*.hl7"))
    assert all(word in sample for word in PHI)  # the samples do carry them
    output = every_output(caplog)
    assert "P-1001" in output
    assert "BadRow" in output
    leaked = [word for word in (*PHI, *DERIVED) if word in output]
    assert not leaked


# --- acknowledgements ---------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 2, 19, 20, 5, tzinfo=dt.UTC)


def segments(ack: str) -> list[list[str]]:
    assert ack.endswith("\r")
    return [s.split("|") for s in ack.rstrip("\r").split("\r")]


def test_an_ack_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    msh, msa = segments(hl7_ack(NINE_PANEL, "AA", now=NOW))
    assert msh[:7] == [
        "MSH",
        "^~\\&",
        "CMREWARDS",
        "NORTHSIDE RECOVERY CLINIC",
        "ACMELAB^2.16.840.1.113883.3.9999.1^ISO",
        "ACME REFERENCE LABORATORY",
        "20260302192005+0000",
    ]
    assert msh[8] == "ACK^R01^ACK"
    assert msh[9]  # the ACK's own control id
    assert msh[11] == "2.5.1"
    assert msa == ["MSA", "AA", "ACME-20260302-0001"]


def test_an_error_ack_carries_the_reason_escaped() -> None:
    _, msa = segments(hl7_ack(NINE_PANEL, "AE", "OBX-5 'A|B^C' is not\na known result"))
    assert msa == ["MSA", "AE", "ACME-20260302-0001", "OBX-5 'A\\F\\B\\S\\C' is not a known result"]


def test_an_unreadable_message_is_still_acknowledged() -> None:
    msh, msa = segments(hl7_ack("not HL7 at all", "AR", "not an HL7 message"))
    assert msh[0] == "MSH"
    assert msa == ["MSA", "AR", "", "not an HL7 message"]
    other = "MSH|^~\\&|LIS|LAB|CM|CLINIC|2026||ADT|C-9|P|2.3\rPID|1"
    msh, msa = segments(hl7_ack(other, "AR", "not ORU^R01"))
    assert msh[2:6] == ["CM", "CLINIC", "LIS", "LAB"]
    assert msa == ["MSA", "AR", "C-9", "not ORU\\S\\R01"]


def test_an_ack_code_is_one_of_three() -> None:
    with pytest.raises(InvalidInput, match="ACK code 'CA'"):
        hl7_ack(NINE_PANEL, "CA", None)  # type: ignore[arg-type]
