"""A participant's statement: every opportunity with what it paid, streaks, resets, redemptions.

Built from the stored records alone (the ledger and the corrected outcome history),
so its numbers are the ledger's numbers: each line shows what its outcome gives after
every settlement, corrected and voided outcomes as corrected (a voided one has no
line), and the write-offs apart. The schedule is replayed only to say which outcome
reset the streak, which award recovered the earlier level, and where each target
stands now (``progress``: the streak and what the next ``met`` pays).

A reset on the statement is a run lost: a result the program resets on, after at least
one ``met`` in a row on that target. A second positive after a first loses nothing and
is not marked, so a participant who is struggling is shown what they can earn next,
not a row of crosses (docs/decisions.md, "A reset is a run lost").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs

from ..domain.balances import Balance
from ..domain.calendar import FIRST_RESULT, Attendance
from ..domain.caps import OverCapGrant, over_cap_grants
from ..domain.clock import program_week
from ..domain.earning import Earning, Unpaid, value_cents
from ..domain.episodes import Enrolled, Episodes
from ..domain.ledger import Transfer
from ..domain.programs import Program
from ..domain.records import Correction, Participant, Prize, WriteOff
from ..domain.redemption import Redemption
from ..domain.results import HistoryEntry
from ..domain.schedules import Outcome, ScheduleState
from ..domain.settlement import paid_by_outcome, settled_outcome
from ..store.port import (
    Catalog,
    Corrections,
    Ledger,
    Outcomes,
    Prizes,
    Redemptions,
    Settlements,
)
from .balance import balance_of
from .history import history_entries, notes_of
from .preview import TargetPreview, cap_room, previews
from .replay import Awards, Replayed, replay_outcomes, reversed_ids


class StatementReads(
    Outcomes, Corrections, Ledger, Settlements, Prizes, Redemptions, Catalog, Protocol
):
    """What a statement reads: one participant's outcomes and their corrections, transfers,
    balance, write-offs, prizes and redemptions, and the names of the items redeemed."""


@attrs.frozen
class StatementLine:
    """One recorded opportunity and what it paid."""

    outcome_id: int
    occurred_at: dt.datetime
    target: str
    outcome: Outcome
    points: int
    """Points it gives, bonus included, after every settlement (less what was taken back or
    written off); reversed awards excluded."""
    draws: int
    """Prize-bowl draws the outcome earned."""
    value_cents: int
    """Points at the program's value plus the value of prizes won."""
    streak: int
    """Consecutive ``met`` on this target after this outcome."""
    reset: bool
    """This result lost a run: the program resets on it and the target's streak before it
    was at least 1."""
    recovered: bool
    """This award was paid at the level held before the last reset (``recovery_after``)."""
    paid: bool
    """False for an outcome that did not count: a ``met`` whose required target was not met
    at the visit, a sample beyond its week's owed ones, a result after the last paid week."""
    reversed_points: int
    """Points this outcome paid that an admin later reversed (not in ``points``)."""
    cumulative_cents: int
    """Everything awarded up to and including this line, in cents."""
    corrected: bool = False
    """The outcome was corrected: ``outcome`` is the correction's."""
    note: str = ""
    """Why it did not count ("extra sample: week 3 owes 2 samples"), or the empty week that
    broke the run before it (``earning.Earning.note``), or ``cut to the cap`` when the cap
    cut its points; empty when none."""
    episode: int = 1
    """The episode (enrolment) the result belongs to, by its clinical date."""


@attrs.frozen
class EpisodeSummary:
    """One enrolment of the person and what its results earned."""

    number: int
    program_id: str
    start: dt.date
    status: str
    """``active``, ``completed`` or ``withdrawn``."""
    ended_at: dt.datetime | None
    """When it was withdrawn or completed (None while active, or if ended before episodes
    were recorded)."""
    results: int
    """Result lines in it (voided results are not lines)."""
    earned_cents: int
    """What its results give now, points at their program's value plus prizes."""
    longest_streak: int
    """Longest run of consecutive ``met`` on its program's primary target, in the samples
    the calendar asked for (``longest_abstinence``)."""


@attrs.frozen
class Statement:
    """What a participant (and their counsellor) sees."""

    participant: str
    program_id: str
    program_name: str
    timezone: str
    """The program's zone: clinical dates on the statement are in it."""
    as_of: dt.datetime
    """When it was made (the clinic's clock): nothing recorded after it is on it."""
    start: dt.date
    status: str
    balance: Balance
    lines: tuple[StatementLine, ...]
    longest_streak: int
    """Longest run of consecutive ``met`` on the primary target (the abstinence measure),
    in the samples the calendar asked for (``longest_abstinence``)."""
    resets: int
    """Runs lost (lines with ``reset``)."""
    recoveries: int
    earned_cents: int
    progress: tuple[TargetPreview, ...]
    """Each target now, in program order: the streak and what the next ``met`` pays."""
    redemptions: tuple[Redemption, ...]
    prizes: tuple[Prize, ...]
    history: tuple[HistoryEntry, ...]
    item_names: Mapping[str, str] = attrs.field(factory=dict)
    """The catalog name of each item its redemptions name, by sku."""
    corrections: tuple[Correction, ...] = ()
    """Every correction and void of the participant's outcomes, with who and why."""
    write_offs: tuple[WriteOff, ...] = ()
    """What settlements could not take back (already spent or handed over)."""
    written_off_points: int = 0
    written_off_cents: int = 0
    episode: int = 1
    """The current episode's number (``program_id``, ``start`` and ``status`` are its)."""
    episodes: tuple[EpisodeSummary, ...] = ()
    """Every episode, the current one last, with its own totals."""
    over_cap_grants: tuple[OverCapGrant, ...] = ()
    """Adjustments an admin granted past the cap, with who and why (reversed ones marked)."""


def statement_of(tx: StatementReads, episodes: Episodes, now: dt.datetime) -> Statement:
    """A person's statement at ``now``: every episode's results, under each episode's
    program; the heading, balance and cap are the current episode's."""
    person, program = episodes.person, episodes.current.program
    outcomes = tx.outcomes(person.id)
    transfers = tx.transfers(person.id)
    prizes = tx.prizes(person.id)
    corrections = tx.corrections(person.id)
    write_offs = tx.write_offs(person.id)
    replayed = replay_outcomes(episodes, outcomes, corrections)
    lines = _lines(episodes, replayed, corrections, transfers, write_offs, prizes)
    summaries = tuple(_summary(e, lines, replayed) for e in episodes.all)
    # Progress is the current episode's: its program, from its start.
    now_on = [r for r in replayed if episodes.of_outcome(r.record).number == person.episode]
    states, attendance = _standing(program, person, now_on)
    redemptions = tx.redemptions(person.id)
    items = {sku: tx.item(sku) for sku in {r.sku for r in redemptions}}
    balance = balance_of(tx, person, program, now)
    cap = cap_room(program, person.cap_start, now, balance.cap_remaining_cents)
    return Statement(
        participant=person.id,
        program_id=program.id,
        program_name=program.name,
        timezone=program.timezone,
        as_of=now,
        start=person.start,
        status=str(person.status),
        balance=balance,
        lines=tuple(lines),
        longest_streak=max(s.longest_streak for s in summaries),
        resets=sum(line.reset for line in lines),
        recoveries=sum(line.recovered for line in lines),
        earned_cents=lines[-1].cumulative_cents if lines else 0,
        progress=tuple(previews(program, person.start, states, now, attendance, cap)),
        redemptions=tuple(redemptions),
        prizes=tuple(prizes),
        history=tuple(
            history_entries(
                person.id,
                outcomes,
                transfers,
                corrections,
                write_offs,
                notes_of(replayed),
                episodes,
            )
        ),
        item_names={sku: item.name for sku, item in items.items() if item is not None},
        corrections=tuple(corrections),
        write_offs=tuple(write_offs),
        written_off_points=sum(w.points for w in write_offs),
        written_off_cents=sum(w.value_cents for w in write_offs),
        episode=person.episode,
        episodes=summaries,
        over_cap_grants=tuple(over_cap_grants(program, transfers)),
    )


def _summary(
    episode: Enrolled, lines: list[StatementLine], replayed: list[Replayed]
) -> EpisodeSummary:
    """One episode's totals; ``lines`` are ``replayed``'s, one for one."""
    mine = [line for line in lines if line.episode == episode.number]
    primary = episode.program.primary_target.id
    results = [
        r for line, r in zip(lines, replayed, strict=True)
        if line.episode == episode.number and line.target == primary
    ]  # fmt: skip
    person = episode.person
    return EpisodeSummary(
        number=episode.number,
        program_id=episode.program.id,
        start=person.start,
        status=str(person.status),
        ended_at=person.ended_at,
        results=len(mine),
        earned_cents=sum(line.value_cents for line in mine),
        longest_streak=longest_abstinence(results),
    )


def _lines(
    episodes: Episodes,
    replayed_outcomes: list[Replayed],
    corrections: list[Correction],
    transfers: list[Transfer],
    write_offs: list[WriteOff],
    prizes: list[Prize],
) -> list[StatementLine]:
    """Each effective outcome's line."""
    undone = reversed_ids(transfers)
    standing = paid_by_outcome([t for t in transfers if t.id not in undone], write_offs, prizes)
    taken_back: Counter[int] = Counter()
    for transfer in Awards.among(transfers).reversed:
        outcome_id = settled_outcome(transfer)
        if outcome_id is not None:
            taken_back[outcome_id] += transfer.amount
    corrected = {c.outcome_id for c in corrections}
    lines = []
    states: dict[tuple[int, str], ScheduleState] = {}
    cumulative = 0
    for replayed in replayed_outcomes:
        record, earning = replayed.record, replayed.earning
        episode = episodes.of_outcome(record)
        program = episode.program
        before = states.get((episode.number, record.target), ScheduleState())
        states[(episode.number, record.target)] = earning.step.state
        paid = standing.get(record.id)
        points = 0 if paid is None else paid.points
        prize_cents = 0 if paid is None else sum(p.value_cents for p in paid.standing().values())
        value = value_cents(program, points) + prize_cents
        cumulative += value
        cut = _cut_note(earning, points + taken_back[record.id])
        lines.append(
            StatementLine(
                outcome_id=record.id,
                occurred_at=record.occurred_at,
                target=record.target,
                outcome=replayed.outcome,
                points=points,
                draws=earning.draws,
                value_cents=value,
                streak=earning.step.state.run,
                reset=earning.step.reset and before.run > 0,
                recovered=earning.step.recovered,
                paid=earning.paid,
                reversed_points=taken_back[record.id],
                cumulative_cents=cumulative,
                corrected=record.id in corrected,
                note=earning.note or cut,
                episode=episode.number,
            )
        )
    return lines


def _cut_note(earning: Earning, given: int) -> str:
    """``cut to the cap`` when an outcome gave (reversals included) fewer points than its
    schedule earns: only the cap cuts an award (``caps.pay_within_cap``). A corrected one is
    judged too: its last settlement paid what it earns cut to the cap (``settlement.plan``),
    and a take-back or write-off only ever follows a lower earning, never leaves it short."""
    if not earning.paid or given >= earning.points + earning.bonus_points:
        return ""
    return "cut to the cap"


def _standing(
    program: Program, person: Participant, replayed: Iterable[Replayed]
) -> tuple[dict[str, ScheduleState], dict[str, Attendance]]:
    """Each target's schedule state after its last effective result, and what its results
    say about the calendar: where its progress (the next award) starts from."""
    states: dict[str, ScheduleState] = {}
    attendance: dict[str, Attendance] = {}
    for step in replayed:
        target = step.record.target
        week = program_week(person.start, step.record.occurred_at, program.timezone)
        states[target] = step.earning.step.state
        attendance[target] = attendance.get(target, FIRST_RESULT).after(step.outcome, week)
    return states, attendance


UNSCHEDULED = frozenset({Unpaid.EXTRA, Unpaid.OUTSIDE})
"""Results the protocol's calendar did not ask for: a sample beyond what its week owes, or
one outside the target's phases. They are not part of the abstinence measure."""


def longest_abstinence(results: Iterable[Replayed]) -> int:
    """The longest run of consecutive ``met`` among one target's replayed ``results`` (in
    clinical order): the standard CM outcome measure, in scheduled samples.

    An excused result, or one the calendar did not ask for (``UNSCHEDULED``: an extra
    sample, a result outside the phases), neither breaks nor extends it; every other
    result breaks it, whatever the program's ``reset_on`` says about payment
    (docs/decisions.md, "Reports").
    """
    longest = run = 0
    for result in results:
        if result.outcome is Outcome.EXCUSED or result.earning.unpaid in UNSCHEDULED:
            continue
        run = run + 1 if result.outcome is Outcome.MET else 0
        longest = max(longest, run)
    return longest
