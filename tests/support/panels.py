"""The lab panels the sample lab files report, as the tests name their analytes."""

from __future__ import annotations

NINE_PANEL_ANALYTES = (
    "amphetamine",
    "barbiturates",
    "benzodiazepines",
    "cocaine",
    "cannabinoids",
    "methadone",
    "opiates",
    "oxycodone",
    "phencyclidine",
)
"""The nine-panel urine drug screen of the HL7 and FHIR samples, in the samples' order."""
