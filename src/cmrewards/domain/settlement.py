"""Replay and settle: what a participant's corrected history earns, and what to pay or take back.

One mechanism for every write that changes a participant's history (docs/design.md
section 4.1): an outcome recorded in order or late, a correction, a void, a
``requires`` target arriving. The participant's *effective* history (each outcome as
its newest correction says, voided ones left out) is replayed in clinical order,
``(occurred_at, id)``, with the program's rules; each outcome whose earning the write
changed is then settled against what the ledger paid for it. For an outcome recorded
in order nothing else changes, so the settlement is exactly its own award.

Pure functions over frozen records: ``app/recording.py`` and ``app/corrections.py``
apply the plans, ``views/verify.py`` checks that every outcome's payment equals its
replayed earning (less what was written off).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import attrs

from .bowl import draw
from .calendar import FIRST_RESULT, Attendance
from .caps import Payout, pay_within_cap
from .clock import local_date, week_of_day
from .earning import Earning, earn
from .episodes import Episodes
from .ledger import Movement, Transfer
from .programs import BowlCategory, Program
from .records import (
    Correction,
    CorrectionKind,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    WriteOff,
)
from .refs import RefKind, id_of
from .schedules import Outcome, ScheduleState
from .visits import visit_on


@attrs.frozen
class Effective:
    """One recorded outcome as its corrections leave it."""

    record: OutcomeRecord
    outcome: Outcome | None
    """The newest correction's outcome, else the recorded one; None once voided."""
    seed: int | None
    """The recorded seed, else the newest seed a correction gave it."""
    corrections: tuple[Correction, ...] = ()

    @property
    def voided(self) -> bool:
        return self.outcome is None


clinical_order: Callable[[OutcomeRecord], tuple[dt.datetime, int]] = operator.attrgetter(
    "occurred_at", "id"
)
"""The history of a target is its outcomes by clinical time, ties by id. (A C getter:
``verify`` sorts every outcome by it; a Python function call each was 3% of it.)"""


def effective_history(
    outcomes: Iterable[OutcomeRecord], corrections: Iterable[Correction]
) -> list[Effective]:
    """Every outcome with its corrections applied, in clinical order (voided ones too)."""
    by_outcome: dict[int, list[Correction]] = defaultdict(list)
    for correction in sorted(corrections, key=lambda c: c.id):
        by_outcome[correction.outcome_id].append(correction)
    history = []
    for record in sorted(outcomes, key=clinical_order):
        mine = by_outcome.get(record.id)
        if not mine:  # most outcomes: as recorded
            history.append(Effective(record, record.outcome, record.seed))
            continue
        outcome: Outcome | None = record.outcome
        seed = record.seed
        for correction in mine:
            outcome = correction.outcome if correction.kind is CorrectionKind.CORRECT else None
            seed = seed if seed is not None else correction.seed
        history.append(Effective(record, outcome, seed, tuple(mine)))
    return history


@attrs.frozen
class Replayed:
    """One effective outcome and what the program's rules say it earns."""

    record: OutcomeRecord
    outcome: Outcome
    """The effective outcome (a correction's, if any)."""
    seed: int | None
    earning: Earning
    """Points, bonus and draws before any cap, and the schedule's state after it."""
    visit: str


def replay_history(
    program: Program, person: Participant, history: Iterable[Effective]
) -> list[Replayed]:
    """What each effective outcome earns, in clinical order; voided outcomes earn nothing
    and are left out. Each target's schedule carries over from its previous outcome; a
    ``met`` that ``requires`` other targets pays only when each has an effective ``met``
    at the same visit, in whatever order they were recorded; the protocol calendar
    (``earning.earn``) counts program weeks from ``person.start``. Raises ``KeyError`` for
    a target the program lacks."""
    living = []
    for entry in history:
        if entry.outcome:  # each result's clinical date once, for its visit and its week
            day = local_date(entry.record.occurred_at, program.timezone)
            living.append(
                (entry, visit_on(day, entry.record.visit), week_of_day(person.start, day))
            )
    met_at_visit = {(visit, e.record.target) for e, visit, _ in living if e.outcome is Outcome.MET}
    replay = Replay(program, person.start)
    return [replay.next(entry, visit, week, met_at_visit) for entry, visit, week in living]


_FRESH = ScheduleState()
"""A target's state before its first result (frozen: shared, not built per result)."""


@attrs.define
class Replay:
    """One enrolment's replay under way: each target's schedule state and what its results
    so far say about the calendar. Feed it the effective outcomes in clinical order."""

    program: Program
    start: dt.date
    """The enrolment's first day: program week 1 begins on it."""
    states: dict[str, ScheduleState] = attrs.Factory(dict)
    attendance: dict[str, Attendance] = attrs.Factory(dict)

    def next(
        self, entry: Effective, visit: str, week: int, met_at_visit: Collection[tuple[str, str]]
    ) -> Replayed:
        """What ``entry`` (not voided) earns after every outcome fed before it; ``visit``
        and ``week`` are its visit and program week (``visit_on``, ``week_of_day``);
        ``met_at_visit`` holds the ``(visit, target)`` of every effective ``met``."""
        assert entry.outcome is not None
        record = entry.record
        target = self.program.target(record.target)
        attendance = self.attendance.get(record.target, FIRST_RESULT)
        earning = earn(
            self.program,
            target,
            self.states.get(record.target, _FRESH),
            entry.outcome,
            week=week,
            attendance=attendance,
            # Most targets require none: no generator for them (verify replays every result).
            assume_required=not target.requires
            or all((visit, r) in met_at_visit for r in target.requires),
        )
        self.states[record.target] = earning.step.state
        self.attendance[record.target] = attendance.after(entry.outcome, week)
        return Replayed(record, entry.outcome, entry.seed, earning, visit)


def final_states(
    history: Iterable[Effective], replayed: Iterable[Replayed]
) -> dict[str, ScheduleState]:
    """Each target's schedule state after the whole history: the state cache. A target
    whose every outcome was voided is back at the start."""
    states = {e.record.target: _FRESH for e in history}
    for step in replayed:
        states[step.record.target] = step.earning.step.state
    return states


def replay_episodes(episodes: Episodes, history: Iterable[Effective]) -> list[Replayed]:
    """``replay_history`` once per episode of the person (docs/design.md section 2,
    "Episodes"): each episode's results from a fresh schedule state, under its program,
    program weeks counted from its start. Episodes follow each other in time, so the
    whole is in clinical order. Raises ``KeyError`` for a target the program lacks."""
    entries = list(history)
    if len(episodes.all) == 1:
        return replay_history(episodes.current.program, episodes.person, entries)
    parts: dict[int, list[Effective]] = {e.number: [] for e in episodes.all}
    for entry in entries:
        parts[episodes.of_outcome(entry.record).number].append(entry)
    replayed = []
    for episode in episodes.all:
        replayed += replay_history(episode.program, episode.person, parts[episode.number])
    return replayed


def current_states(
    episodes: Episodes, history: Iterable[Effective], replayed: Iterable[Replayed]
) -> dict[str, ScheduleState]:
    """``final_states`` for the current episode: a target whose results are all in earlier
    episodes is back at the start, as a new episode starts afresh."""
    if len(episodes.all) == 1:
        return final_states(history, replayed)
    number = episodes.current.number
    return final_states(
        history, [r for r in replayed if episodes.of_outcome(r.record).number == number]
    )


@attrs.frozen
class Paid:
    """What the ledger holds for one outcome: its awards and every settlement of it."""

    award: int = 0
    """Award points credited, reversed ones included (a settlement never pays them again)."""
    bonus: int = 0
    taken: int = 0
    """Points taken back by settlements or written off."""
    prizes: tuple[Prize, ...] = ()
    """Every prize won on its draws, withdrawn ones included."""
    written_off_prizes: frozenset[int] = frozenset()
    reversed: int = 0
    """Points of its award and bonus transfers that an admin reversed: already given back,
    so a settlement neither takes them back again nor pays them again."""

    @property
    def points(self) -> int:
        """Points credited for it net of take-backs: what a settlement compares with what
        it earns (a reversed award counts as paid)."""
        return self.award + self.bonus - self.taken

    @property
    def standing_points(self) -> int:
        """Points it still gives: credited, less take-backs and reversals; never below 0
        (a record written before reversals were bounded may say less)."""
        return max(self.points - self.reversed, 0)

    def standing(self) -> dict[int, Prize]:
        """The prizes it still gives, by draw: not withdrawn, not written off."""
        return {
            p.draw: p
            for p in self.prizes
            if p.draw is not None
            and p.status is not PrizeStatus.WITHDRAWN
            and p.id not in self.written_off_prizes
        }

    def value_cents(self, program: Program) -> int:
        prizes = sum(p.value_cents for p in self.standing().values())
        return self.points * program.point_value_cents + prizes


def settled_outcome(transfer: Transfer) -> int | None:
    """The outcome whose award ``transfer`` pays or takes back, if it is one of those."""
    if transfer.settles is not None:
        return transfer.settles
    if transfer.kind in (Movement.AWARD, Movement.BONUS):
        return id_of(transfer.cause, RefKind.OUTCOME)
    return None


def paid_by_outcome(
    transfers: Iterable[Transfer], write_offs: Iterable[WriteOff], prizes: Iterable[Prize]
) -> dict[int, Paid]:
    """What the ledger holds for each outcome of these records. ``transfers`` must hold the
    reversals of its awards (all of a participant's do) for ``Paid.reversed``."""
    transfers = list(transfers)
    undone = {t.reverses for t in transfers if t.reverses is not None}
    award: dict[int, int] = defaultdict(int)
    bonus: dict[int, int] = defaultdict(int)
    taken: dict[int, int] = defaultdict(int)
    reversed_points: dict[int, int] = defaultdict(int)
    for transfer in transfers:
        outcome_id = settled_outcome(transfer)
        if outcome_id is None:
            continue
        if transfer.kind is Movement.AWARD:
            award[outcome_id] += transfer.amount
        elif transfer.kind is Movement.BONUS:
            bonus[outcome_id] += transfer.amount
        elif transfer.kind is Movement.ADJUSTMENT_DOWN:
            taken[outcome_id] += transfer.amount
        if transfer.kind in (Movement.AWARD, Movement.BONUS) and transfer.id in undone:
            reversed_points[outcome_id] += transfer.amount
    written_off: dict[int, set[int]] = defaultdict(set)
    for write_off in write_offs:
        taken[write_off.outcome_id] += write_off.points
        if write_off.prize_id is not None:
            written_off[write_off.outcome_id].add(write_off.prize_id)
    won: dict[int, list[Prize]] = defaultdict(list)
    for prize in prizes:
        if prize.outcome_id is not None:
            won[prize.outcome_id].append(prize)
    ids = set(award) | set(bonus) | set(taken) | set(won)
    return {
        i: Paid(
            award[i], bonus[i], taken[i], tuple(won[i]), frozenset(written_off[i]),
            reversed_points[i],
        )
        for i in ids
    }  # fmt: skip


@attrs.frozen
class Plan:
    """What settling one outcome pays, takes back, draws and withdraws."""

    outcome_id: int
    payout: Payout
    """What the outcome should have paid, cap applied: the award it now stands at."""
    earning: Earning | None
    """Its replayed earning; None when it was voided."""
    award: int = 0
    """Award points to credit."""
    bonus: int = 0
    """Bonus points to credit."""
    take_back: int = 0
    """Points to take back (what ``available`` cannot cover is written off); never more
    than it still gives."""
    new_draws: tuple[tuple[int, BowlCategory], ...] = ()
    """(draw, category) of each winning slip it now earns and has no prize for."""
    reinstate: tuple[Prize, ...] = ()
    """Withdrawn prizes it earns again."""
    remove: tuple[Prize, ...] = ()
    """Prizes it no longer earns: withdrawn if owed, written off if handed over or traded."""
    cap_change_cents: int = 0
    """How the value it gives changes, for the cap usage."""

    @property
    def changes(self) -> bool:
        return bool(
            self.award or self.bonus or self.take_back or self.new_draws or self.reinstate
            or self.remove
        )  # fmt: skip


def plan(
    program: Program,
    outcome_id: int,
    replayed: Replayed | None,
    paid: Paid,
    remaining_cents: int | None,
) -> Plan:
    """Settle one outcome: ``replayed`` is what it earns now (None once voided), ``paid``
    what the ledger holds for it, ``remaining_cents`` the cap left in its period (None
    without a cap). The cap is applied as when it was first paid: the room is what is
    left plus what it already gives.

    An admin's reversal of its award stands (docs/decisions.md, "Reversals stay outside"):
    what it earns is compared with what was credited, reversed points included, so they
    are never paid again, and only what still stands is taken back, so they are never
    taken back twice. It ends crediting ``max(earned, reversed)``: it gives what it earns
    less what was reversed, never less than nothing."""
    earning = None if replayed is None else replayed.earning
    points = 0 if earning is None else earning.points
    bonus = 0 if earning is None else earning.bonus_points
    draws = 0 if earning is None else earning.draws
    seed = None if replayed is None else replayed.seed
    slips = draw(program.bowl, seed, draws) if seed is not None and draws else []
    room = None if remaining_cents is None else remaining_cents + paid.value_cents(program)
    payout = pay_within_cap(program, room, points, bonus, slips)

    delta = payout.points + payout.bonus_points - paid.points
    credit_bonus = min(max(delta, 0), max(payout.bonus_points - paid.bonus, 0))
    credit_award = max(delta, 0) - credit_bonus
    take_back = min(max(-delta, 0), paid.standing_points)

    wanted = {i: s for i, s in enumerate(payout.slips) if s.value_cents}
    standing = paid.standing()
    withdrawn = {p.draw: p for p in paid.prizes if p.status is PrizeStatus.WITHDRAWN}
    taken_draws = {p.draw for p in paid.prizes}
    new_draws, reinstate = [], []
    for index, slip in sorted(wanted.items()):
        if index in standing:
            continue
        again = withdrawn.get(index)
        if again is not None and again.category == slip.category:
            reinstate.append(again)
        elif index not in taken_draws:
            new_draws.append((index, slip))
    remove = tuple(p for i, p in sorted(standing.items()) if i not in wanted)
    kept = sum(standing[i].value_cents for i in wanted if i in standing)
    added = sum(s.value_cents for _, s in new_draws) + sum(p.value_cents for p in reinstate)
    points_after = paid.points + credit_award + credit_bonus - take_back
    after = points_after * program.point_value_cents + kept + added
    return Plan(
        outcome_id=outcome_id,
        payout=payout,
        earning=earning,
        award=credit_award,
        bonus=credit_bonus,
        take_back=take_back,
        new_draws=tuple(new_draws),
        reinstate=tuple(reinstate),
        remove=remove,
        cap_change_cents=after - paid.value_cents(program),
    )


def changed(before: Sequence[Replayed], after: Sequence[Replayed]) -> list[int]:
    """The outcomes whose earning a write changed, in the clinical order of ``after``
    (outcomes that left the history, voided, come at their own clinical time)."""
    old = {r.record.id: _signature(r) for r in before}
    new = {r.record.id: _signature(r) for r in after}
    records = {r.record.id: r.record for r in (*before, *after)}
    ids = [i for i in records if old.get(i) != new.get(i)]
    return sorted(ids, key=lambda i: clinical_order(records[i]))


def _signature(replayed: Replayed) -> tuple[object, ...]:
    earning = replayed.earning
    return (earning.points, earning.bonus_points, earning.draws, replayed.seed)


def by_id(replayed: Iterable[Replayed]) -> Mapping[int, Replayed]:
    return {r.record.id: r for r in replayed}
