"""What the calendar needs of a target's stored results before one more, read narrowly.

``earning.earn`` asks a target's earlier results three things (``calendar.Attendance``):
the week of the previous one (a phase that restarts), how many fell in this week (an
extra sample) and which weeks after the run's last ``met`` had a ``met`` or an
``excused`` (a weekly run broken by an empty week). The replay folds every result; the
in-order fast path and the preview read only the weeks that can matter, and nothing at
all in the common case: the previous result in an earlier week and no weeks between
it and the run's last ``met``.
"""

from __future__ import annotations

import datetime as dt

from ..domain.calendar import Attendance, phases_of, steps_by_week, week_span
from ..domain.clock import local_date, program_week, week_of_day, zone
from ..domain.programs import Program, Target
from ..domain.records import OutcomeRecord, Participant
from ..domain.schedules import ScheduleState
from ..store.port import OutcomeChain


def attendance_before(
    tx: OutcomeChain,
    person: Participant,
    program: Program,
    target: Target,
    state: ScheduleState,
    last: OutcomeRecord | None,
    week: int,
) -> Attendance:
    """The target's attendance before a result in program ``week`` that comes after every
    stored one in clinical order, with no correction in the history (what
    ``recording.in_order`` establishes). ``state`` is the target's cached schedule state,
    ``last`` its latest outcome. Reads the target's outcomes since the first week that
    matters (``OutcomeChain.outcomes_since``) only when one does."""
    if not program.calendar or last is None:
        return Attendance()
    previous = program_week(person.start, last.occurred_at, program.timezone)
    since = week if previous == week else None
    weekly = any(steps_by_week(p) for p in phases_of(program, target))
    if weekly and state.last_week is not None and state.last_week + 1 < week:
        since = min(week if since is None else since, state.last_week + 1)
    if since is None:
        return Attendance(week=previous)
    first_day = week_span(person.start, since)[0]
    window = []
    for record in tx.outcomes_since(person.id, target.id, read_from(person, program, since)):
        day = local_date(record.occurred_at, program.timezone)  # once a result: issue 16
        if day >= first_day:
            window.append((record.outcome, week_of_day(person.start, day)))
    return Attendance.of(window, Attendance() if window else Attendance(week=previous))


def read_from(person: Participant, program: Program, week: int) -> dt.datetime:
    """The clinical time from which the results of program ``week`` on are read: a day
    before its first local day (then kept by local date: a zone's midnight can be skipped
    or doubled). The import reads each chunk's from its earliest row's week at once."""
    first_day = week_span(person.start, week)[0]
    return dt.datetime.combine(first_day - dt.timedelta(days=1), dt.time(), zone(program.timezone))
