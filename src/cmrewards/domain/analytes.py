"""The lab vocabulary: urine-drug-screen analyte classes and the results a lab reports.

Each analyte class has a stable name (what a program file's ``analytes`` lists), its
LOINC codes for urine, and the spellings lab exports commonly use for it. A lab
export names an analyte by any of them, case-insensitively; a mapping file
(``domain/lab_map.py``) adds the spellings of one lab.

The LOINC codes are "[Presence] in Urine" terms: ``screen`` by Screen method,
``confirmation`` by Confirmatory method, ``presence`` with no method. Each was
checked against a published table rather than typed from memory:

- loinc.org term pages (e.g. https://loinc.org/19642-8/, oxyCODONE by Screen method;
  https://loinc.org/18282-4/, Cannabinoids by Screen method);
- the LOINC enumeration of project-husky/husky (``LabObsListLoinc``), which lists
  3349-8/19261-7, 3397-7/19359-9, 3879-4/19295-5, 3390-2/14316-4, 3427-2/18282-4,
  3773-9/19550-3 and 3377-9/19270-8 with their long common names;
- the LOINC table shipped by the Elexis lab importer (DRUG/TOX class: 19554-5,
  19659-2, 16195-0, 18390-5, 3393-6, 3414-0) and OHDSI concept listings (16369-1);
- HL7's CDC opioid guideline tests (59673-4, fentaNYL by Screen method) and the
  Taiwan core value set (14267-9, MDMA);
- ARUP and Labcorp test catalogs for alcohol in urine (5644-0 Ethanol [Presence],
  42242-8 Alcohol screen) and ethyl glucuronide (45324-1, reported as mass/volume
  with a positive/negative interpretation).

A code a lab uses that is not listed here is mapped in its mapping file's
``[analytes]`` table, like any other lab spelling.
"""

from __future__ import annotations

import enum

import attrs


class LabResult(enum.StrEnum):
    """What a lab reports for one analyte of one specimen."""

    NEGATIVE = "negative"
    POSITIVE = "positive"
    DILUTE = "dilute"
    SUBSTITUTED = "substituted"
    INVALID = "invalid"
    """Adulterated, or the test could not be read."""


RESULT_SPELLINGS: dict[str, LabResult] = {
    spelling.casefold(): result
    for result, spellings in {
        LabResult.NEGATIVE: ("negative", "NEG", "N", "not detected", "none detected", "ND"),
        LabResult.POSITIVE: ("positive", "POS", "P", "detected"),
        LabResult.DILUTE: ("dilute", "DIL", "diluted"),
        LabResult.SUBSTITUTED: ("substituted", "SUB", "SUBST"),
        LabResult.INVALID: ("invalid", "INV", "adulterated", "ADULT", "ADU"),
    }.items()
    for spelling in spellings
}
"""Common lab spellings of each result, casefolded."""


@attrs.frozen
class Analyte:
    """One urine-drug-screen analyte class."""

    name: str
    """The stable name a program file lists: ``cocaine``."""
    description: str
    screen: tuple[str, ...] = ()
    """LOINC codes of "[Presence] in Urine by Screen method"."""
    confirmation: tuple[str, ...] = ()
    """LOINC codes of "[Presence] in Urine by Confirmatory method"."""
    presence: tuple[str, ...] = ()
    """LOINC codes of "[Presence] in Urine" without a method (and quantitative terms labs
    report with an interpretation)."""
    spellings: tuple[str, ...] = ()
    """How lab exports commonly name it."""

    @property
    def codes(self) -> tuple[str, ...]:
        return (*self.screen, *self.confirmation, *self.presence)


ANALYTES: tuple[Analyte, ...] = (
    Analyte(
        "cocaine",
        "cocaine and its metabolite benzoylecgonine",
        screen=("19359-9",),
        presence=("3397-7", "3393-6"),
        spellings=("Cocaine", "COC", "Benzoylecgonine", "BZE", "Cocaine metabolite"),
    ),
    Analyte(
        "amphetamine",
        "amphetamines",
        screen=("19261-7",),
        confirmation=("16369-1",),
        presence=("3349-8",),
        spellings=("Amphetamine", "Amphetamines", "AMP", "AMPH"),
    ),
    Analyte(
        "methamphetamine",
        "methamphetamine",
        screen=("19554-5",),
        spellings=("Methamphetamine", "Methamphetamines", "mAMP", "MET", "METH"),
    ),
    Analyte(
        "mdma",
        "methylenedioxymethamphetamine (ecstasy)",
        presence=("14267-9",),
        spellings=("MDMA", "Ecstasy", "Methylenedioxymethamphetamine", "XTC"),
    ),
    Analyte(
        "opiates",
        "opiates (morphine, codeine, heroin)",
        screen=("19295-5",),
        confirmation=("18390-5",),
        presence=("3879-4",),
        spellings=("Opiates", "Opiate", "Opioid", "Opioids", "OPI", "MOR", "Morphine"),
    ),
    Analyte(
        "oxycodone",
        "oxycodone",
        screen=("19642-8",),
        spellings=("Oxycodone", "OXY", "Oxycontin"),
    ),
    Analyte(
        "fentanyl",
        "fentanyl",
        screen=("59673-4",),
        spellings=("Fentanyl", "FEN", "FTY", "Fentanyl screen"),
    ),
    Analyte(
        "buprenorphine",
        "buprenorphine",
        presence=("3414-0",),
        spellings=("Buprenorphine", "BUP", "BUPRE", "Suboxone"),
    ),
    Analyte(
        "methadone",
        "methadone",
        screen=("19550-3",),
        presence=("3773-9",),
        spellings=("Methadone", "MTD", "MAD", "MTHD"),
    ),
    Analyte(
        "benzodiazepines",
        "benzodiazepines",
        screen=("14316-4",),
        confirmation=("16195-0",),
        presence=("3390-2",),
        spellings=("Benzodiazepines", "Benzodiazepine", "BZO", "BZD", "BENZ", "Benzos"),
    ),
    Analyte(
        "cannabinoids",
        "cannabinoids (THC)",
        screen=("18282-4",),
        presence=("3427-2",),
        spellings=("Cannabinoids", "Cannabinoid", "THC", "Marijuana", "Cannabis", "CANN"),
    ),
    Analyte(
        "barbiturates",
        "barbiturates",
        screen=("19270-8",),
        presence=("3377-9",),
        spellings=("Barbiturates", "Barbiturate", "BAR", "BARB"),
    ),
    Analyte(
        "phencyclidine",
        "phencyclidine (PCP)",
        screen=("19659-2",),
        spellings=("Phencyclidine", "PCP"),
    ),
    Analyte(
        "alcohol",
        "alcohol (ethanol, or its metabolite ethyl glucuronide)",
        screen=("42242-8",),
        presence=("5644-0", "45324-1"),
        spellings=("Alcohol", "Ethanol", "EtOH", "EtG", "Ethyl glucuronide", "ETG"),
    ),
)
"""The shipped vocabulary, one entry per analyte class."""

_BY_NAME = {analyte.name: analyte for analyte in ANALYTES}
_BY_SPELLING = {
    word.casefold(): analyte
    for analyte in ANALYTES
    for word in (analyte.name, *analyte.spellings, *analyte.codes)
}


def analyte_names() -> list[str]:
    """The stable names, in vocabulary order."""
    return [analyte.name for analyte in ANALYTES]


def analyte(name: str) -> Analyte | None:
    """The analyte with this stable name, or None."""
    return _BY_NAME.get(name)


def analyte_for(word: str) -> Analyte | None:
    """The analyte a lab means by ``word``: a stable name, a common spelling or a LOINC
    code, in any case; None when the vocabulary does not know it."""
    return _BY_SPELLING.get(word.strip().casefold())


def result_for(word: str) -> LabResult | None:
    """The result a lab means by ``word`` (``NEG``, ``Positive``, ``DIL`` ...), or None."""
    return RESULT_SPELLINGS.get(word.strip().casefold())
