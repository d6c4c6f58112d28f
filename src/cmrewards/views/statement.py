"""A participant's statement: every opportunity with what it paid, streaks, resets, redemptions.

Built from the stored records alone (the ledger and the outcome history), so its
numbers are the ledger's numbers; the schedule is replayed only to say which
outcome reset the streak and which award recovered the earlier level.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import attrs

from ..domain.clock import program_week
from ..domain.earning import earn
from ..domain.ledger import Movement
from ..domain.programs import Program
from ..domain.records import OutcomeRecord, Participant, Prize
from ..domain.redemption import Redemption
from ..domain.refs import Ref, RefKind
from ..domain.results import Balance, HistoryEntry
from ..domain.schedules import Outcome, ScheduleState
from ..store.port import Tx


@attrs.frozen
class StatementLine:
    """One recorded opportunity and what it paid."""

    outcome_id: int
    occurred_at: dt.datetime
    target: str
    outcome: Outcome
    points: int
    """Points awarded, bonus included, still standing (reversed awards excluded)."""
    draws: int
    """Prize-bowl draws the outcome earned."""
    value_cents: int
    """Points at the program's value plus the value of prizes won."""
    streak: int
    """Consecutive ``met`` on this target after this outcome."""
    reset: bool
    recovered: bool
    paid: bool
    """False for a ``met`` that did not count: a required target was not met at the visit."""
    reversed_points: int
    """Points this outcome paid that an admin later reversed (not in ``points``)."""
    cumulative_cents: int
    """Everything awarded up to and including this line, in cents."""


@attrs.frozen
class Statement:
    """What a participant (and their counsellor) sees."""

    participant: str
    program_id: str
    program_name: str
    timezone: str
    """The program's zone: clinical dates on the statement are in it."""
    start: dt.date
    status: str
    balance: Balance
    lines: tuple[StatementLine, ...]
    longest_streak: int
    """Longest run of consecutive ``met`` on the primary target (the abstinence measure)."""
    resets: int
    recoveries: int
    earned_cents: int
    redemptions: tuple[Redemption, ...]
    prizes: tuple[Prize, ...]
    history: tuple[HistoryEntry, ...]


def statement_lines(
    program: Program, person: Participant, outcomes: list[OutcomeRecord], tx: Tx
) -> list[StatementLine]:
    """Each outcome with what it paid, replaying the schedule for resets and recoveries."""
    paid_points: dict[str, int] = defaultdict(int)
    taken_back: dict[str, int] = defaultdict(int)
    transfers = tx.transfers(person.id)
    reversed_ids = {t.reverses for t in transfers if t.reverses is not None}
    for transfer in transfers:
        if transfer.kind in (Movement.AWARD, Movement.BONUS) and transfer.cause:
            standing = transfer.id not in reversed_ids
            (paid_points if standing else taken_back)[transfer.cause] += transfer.amount
    prize_cents: dict[int, int] = defaultdict(int)
    for prize in tx.prizes(person.id):
        if prize.outcome_id is not None:
            prize_cents[prize.outcome_id] += prize.value_cents
    states: dict[str, ScheduleState] = {}
    visits: dict[dt.datetime, list[OutcomeRecord]] = defaultdict(list)
    lines = []
    cumulative = 0
    for record in outcomes:
        earning = earn(
            program.target(record.target),
            states.get(record.target, ScheduleState()),
            record.outcome,
            week=program_week(person.start, record.occurred_at, program.timezone),
            visit=list(visits[record.occurred_at]),
        )
        visits[record.occurred_at].append(record)
        states[record.target] = earning.step.state
        points = paid_points.get(Ref.to(RefKind.OUTCOME, record.id), 0)
        value = points * program.point_value_cents + prize_cents.get(record.id, 0)
        cumulative += value
        lines.append(
            StatementLine(
                outcome_id=record.id,
                occurred_at=record.occurred_at,
                target=record.target,
                outcome=record.outcome,
                points=points,
                draws=earning.draws,
                value_cents=value,
                streak=earning.step.state.run,
                reset=earning.step.reset,
                recovered=earning.step.recovered,
                paid=earning.paid,
                reversed_points=taken_back.get(Ref.to(RefKind.OUTCOME, record.id), 0),
                cumulative_cents=cumulative,
            )
        )
    return lines


def longest_abstinence(outcomes: Iterable[Outcome]) -> int:
    """The longest run of consecutive ``met`` (the standard CM outcome measure).

    An excused result neither breaks nor extends it; every other result breaks it,
    whatever the program's ``reset_on`` says about payment.
    """
    longest = run = 0
    for outcome in outcomes:
        if outcome is Outcome.EXCUSED:
            continue
        run = run + 1 if outcome is Outcome.MET else 0
        longest = max(longest, run)
    return longest
