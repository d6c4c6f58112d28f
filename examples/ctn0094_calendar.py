"""A real lab export through the protocol calendar: what closing the calendar changes.

The CTN-0094 export (``../shared/data/ctn0094/lab_results.csv``: 150 CTN-0027 participants,
one row per analyte, no row for a week nobody came) is imported through
``ctn0094-map.toml`` into the weekly stimulant program of ``ctn0094-program.toml``, each
participant enrolled on their first visit; then the calendar is closed through the end of
everyone's week 12, so each week without a specimen is a missed sample. The table shows
each participant's weeks (M negative, x positive, . missed) and their points as imported
and once closed; the totals say how much the import alone would have overpaid.
Run it: ``python examples/ctn0094_calendar.py [PATH-TO-lab_results.csv]`` (in memory).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import cmrewards

HERE = Path(__file__).resolve().parent
EXPORT = HERE.parent.parent / "shared" / "data" / "ctn0094" / "lab_results.csv"
MARKS = {"met": "M", "not_met": "x", "missed": "."}


def first_visits(
    rows: list[cmrewards.LabRow | cmrewards.BadRow | cmrewards.NotInCM],
) -> dict[str, dt.date]:
    """Each participant's enrolment date: the day of their earliest specimen (the export's
    times are the clinic's local times). A bad row is left to the import, which names it."""
    first: dict[str, dt.date] = {}
    for row in rows:
        if not isinstance(row, cmrewards.LabRow):
            continue
        day = row.collected.date()
        first[row.participant] = min(first.get(row.participant, day), day)
    return first


def weeks_of(clinic: cmrewards.Clinic, participant: str) -> str:
    """The participant's results in clinical order, one mark each: ``MMx.MM...``."""
    lines = clinic.statement(participant).lines
    return "".join(MARKS.get(line.outcome, "?") for line in lines)


def main(path: Path) -> int:
    lab_map = cmrewards.load_lab_map(HERE / "ctn0094-map.toml")
    program = cmrewards.load_program_file(HERE / "ctn0094-program.toml")
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(cmrewards.read_lab_file(file, lab_map, str(path)))
    starts = first_visits(rows)
    if not starts:
        print(f"no specimens in {path}", file=sys.stderr)
        return 2
    with cmrewards.open(None) as clinic:
        clinic.init("admin-1")
        clinic.add_staff("lab-bot", "recorder", actor="admin-1")
        clinic.add_program(program, actor="admin-1")
        for participant, start in sorted(starts.items()):
            clinic.enroll(participant, program.id, start=start, actor="admin-1")

        imported = clinic.import_lab_results(rows, actor="lab-bot", targets=lab_map.targets)
        if not imported.complete:
            print(f"import stopped: {imported.error}", file=sys.stderr)
            return imported.exit_code
        as_imported = {p: clinic.balance(p).points for p in starts}

        # Every enrolment's week 12 has ended by the last day of the latest one's.
        through = max(starts.values()) + dt.timedelta(days=7 * program.weeks - 1)
        closed = clinic.close_calendar(through, actor="lab-bot")
        if not closed.complete:
            print(f"closing stopped at {closed.stopped_at}: {closed.error}", file=sys.stderr)
            return closed.exit_code
        after = {p: clinic.balance(p).points for p in starts}

        print(f"{'participant':<12} {'start':<10}  {'weeks':<{program.weeks}}  imported  closed")
        for participant, start in sorted(starts.items()):
            print(
                f"{participant:<12} {start}  {weeks_of(clinic, participant):<{program.weeks}}"
                f"  {as_imported[participant]:>8}  {after[participant]:>6}"
            )

        paid, owed = sum(as_imported.values()), sum(after.values())
        overpaid = sum(1 for p in starts if as_imported[p] != after[p])
        value = program.point_value_cents
        print(
            f"\n{len(starts)} participants, {imported.specimens:,} specimens;"
            f" closing through {through} recorded {closed.samples} missed samples"
        )
        print(f"as imported: {paid:,} points ({cmrewards.format_cents(paid * value)})")
        print(f"calendar closed: {owed:,} points ({cmrewards.format_cents(owed * value)})")
        print(
            f"the import alone overpays {paid - owed:,} points"
            f" ({cmrewards.format_cents((paid - owed) * value)}) to {overpaid} participants:"
            f" {100 * (paid - owed) / owed:.1f} % more than the closed calendar"
        )

        again = clinic.import_lab_results(rows, actor="lab-bot", targets=lab_map.targets)
        closed_again = clinic.close_calendar(through, actor="lab-bot")
        print(
            f"importing and closing again: {again.stored} stored, {again.outcomes} outcomes,"
            f" {closed_again.samples} missed; record verified: {clinic.verify().ok}"
        )
    return 0


if __name__ == "__main__":
    export = Path(sys.argv[1]) if len(sys.argv) > 1 else EXPORT
    if not export.is_file():
        print(f"no lab export at {export}: give the path of lab_results.csv", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(export))
