"""The lab vocabulary, the specimen verdict, a target's analytes and mapping files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import cmrewards
from cmrewards import read_lab_file
from cmrewards.domain.analytes import ANALYTES, LabResult, analyte_for, result_for
from cmrewards.domain.lab_map import lab_map_from_dict, load_lab_map
from cmrewards.domain.schedules import Outcome
from cmrewards.domain.specimens import specimen_verdict
from cmrewards.errors import InvalidInput

NEG, POS, DIL = LabResult.NEGATIVE, LabResult.POSITIVE, LabResult.DILUTE
STIMULANTS = ("cocaine", "amphetamine")


# --- the vocabulary -----------------------------------------------------------------


def test_the_vocabulary_has_the_common_urine_drug_screen_classes() -> None:
    names = {a.name for a in ANALYTES}
    assert {
        "cocaine", "amphetamine", "methamphetamine", "opiates", "oxycodone", "fentanyl",
        "buprenorphine", "methadone", "benzodiazepines", "cannabinoids", "barbiturates",
        "phencyclidine", "mdma", "alcohol",
    } <= names  # fmt: skip
    assert all(a.codes for a in ANALYTES)


def test_no_spelling_or_code_means_two_analytes() -> None:
    words = [w for a in ANALYTES for w in {x.casefold() for x in (a.name, *a.spellings, *a.codes)}]
    assert len(words) == len(set(words))


@pytest.mark.parametrize(
    ("word", "name"),
    [
        ("Cocaine", "cocaine"),
        ("COC", "cocaine"),
        ("benzoylecgonine", "cocaine"),
        ("THC", "cannabinoids"),
        ("Opioid", "opiates"),
        ("Opiates", "opiates"),
        ("Benzodiazepine", "benzodiazepines"),
        ("Amphetamine", "amphetamine"),
        ("19359-9", "cocaine"),
        ("19261-7", "amphetamine"),
        (" Methadone ", "methadone"),
    ],
)
def test_lab_spellings_and_loinc_codes_name_an_analyte(word: str, name: str) -> None:
    found = analyte_for(word)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize(
    ("word", "result"),
    [("NEG", NEG), ("Negative", NEG), ("pos", POS), ("Positive", POS), ("DIL", DIL),
     ("Dilute", DIL), ("Substituted", LabResult.SUBSTITUTED),
     ("Adulterated", LabResult.INVALID)],
)  # fmt: skip
def test_lab_spellings_name_a_result(word: str, result: LabResult) -> None:
    assert result_for(word) is result


# --- the verdict ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        ({"cocaine": NEG, "amphetamine": NEG}, Outcome.MET),
        ({"cocaine": NEG, "amphetamine": POS}, Outcome.NOT_MET),
        ({"amphetamine": POS}, Outcome.NOT_MET),  # a positive decides at once
        ({"cocaine": NEG}, None),  # pending: amphetamine not reported
        ({}, None),
        ({"cocaine": NEG, "amphetamine": DIL}, Outcome.INVALID),
        ({"cocaine": LabResult.SUBSTITUTED, "amphetamine": NEG}, Outcome.INVALID),
        ({"cocaine": POS, "amphetamine": DIL}, Outcome.NOT_MET),  # positive wins
        ({"cocaine": DIL}, None),  # a dilute waits: a positive may still come
        ({"cocaine": NEG, "amphetamine": NEG, "opiates": POS}, Outcome.MET),  # not required
    ],
)
def test_specimen_verdict(results: dict[str, LabResult], verdict: Outcome | None) -> None:
    assert specimen_verdict(STIMULANTS, results) == verdict


# --- a target's analytes --------------------------------------------------------------


def program(**target: object) -> dict[str, object]:
    return {
        "id": "p",
        "name": "P",
        "targets": [{"id": "stim", "schedule": {"kind": "fixed", "amount": 1}, **target}],
    }


def test_a_target_lists_its_analytes_and_keeps_them_in_its_stored_form() -> None:
    parsed = cmrewards.program_from_dict(program(analytes=["cocaine", "amphetamine"]), "p.toml")
    assert parsed.targets[0].analytes == STIMULANTS
    assert parsed.to_dict()["targets"][0]["analytes"] == list(STIMULANTS)
    assert cmrewards.program_from_dict(parsed.to_dict(), "stored") == parsed


def test_a_target_without_analytes_is_stored_as_before() -> None:
    parsed = cmrewards.program_from_dict(program(), "p.toml")
    assert parsed.targets[0].analytes == ()
    assert "analytes" not in parsed.to_dict()["targets"][0]


def test_an_unknown_analyte_is_refused_with_the_list() -> None:
    with pytest.raises(InvalidInput) as refused:
        cmrewards.program_from_dict(program(analytes=["cocaine", "crack"]), "p.toml")
    message = str(refused.value)
    assert message.startswith("p.toml: targets[0].analytes: 'crack' is not an analyte (")
    assert "cocaine, amphetamine" in message


# --- mapping files ----------------------------------------------------------------------

COLUMNS = {
    "participant": "Patient ID",
    "specimen": "Specimen ID",
    "collected": "Collected",
    "analyte": "Analyte",
    "result": "Result",
}


def test_a_mapping_adds_the_lab_s_words_to_the_vocabulary() -> None:
    lab = lab_map_from_dict(
        {
            "columns": COLUMNS,
            "results": {"Neg.": "negative"},
            "analytes": {"COC-S": "cocaine", "Creatinine": "ignore"},
        },
        "m.toml",
    )
    assert lab.result_of("neg.") is NEG
    assert lab.result_of("POS") is POS
    assert lab.analyte_of("coc-s") == "cocaine"
    assert lab.analyte_of("THC") == "cannabinoids"
    assert lab.analyte_of("Creatinine") == "ignore"
    assert lab.analyte_of("pH") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "m.toml: columns: a mapping needs [columns] (a CSV export) or [identity]"),
        ({"columns": 1}, "m.toml: columns: must be a [columns] table"),
        ({"identity": {"system": ""}}, "m.toml: identity.system: must be a non-empty"),
        ({"identity": {"system": "s", "pid": "x"}}, "m.toml: identity.pid: unknown key"),
        ({"identity": {"ids": "ids.csv"}}, "m.toml: identity.ids: the identifier map is empty"),
        ({"columns": {**COLUMNS, "result": None}}, "m.toml: columns.result: is required"),
        ({"columns": {**COLUMNS, "extra": "X"}}, "m.toml: columns.extra: unknown key"),
        ({"columns": COLUMNS, "results": {"P": "yes"}}, "m.toml: results.P: 'yes' is not one"),
        ({"columns": COLUMNS, "analytes": {"X": "crack"}}, "m.toml: analytes.X: 'crack' is not"),
        ({"columns": COLUMNS, "time_format": "mm/dd"}, "m.toml: time_format: must be"),
        ({"columns": COLUMNS, "final_statuses": ["F"]}, "m.toml: final_statuses: needs"),
        ({"columns": COLUMNS, "colour": 1}, "m.toml: colour: unknown key"),
    ],
)
def test_a_bad_mapping_names_the_file_and_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        lab_map_from_dict(data, "m.toml")
    assert str(refused.value).startswith(message)


def test_an_identity_mapping_reads_messages_not_csv(tmp_path: Path) -> None:
    (tmp_path / "ids.csv").write_text("identifier,participant\nMRN-77,P-1001\n")
    (tmp_path / "lab.toml").write_text('[identity]\nsystem = "urn:x"\nids = "ids.csv"\n')
    lab_map = load_lab_map(tmp_path / "lab.toml")
    assert lab_map.identity.system == "urn:x"
    assert lab_map.identity.participant_for("MRN-77") == "P-1001"
    assert lab_map.identity.participant_for("MRN-78") is None
    assert not lab_map.has_columns
    with pytest.raises(InvalidInput, match="has no \\[columns\\] to read a CSV export"):
        list(read_lab_file(io.StringIO("a,b\n"), lab_map, "lab.csv"))


def test_an_ids_file_that_repeats_an_identifier_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "ids.csv").write_text("identifier,participant\nMRN-77,P-1\nMRN-77,P-2\n")
    (tmp_path / "lab.toml").write_text('[identity]\nassigning_authority = "A"\nids = "ids.csv"\n')
    with pytest.raises(InvalidInput) as refused:
        load_lab_map(tmp_path / "lab.toml")
    assert "line 3: this identifier is listed twice" in str(refused.value)
    assert "MRN-77" not in str(refused.value)
