"""Annual caps: a hard limit on what one participant receives in a cap period.

US programs limit what one participant may receive in a year ($599 or $750).
The value of an award is its points at the program's point value plus the value
of the prizes won; the award that reaches the cap is cut to what fits, and a prize
that does not fit is downgraded to the largest category that does, else to no prize.
An adjustment by hand counts too (docs/decisions.md, "Hard limits"): one that does not
fit is refused unless an admin grants it over the cap, and the transfer says by how much.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import attrs

from ..errors import CapExceeded
from .bowl import largest_fitting
from .cap_periods import cap_period as cap_period  # re-exported: where callers look
from .cap_periods import next_cap_period_start as next_cap_period_start
from .cap_periods import period_label as period_label
from .earning import value_cents
from .ledger import Movement, Transfer
from .money import format_cents
from .programs import BowlCategory, CapPeriod, MaximumEarnings, Program


@attrs.frozen
class Payout:
    """What is actually paid for one outcome once the cap is applied."""

    points: int
    bonus_points: int
    slips: tuple[BowlCategory, ...]
    """Every slip drawn, after any downgrade."""
    value_cents: int
    capped: bool


def pay_within_cap(
    program: Program,
    remaining_cents: int | None,
    points: int,
    bonus_points: int,
    slips: Sequence[BowlCategory],
) -> Payout:
    """Cut an award to ``remaining_cents`` (None = no cap): points first, then the bonus,
    then each prize in draw order."""
    value = program.point_value_cents
    if remaining_cents is None:
        total = (points + bonus_points) * value + sum(s.value_cents for s in slips)
        return Payout(points, bonus_points, tuple(slips), total, capped=False)
    room = max(remaining_cents, 0)
    capped = False
    paid = []
    for wanted in (points, bonus_points):
        fits = wanted if value == 0 else min(wanted, room // value)
        capped |= fits < wanted
        room -= fits * value
        paid.append(fits)
    kept = []
    for slip in slips:
        if slip.value_cents > room:
            capped = True
            downgrade = largest_fitting(program.bowl, room)
            if downgrade is None:
                continue
            slip = downgrade
        kept.append(slip)
        room -= slip.value_cents
    total = (paid[0] + paid[1]) * value + sum(s.value_cents for s in kept)
    return Payout(paid[0], paid[1], tuple(kept), total, capped)


def cap_given_back(program: Program, reversed_transfer: Transfer) -> int | None:
    """Cents a reversal of ``reversed_transfer`` takes off the cap usage: a reversed award
    or bonus no longer counts against the cap (docs/decisions.md, "Prizes and caps").
    None when the cap is not concerned: any other movement, or a program without a cap
    (no usage is kept for it)."""
    if program.cap_cents is None or reversed_transfer.kind not in (Movement.AWARD, Movement.BONUS):
        return None
    return value_cents(program, reversed_transfer.amount)


# --- adjustments by hand ---------------------------------------------------------


@attrs.frozen
class AdjustmentCharge:
    """One counted adjustment, or the reversal of one, and what it does to the cap usage."""

    transfer: Transfer
    period: str
    """The period it counts in: the adjustment's own (its clinical time is when it was
    made), or, for a reversal, the adjustment's it reverses."""
    cents: int
    """What the rules make it add to the cap usage (negative: give back)."""


def adjustment_cap_change(
    kind: Movement, value: int, adjusted: int, reversed_change: int | None = None
) -> int:
    """The cents an adjustment of ``value`` cents adds to its period's cap usage, given
    ``adjusted``, the cents that period's earlier counted adjustments hold.

    Upward, its whole value (over the cap only by an admin's grant). Downward, it gives
    back room, but only what adjustments used: the room awards used is theirs, given back
    when an award is reversed, corrected or voided, so cap usage never goes below zero
    (docs/decisions.md, "Hard limits"). The reversal of an adjustment undoes what that
    one changed (``reversed_change``), and gives back no more than adjustments hold.
    """
    if kind is Movement.ADJUSTMENT_UP:
        return value
    if kind is Movement.ADJUSTMENT_DOWN:
        return -min(value, adjusted)
    assert kind is Movement.REVERSAL
    assert reversed_change is not None
    if reversed_change <= 0:
        return -reversed_change
    return -min(reversed_change, adjusted)


def adjustment_charges(
    program: Program, start: dt.date, transfers: Iterable[Transfer]
) -> list[AdjustmentCharge]:
    """Every counted adjustment among one participant's ``transfers`` (enrolled on
    ``start``), and every reversal of one, in id order, with the change the rules give it.

    An adjustment counts when it was recorded with a ``cap_change_cents`` (from migration
    0007 on, in a program with a cap); older ones were never counted and still are not.
    """
    if program.cap_cents is None:
        return []
    transfers = list(transfers)
    by_id = {t.id: t for t in transfers}
    adjusted: dict[str, int] = {}
    charged: dict[int, AdjustmentCharge] = {}
    for transfer in transfers:
        original = by_id.get(transfer.reverses) if transfer.reverses is not None else None
        if original is not None and original.id in charged:
            undone = charged[original.id]
            period, reversed_change = undone.period, undone.cents
        elif transfer.cap_change_cents is not None and transfer.kind in (
            Movement.ADJUSTMENT_UP,
            Movement.ADJUSTMENT_DOWN,
        ):
            period, reversed_change = cap_period(program, start, transfer.occurred_at), None
        else:
            continue
        cents = adjustment_cap_change(
            transfer.kind,
            value_cents(program, transfer.amount),
            adjusted.get(period, 0),
            reversed_change,
        )
        adjusted[period] = adjusted.get(period, 0) + cents
        charged[transfer.id] = AdjustmentCharge(transfer, period, cents)
    return list(charged.values())


def adjusted_in(charges: Iterable[AdjustmentCharge], period: str) -> int:
    """The cents the counted adjustments hold of ``period``'s cap usage."""
    return sum(c.cents for c in charges if c.period == period)


def cap_excess(program: Program, used: int, cents: int) -> int:
    """By how many cents adding ``cents`` to ``used`` (a period's cap usage) passes the
    program's cap: 0 when it fits."""
    assert program.cap_cents is not None
    return max(cents - max(program.cap_cents - used, 0), 0)


def cap_refusal(
    program: Program, participant: str, period: str, used: int, cents: int, what: str
) -> CapExceeded:
    """The refusal of ``what`` (e.g. ``+40 points``), worth ``cents``, when ``used`` of the
    cap is gone: ``P-1001 has $10.00 left under the $50.00 cap for 2026; +40 points is
    $40.00``."""
    assert program.cap_cents is not None
    room = max(program.cap_cents - used, 0)
    return CapExceeded(
        f"{participant} has {format_cents(room)} left under the"
        f" {format_cents(program.cap_cents)} cap for {period_label(period)};"
        f" {what} is {format_cents(cents)}"
    )


@attrs.frozen
class OverCapGrant:
    """An admin's adjustment past the cap: reported apart, with who granted it and why."""

    transfer_id: int
    participant: str
    points: int
    cents: int
    """The adjustment's value: its points at the program's point value."""
    over_cents: int
    """The part of it past the cap (what the cap had left was ``cents - over_cents``)."""
    actor: str
    reason: str
    at: dt.datetime
    """When it was granted (an adjustment's clinical time is when it is made)."""
    reversed: bool
    """An admin reversed it since; a reversed grant no longer counts in totals."""


def over_cap_grants(program: Program, transfers: Iterable[Transfer]) -> list[OverCapGrant]:
    """The grants over the cap among ``transfers`` (which hold their reversals), in order."""
    transfers = list(transfers)
    undone = {t.reverses for t in transfers if t.reverses is not None}
    return [
        OverCapGrant(
            transfer_id=t.id,
            participant=t.participant or "",
            points=t.amount,
            cents=value_cents(program, t.amount),
            over_cents=t.over_cap_cents,
            actor=t.actor,
            reason=t.reason,
            at=t.occurred_at,
            reversed=t.id in undone,
        )
        for t in transfers
        if t.over_cap_cents is not None
    ]


# --- what a protocol pays with the cap applied -----------------------------------


@attrs.frozen
class CappedMaximum:
    """The most one participant can receive, the cap applied: what ``program show`` and
    ``presets`` say. Prize draws count at their expected value (``MaximumEarnings``)."""

    cents: int
    """At most this per participant: the schedule's maximum, limited by the cap."""
    schedule_cents: int
    """What the schedule alone would pay with every sample negative."""
    cap_cents: int | None
    cap_period: CapPeriod | None
    """None without a cap."""
    capped: bool
    """The cap is below what the schedule would pay."""
    periods: int
    """Cap periods one enrolment can touch in the program's ``weeks``: above 1, each
    period has its own cap, so across periods a participant may receive more than
    ``cents`` (up to ``schedule_cents``)."""


def capped_maximum(program: Program, most: MaximumEarnings) -> CappedMaximum:
    """``most`` (``maximum_earnings(program)``) with the program's cap applied: at most one
    period's cap, and how many cap periods one enrolment of ``program.weeks`` can touch.
    Raises nothing. Rules: docs/design.md section 3.3."""
    if program.cap_cents is None:
        return CappedMaximum(most.value_cents, most.value_cents, None, None, False, 1)
    days = 7 * program.weeks
    if program.cap_period is CapPeriod.CALENDAR_YEAR:
        periods = 1 if days <= 1 else 2 + (days - 2) // 365
    else:
        periods = max(1, -(-days // 365))
    return CappedMaximum(
        cents=min(most.value_cents, program.cap_cents),
        schedule_cents=most.value_cents,
        cap_cents=program.cap_cents,
        cap_period=program.cap_period,
        capped=program.cap_cents < most.value_cents,
        periods=periods,
    )
