"""Closing the calendar: the owed samples nobody brought, recorded as ``missed``.

Labs and attendance records carry no row for a week a participant did not come, so a
calendar week with fewer results than it owes (``calendar.owed``) pays as if the
absence never happened. Closing the calendar through a date writes a ``missed``
*placeholder* for each owed sample without a result in every program week that has
ended by then (docs/design.md section 3.9). A placeholder is an ordinary outcome with a
key and a visit of its own:

- its clinical time is the last instant of its week (23:59:59.999999 local), so every
  real result of the week sorts before it, as it would had it come on time;
- its visit is ``close:week-W:N`` (the week's owed sample N), never a clinical day, so a
  late result for any day of the week finds its visit free;
- its key is ``close:P:T:W:N``, which says what wrote it; callers may not use either
  prefix (``check_not_reserved``).

A result that arrives for a week its placeholders fill replaces the newest of them
(``to_replace``); an excused absence fills an owed sample like any other result. These
are pure rules over a participant's effective history; ``app/closing.py`` and
``app/recording.py`` apply them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

import attrs

from ..errors import InvalidInput
from .calendar import owed, week_span, weeks_of
from .clock import program_week, zone
from .programs import Program, Target
from .records import OutcomeRecord
from .schedules import Outcome
from .settlement import Effective

RESERVED = "close:"
"""The prefix of a placeholder's key and visit; a caller's key or visit may not start so."""


def placeholder_key(participant: str, target: str, week: int, sample: int, episode: int = 1) -> str:
    """The key a placeholder is stored with: which owed sample of which week it stands for
    (``close:P:T:W:N``; from a person's second episode on, ``close:P:eE:T:W:N``, as program
    weeks count again from each episode's start)."""
    person = participant if episode == 1 else f"{participant}:e{episode}"
    return f"{RESERVED}{person}:{target}:{week}:{sample}"


def placeholder_visit(week: int, sample: int) -> str:
    """The visit of a placeholder: owed sample ``sample`` of program week ``week``."""
    return f"{RESERVED}week-{week}:{sample}"


def is_placeholder(record: OutcomeRecord) -> bool:
    """Whether closing the calendar wrote ``record``."""
    return record.key is not None and record.key.startswith(RESERVED)


def stands_as_placeholder(entry: Effective) -> bool:
    """A placeholder that still says ``missed``: not voided, not corrected to a result."""
    return entry.outcome is Outcome.MISSED and is_placeholder(entry.record)


def check_not_reserved(key: str | None, visit: str | None) -> None:
    """A caller's key and visit id do not start with ``close:``; ``InvalidInput`` if one does
    (a result recorded so would be taken for a placeholder and replaced)."""
    for what, value in (("key", key), ("visit", visit)):
        if value is not None and value.startswith(RESERVED):
            raise InvalidInput(
                f"{what} {value[:64]!r}: ids starting with {RESERVED!r} are reserved for"
                " closing the calendar"
            )


def last_instant(start: dt.date, week: int, timezone: str) -> dt.datetime:
    """The last instant of program ``week`` (its last day at 23:59:59.999999 in the
    program's ``timezone``), in UTC: the clinical time of its placeholders."""
    last_day = week_span(start, week)[1]
    local = dt.datetime.combine(last_day, dt.time.max, zone(timezone))
    return local.astimezone(dt.UTC)


def week_ends(start: dt.date, week: int, timezone: str) -> dt.datetime:
    """When program ``week`` has ended: midnight after its last day in ``timezone``, in UTC."""
    after = week_span(start, week)[1] + dt.timedelta(days=1)
    return dt.datetime.combine(after, dt.time(), zone(timezone)).astimezone(dt.UTC)


@attrs.frozen
class WeekResults:
    """One target's effective results in one program week, split by who wrote them."""

    real: tuple[Effective, ...] = ()
    """Results recorded by staff, a file or a lab (``excused`` included)."""
    placeholders: tuple[Effective, ...] = ()
    """``missed`` placeholders written by closing the calendar, oldest first."""

    @property
    def count(self) -> int:
        return len(self.real) + len(self.placeholders)


def results_by_week(
    program: Program, start: dt.date, history: Iterable[Effective]
) -> dict[tuple[str, int], WeekResults]:
    """Each ``(target, program week)``'s effective results (voided ones left out), from a
    participant's effective ``history`` and the enrolment's ``start``."""
    real: dict[tuple[str, int], list[Effective]] = defaultdict(list)
    placeholders: dict[tuple[str, int], list[Effective]] = defaultdict(list)
    for entry in history:
        if entry.voided:
            continue
        week = program_week(start, entry.record.occurred_at, program.timezone)
        side = placeholders if stands_as_placeholder(entry) else real
        side[entry.record.target, week].append(entry)
    return {
        key: WeekResults(tuple(real.get(key, ())), tuple(placeholders.get(key, ())))
        for key in real.keys() | placeholders.keys()
    }


@attrs.frozen
class Shortfall:
    """What closing writes for one target and program week: a placeholder per sample."""

    target: str
    week: int
    owed: int
    """Samples the week owes the target."""
    samples: tuple[int, ...]
    """The owed samples without a result, by number (1-based): one placeholder each."""


def shortfalls(
    program: Program,
    start: dt.date,
    history: Sequence[Effective],
    through: dt.date,
    now: dt.datetime,
) -> list[Shortfall]:
    """The owed samples without a result in every program week of an enrolment that
    started on ``start`` and whose last day is ``through`` or before and which has ended
    by ``now``, target by target in week order. ``history`` is the participant's
    effective history: every result of the week counts (``met``, ``not_met``, ``missed``,
    ``excused``, ``invalid``; voided ones do not), placeholders included, so closing
    again finds nothing. Weeks outside the target's phases owe nothing. A calendar
    program only (``program.calendar``): a legacy program owes nothing it enforces."""
    if not program.calendar:
        return []
    weeks = results_by_week(program, start, history)
    found = []
    for target in program.targets:
        for week, _ in weeks_of(program, target):
            ended = week_ends(start, week, program.timezone) <= now
            if week_span(start, week)[1] > through or not ended:
                break
            had = weeks.get((target.id, week), WeekResults())
            missing = owed(program, target, week) - had.count
            if missing > 0:
                samples = _free_samples(had, week, missing)
                found.append(Shortfall(target.id, week, owed(program, target, week), samples))
    return found


def _free_samples(had: WeekResults, week: int, missing: int) -> tuple[int, ...]:
    """The numbers of the owed samples without a result: after the real results', skipping
    any whose placeholder visit a standing placeholder holds (an admin may have voided one
    placeholder between others)."""
    taken = {e.record.visit for e in had.placeholders}
    free: list[int] = []
    sample = len(had.real) + 1
    while len(free) < missing:
        if placeholder_visit(week, sample) not in taken:
            free.append(sample)
        sample += 1
    return tuple(free)


def to_replace(
    program: Program,
    start: dt.date,
    history: Iterable[Effective],
    target: Target,
    at: dt.datetime,
) -> list[Effective]:
    """The placeholders a new result of ``target`` at clinical time ``at`` replaces, newest
    first: as many as leave its week with the placeholders closing would have written had
    the result come on time (``owed`` less the real results, the new one counted, never
    below none). Usually the newest one; none when the week has no placeholder, or is full
    of real results (the new one is then an extra sample, as it would have been on time)."""
    week = program_week(start, at, program.timezone)
    had = results_by_week(program, start, history).get((target.id, week), WeekResults())
    owes = owed(program, target, week)
    if not had.placeholders or len(had.real) >= owes:
        return []
    keep = owes - len(had.real) - 1
    newest_first = sorted(had.placeholders, key=lambda e: e.record.id, reverse=True)
    return newest_first[: max(len(had.placeholders) - keep, 0)]
