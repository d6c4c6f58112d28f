"""Annual caps: the award that reaches the cap is cut to what fits.

US programs limit what one participant may receive in a year ($599 or $750).
The value of an award is its points at the program's point value plus the value
of the prizes won; a prize that does not fit is downgraded to the largest
category that does, else to no prize.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import attrs

from .bowl import largest_fitting
from .clock import local_date
from .earning import value_cents
from .ledger import Movement, Transfer
from .programs import BowlCategory, CapPeriod, Program


def cap_period(program: Program, start: dt.date, at: dt.datetime) -> str:
    """The cap period an award at clinical time ``at`` falls in: ``2027`` or ``enrolment-2``."""
    day = local_date(at, program.timezone)
    if program.cap_period is CapPeriod.CALENDAR_YEAR:
        return str(day.year)
    years = day.year - start.year - ((day.month, day.day) < (start.month, start.day))
    return f"enrolment-{years + 1}"


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
