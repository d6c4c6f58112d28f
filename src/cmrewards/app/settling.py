"""Settling a participant after a write that changed their history (docs/design.md section 4.1).

``settle`` replays the corrected history after the write, compares it with the replay
before, and for each outcome whose earning changed pays or takes back the difference
(``domain/settlement.py`` plans it): award and bonus transfers, take-backs from
``available`` to the funding account (``adjustment-down``), a write-off for what
``available`` cannot cover, new prizes from the outcome's seed, and withdrawals or
write-offs of prizes no longer earned. Every transfer's cause is the triggering record.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ..domain import ledger
from ..domain.caps import cap_period
from ..domain.episodes import Episodes
from ..domain.ledger import Movement
from ..domain.programs import Program
from ..domain.records import (
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    PrizeWithdrawal,
    WriteOff,
)
from ..domain.refs import Ref, RefKind, next_id
from ..domain.results import Award, PrizeWon, Settlement
from ..domain.settlement import (
    Effective,
    Paid,
    Plan,
    Replayed,
    by_id,
    changed,
    current_states,
    paid_by_outcome,
    plan,
    replay_episodes,
)
from ..store.port import RecordTx
from .postings import transfer


@attrs.frozen
class Settled:
    """What ``settle`` did: the plan of each outcome it settled, and the summary."""

    plans: dict[int, Plan]
    prizes: dict[int, tuple[Prize, ...]]
    """The prizes each settled outcome gained."""
    settlement: Settlement
    """Everything but the ``own`` outcome's plan (``settle``'s argument)."""


def settle(
    tx: RecordTx,
    now: dt.datetime,
    episodes: Episodes,
    before: list[Replayed],
    history: list[Effective],
    *,
    cause: str,
    actor: str,
    own: int | None = None,
) -> Settled:
    """Settle a person (``episodes.person``) once their effective ``history`` is what the
    write left; ``before`` is the replay of their history before it. Each outcome is
    settled under its episode's program. ``own`` is the outcome the write recorded: its
    award is paid as an award (no ``settles``) and kept out of the summary."""
    person = episodes.person
    after = replay_episodes(episodes, history)
    records = {e.record.id: e.record for e in history}
    now_earning = by_id(after)
    paid = paid_by_outcome(tx.transfers(person.id), tx.write_offs(person.id), tx.prizes(person.id))
    # The cache of each target's state follows the replay (a new target gets its first row).
    tx.put_schedule_states(
        [
            ((person.id, t), state)
            for t, state in current_states(episodes, history, after).items()
            if tx.schedule_state(person.id, t) != state
        ]
    )
    plans: dict[int, Plan] = {}
    won: dict[int, tuple[Prize, ...]] = {}
    summary = _Summary()
    drawn_before = {i: r.earning.draws for i, r in by_id(before).items()}
    for outcome_id in _to_settle(episodes, history, before, after, paid):
        record = records[outcome_id]
        program = episodes.of_outcome(record).program
        period = cap_period(program, person.cap_start, record.occurred_at)
        remaining = None
        if program.cap_cents is not None:
            remaining = program.cap_cents - tx.cap_usage(person.id, period)
        settled = plan(
            program,
            outcome_id,
            now_earning.get(outcome_id),
            paid.get(outcome_id, Paid()),
            remaining,
        )
        plans[outcome_id] = settled
        if outcome_id != own:
            summary.count_draws(drawn_before.get(outcome_id, 0), settled)
        won[outcome_id] = _apply(
            tx, now, program, person, record, settled, cause, actor, outcome_id == own,
            summary if outcome_id != own else _Summary(),
        )  # fmt: skip
        if program.cap_cents is not None and settled.cap_change_cents:
            tx.add_cap_usage(person.id, period, settled.cap_change_cents)
    return Settled(plans, won, summary.settlement(cause, [i for i in plans if i != own]))


def settle_in_order(
    tx: RecordTx,
    now: dt.datetime,
    person: Participant,
    program: Program,
    new: Replayed,
    *,
    actor: str,
) -> tuple[Plan, tuple[Prize, ...]]:
    """``settle`` for an outcome recorded after every other of the participant's, with no
    correction in their history and nothing at its visit waiting for it: nothing before it
    changes, so the settlement is its own award and the replay need not be run again
    (``recording.in_order`` decides). Its plan and the prizes it won: it settles nothing
    else, so there is no ``Settlement`` to report (none is built: issue 16)."""
    record = new.record
    period = cap_period(program, person.cap_start, record.occurred_at)
    remaining = None
    if program.cap_cents is not None:
        remaining = program.cap_cents - tx.cap_usage(person.id, period)
    tx.put_schedule_states([((person.id, record.target), new.earning.step.state)])
    settled = plan(program, record.id, new, Paid(), remaining)
    cause = Ref.to(RefKind.OUTCOME, record.id)
    prizes = _apply(tx, now, program, person, record, settled, cause, actor, True, _Summary())
    if program.cap_cents is not None and settled.cap_change_cents:
        tx.add_cap_usage(person.id, period, settled.cap_change_cents)
    return settled, prizes


def _to_settle(
    episodes: Episodes,
    history: list[Effective],
    before: list[Replayed],
    after: list[Replayed],
    paid: dict[int, Paid],
) -> list[int]:
    """The outcomes to settle, in clinical order: those whose earning the write changed, and,
    without a cap, any whose payment differs from what it earns (a ``requires`` bonus that a
    database written before visits left unpaid is paid at the participant's next write)."""
    ids = changed(before, after)
    uncapped = {e.program.id: e.program for e in episodes.all if e.program.cap_cents is None}
    if uncapped:
        earning = by_id(after)
        owed = [
            e.record.id
            for e in history
            if e.record.id not in ids
            and (program := uncapped.get(episodes.of_outcome(e.record).program.id)) is not None
            and _may_be_owed(earning.get(e.record.id), paid.get(e.record.id, Paid()))
            and plan(
                program, e.record.id, earning.get(e.record.id), paid.get(e.record.id, Paid()), None
            ).changes
        ]
        if owed:
            order = {e.record.id: n for n, e in enumerate(history)}
            ids = sorted([*ids, *owed], key=order.__getitem__)
    return ids


def _may_be_owed(replayed: Replayed | None, paid: Paid) -> bool:
    """A cheap first look: its points differ, or it earns draws and holds no prize (the
    plan then redraws its slips to see whether any would win one)."""
    earning = None if replayed is None else replayed.earning
    points = 0 if earning is None else earning.points + earning.bonus_points
    draws = 0 if earning is None else earning.draws
    return (
        points != paid.points
        or (draws > 0 and not paid.prizes)
        or (draws == 0 and bool(paid.standing()))
    )


@attrs.define
class _Summary:
    paid: int = 0
    taken: int = 0
    written_off: int = 0
    prizes: list[PrizeWon] = attrs.Factory(list)
    withdrawn: list[int] = attrs.Factory(list)
    prizes_written_off: list[int] = attrs.Factory(list)
    draws: int = 0
    slips: list[str] = attrs.Factory(list)
    draws_taken_back: int = 0

    def count_draws(self, before: int, settled: Plan) -> None:
        """The draws one outcome now earns beyond the ``before`` it earned, with the slips
        the cap kept of them, or how many fewer it earns. Earned draws are compared with
        earned draws (before the cap, as ``Award.draws``): the cap's kept slips against
        earned draws said "-1 draw no longer earned" where the cap had dropped a slip. The
        cap drops only a tail (no slip fits once none does), so the kept slips from
        ``before`` on are the new draws'."""
        now = 0 if settled.earning is None else settled.earning.draws
        if now > before:
            self.draws += now - before
            self.slips += [slip.category for slip in settled.payout.slips[before:]]
        else:
            self.draws_taken_back += before - now

    def settlement(self, cause: str, outcomes: list[int]) -> Settlement:
        return Settlement(
            cause=cause,
            outcomes=tuple(outcomes),
            paid_points=self.paid,
            taken_back_points=self.taken,
            written_off_points=self.written_off,
            prizes=tuple(self.prizes),
            prizes_withdrawn=tuple(self.withdrawn),
            prizes_written_off=tuple(self.prizes_written_off),
            draws=self.draws,
            slips=tuple(self.slips),
            draws_taken_back=self.draws_taken_back,
        )


def _apply(
    tx: RecordTx,
    now: dt.datetime,
    program: Program,
    person: Participant,
    record: OutcomeRecord,
    settled: Plan,
    cause: str,
    actor: str,
    own: bool,
    summary: _Summary,
) -> tuple[Prize, ...]:
    """Write one outcome's plan; return the prizes it won."""
    target, at = record.target, record.occurred_at
    settles = None if own else record.id
    credits = (
        (Movement.AWARD, settled.award, f"{target} met" if own else f"{target} settled"),
        (Movement.BONUS, settled.bonus, f"{target} bonus" if own else f"{target} bonus settled"),
    )
    for movement, amount, reason in credits:
        if amount:
            transfer(
                tx, now, program.id, movement, person.id, amount, actor,
                _for(reason, record, own), cause, at, settles=settles,
            )  # fmt: skip
            summary.paid += amount
    if settled.take_back:
        available = tx.balance(program.id, ledger.available(person.id))
        taken = min(available, settled.take_back)
        if taken:
            transfer(
                tx, now, program.id, Movement.ADJUSTMENT_DOWN, person.id, taken, actor,
                _for(f"{target} taken back", record, own), cause, at, settles=record.id,
            )  # fmt: skip
            summary.taken += taken
        rest = settled.take_back - taken
        if rest:
            _write_off(tx, now, program, person, record, rest, None, cause, actor)
            summary.written_off += rest
    prizes = [
        Prize(
            id=next_id(tx.last_prize()) + n,
            program_id=program.id,
            participant=person.id,
            outcome_id=record.id,
            draw=index,
            category=slip.category,
            value_cents=slip.value_cents,
            won_at=at,
        )
        for n, (index, slip) in enumerate(settled.new_draws)
    ]
    if prizes:
        tx.add_prizes(prizes)
    changes = [(p, True) for p in settled.reinstate] + [
        (p, False) for p in settled.remove if p.status is PrizeStatus.OWED
    ]
    withdrawals: list[PrizeWithdrawal] = []
    for prize, reinstated in changes:
        head = withdrawals[-1] if withdrawals else tx.last_prize_withdrawal()
        withdrawals.append(PrizeWithdrawal(next_id(head), prize.id, reinstated, cause, actor, now))
        if not reinstated:
            summary.withdrawn.append(prize.id)
    if withdrawals:
        tx.add_prize_withdrawals(withdrawals)
    for prize in settled.remove:
        if prize.status is not PrizeStatus.OWED:
            _write_off(tx, now, program, person, record, 0, prize, cause, actor)
            summary.prizes_written_off.append(prize.id)
    gained = (*prizes, *(attrs.evolve(p, status=PrizeStatus.OWED) for p in settled.reinstate))
    summary.prizes += [PrizeWon(p.id, p.category, p.value_cents) for p in gained]
    return gained


def _for(reason: str, record: OutcomeRecord, own: bool) -> str:
    return reason if own else f"{reason} for outcome {record.id}"


def _write_off(
    tx: RecordTx,
    now: dt.datetime,
    program: Program,
    person: Participant,
    record: OutcomeRecord,
    points: int,
    prize: Prize | None,
    cause: str,
    actor: str,
) -> None:
    value = prize.value_cents if prize is not None else points * program.point_value_cents
    tx.add_write_offs(
        [
            WriteOff(
                id=next_id(tx.last_write_off()),
                program_id=program.id,
                participant=person.id,
                outcome_id=record.id,
                points=points,
                prize_id=None if prize is None else prize.id,
                value_cents=value,
                cause=cause,
                actor=actor,
                at=now,
            )
        ]
    )


def award_of(settled: Plan) -> Award:
    """The ``Award`` an outcome stands at after its plan: what ``record`` returns."""
    earning = settled.earning
    payout = settled.payout
    return Award(
        points=payout.points,
        bonus_points=payout.bonus_points,
        draws=0 if earning is None else earning.draws,
        value_cents=payout.value_cents,
        capped=payout.capped,
        reset=False if earning is None else earning.step.reset,
        recovered=False if earning is None else earning.step.recovered,
        paid=True if earning is None else earning.paid,
        slips=tuple(slip.category for slip in payout.slips),
        note="" if earning is None else earning.note,
    )
