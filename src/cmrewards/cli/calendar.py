"""Commands of the protocol calendar: closing it through a date, excused absences."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

import cmrewards

from ._ids import PARTICIPANT, TARGET
from ._output import plural
from ._shell import Recorded, Settings, actor_option, cli, emit, money, pass_settings, typed_text

if TYPE_CHECKING:
    from cmrewards import CloseReport, VisitResult


@cli.command()
@click.option(
    "--through",
    required=True,
    metavar="DATE",
    help="Last day to close, YYYY-MM-DD (not after today).",
)
@actor_option()
@pass_settings
def close(settings: Settings, through: str, actor: str) -> None:
    """Close the calendar: record `missed` for every owed sample without a result in every
    program week that ended by DATE, for every active enrolment; safe to rerun.

    A result that arrives later for a closed week replaces its `missed`; programs stored
    before the calendar are skipped.
    """
    report = settings.clinic().close_calendar(
        cmrewards.parse_date(through, "--through"), actor=actor
    )
    seen = None
    if report.closed:
        first = report.closed[0].participant
        seen = Recorded(f"closing through {report.through}", f"cmrewards history {first}")
    emit(settings, report, lambda: describe_close(report), recorded=seen)
    stopped(report)


def stopped(report: CloseReport) -> None:
    """Exit with the code of the error a close stopped at, saying so; nothing if complete."""
    if not report.complete:
        click.echo(f"cmrewards: closing stopped at {report.error}", err=True)
        sys.exit(report.exit_code)


def describe_close(report: CloseReport) -> str:
    """One paragraph for a person: what closing wrote, and what it stopped at."""
    per_target = ", ".join(f"{target} {n}" for target, n in report.missed.items())
    missed = f"{plural(report.samples, 'sample')} recorded missed"
    if per_target:
        missed += f" ({per_target})"
    from ._settled import combined, says_something, settled_parts  # not on balance's path

    settled = combined([c.settlement for c in report.closed if c.settlement], "close")
    lines = [
        f"closed {plural(report.participants, 'participant')} through {report.through}:"
        f" {missed} in {plural(report.weeks, 'participant-week')}"
    ]
    if says_something(settled):
        # In the words every other settlement line uses: paid, taken back, draws, prizes.
        lines.append(f"awards after the missed samples settled: {settled_parts(settled)}")
    if report.skipped_programs:
        lines.append(
            "skipped (stored before the calendar, calendar = false): "
            + ", ".join(report.skipped_programs)
        )
    if not report.complete:
        lines.append(f"stopped at {report.error}")
    return "\n".join(lines)


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@click.option("--date", "day", required=True, metavar="DATE", help="The day excused, YYYY-MM-DD.")
@click.option(
    "--reason", required=True, callback=typed_text, help="Why: kept as the result's note."
)
@click.option(
    "--target", type=TARGET, help="Excuse this target only (default: every target the week owes)."
)
@actor_option()
@pass_settings
def excuse(
    settings: Settings, participant: str, day: str, reason: str, target: str | None, actor: str
) -> None:
    """Record an excused absence: an `excused` result (no award, no reset, the streak kept)
    that fills an owed sample of the day's week, at that day's visit or noon.

    In a week already closed it replaces the `missed` written for it; a week that already
    has every sample it owes is refused.
    """
    result = settings.clinic().excuse(
        participant, cmrewards.parse_date(day, "--date"), reason=reason, actor=actor, target=target
    )
    seen = Recorded(f"the excused absence of {result.visit}", f"cmrewards history {participant}")
    emit(settings, result, lambda: _describe_excuse(result), recorded=seen)


def _describe_excuse(result: VisitResult) -> str:
    from ._settled import describe_settlement, says_something  # not on balance's path

    lines = [f"{result.participant} excused on {result.visit}:"]
    for one in result.results:
        line = f"  {one.target}: {one.outcome}"
        if one.replayed:
            line += " (already recorded; nothing written)"
        if one.replaced:
            line += f", replaces missed outcome {', '.join(str(i) for i in one.replaced)}"
        if one.settlement is not None and says_something(one.settlement):
            line += f"; {describe_settlement(one.settlement)}"
        lines.append(line)
    balance = result.balance
    lines.append(
        f"balance {plural(balance.points, 'point')} ({money(balance.value_cents)}),"
        f" {balance.available_points:,} available"
    )
    return "\n".join(lines)
