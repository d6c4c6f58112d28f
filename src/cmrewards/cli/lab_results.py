"""``results``: a participant's analyte results as they stand, preliminary ones included.

A preliminary result is shown but not paid (issue 13): the desk sees it here, with its
status, before the final result decides the specimen. ``balance`` says how many specimens
still wait for one (``Balance.awaiting_final``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ._ids import PARTICIPANT
from ._output import Column, csv_option, emit_list, when, when_iso
from ._shell import Settings, cli, pass_settings

if TYPE_CHECKING:
    from cmrewards import AnalyteReading


def result_columns(timezone: str) -> list[Column[AnalyteReading]]:
    """One analyte of one specimen a row: collection time in the program's zone, the latest
    result and its status, and how many reports the lab sent for it."""
    return [
        Column("specimen", lambda r: r.specimen),
        Column(
            "collected",
            lambda r: when(r.collected_at, timezone),
            csv=lambda r: when_iso(r.collected_at, timezone),
        ),
        Column("analyte", lambda r: r.analyte),
        Column("result", lambda r: "" if r.result is None else str(r.result)),
        Column("status", lambda r: str(r.status)),
        Column("reports", lambda r: r.reports, right=True),
    ]


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@csv_option()
@pass_settings
def results(settings: Settings, participant: str) -> None:
    """A participant's analyte results as they stand (preliminary, final, corrected,
    entered-in-error, cancelled), specimens in order of collection."""
    clinic = settings.clinic()
    readings = clinic.analyte_results(participant)
    columns = result_columns(clinic.timezone(participant))
    emit_list(
        settings, readings, columns, readings, empty=f"{participant} has no analyte results yet"
    )
