"""Staff-fulfilled redemption: the catalog, the prize cabinet and a one-way lifecycle.

    requested ──approve──▶ approved ──fulfil──▶ fulfilled ──reverse (admin)──▶ reversed
        │                      │
        └──── cancel / decline / expire ───▶ cancelled (hold released, stock returned)

The lifecycle is a transition table: every (state, command) pair not in it is
refused, so no code path can move a redemption backwards.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from ..errors import InsufficientPoints, InvalidTransition, OutOfStock, PermissionDenied
from .counts import plural
from .programs import Program


class RedemptionStatus(enum.StrEnum):
    """Where a redemption stands (docs/design.md section 5)."""

    REQUESTED = "requested"
    """Points (and one unit of stock) are held."""
    APPROVED = "approved"
    """A clinician agreed the item fits the participant's treatment goals."""
    FULFILLED = "fulfilled"
    """Handed over; the points are spent."""
    CANCELLED = "cancelled"
    """Cancelled, declined or expired; the hold was released and the stock returned."""
    REVERSED = "reversed"
    """Fulfilled, then undone by an admin; the points are back."""

    @property
    def is_open(self) -> bool:
        """Still holding points."""
        return self in (RedemptionStatus.REQUESTED, RedemptionStatus.APPROVED)


class Command(enum.StrEnum):
    APPROVE = "approve"
    FULFIL = "fulfil"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REVERSE = "reverse"


_S, _C = RedemptionStatus, Command
TRANSITIONS: dict[tuple[RedemptionStatus, Command], RedemptionStatus] = {
    (_S.REQUESTED, _C.APPROVE): _S.APPROVED,
    (_S.REQUESTED, _C.FULFIL): _S.FULFILLED,
    (_S.APPROVED, _C.FULFIL): _S.FULFILLED,
    (_S.REQUESTED, _C.CANCEL): _S.CANCELLED,
    (_S.APPROVED, _C.CANCEL): _S.CANCELLED,
    (_S.REQUESTED, _C.EXPIRE): _S.CANCELLED,
    (_S.APPROVED, _C.EXPIRE): _S.CANCELLED,
    (_S.FULFILLED, _C.REVERSE): _S.REVERSED,
}


def transition(
    status: RedemptionStatus, command: Command, *, require_approval: bool
) -> RedemptionStatus:
    """The status ``command`` leads to, or ``InvalidTransition`` saying why not."""
    if (status, command) == (_S.REQUESTED, _C.FULFIL) and require_approval:
        raise InvalidTransition("this program requires approval before fulfilment")
    after = TRANSITIONS.get((status, command))
    if after is None:
        raise InvalidTransition(f"a {status} redemption cannot be {_PAST[command]}")
    return after


_PAST = {
    Command.APPROVE: "approved",
    Command.FULFIL: "fulfilled",
    Command.CANCEL: "cancelled",
    Command.EXPIRE: "expired",
    Command.REVERSE: "reversed",
}


@attrs.frozen
class CatalogItem:
    """Something staff buy or hand over. Never cash."""

    sku: str
    name: str
    cost: int
    """Price in points; 0 for prize-cabinet items that cannot be bought with points."""
    stock: int | None
    """Units in the cabinet; None = bought on demand."""
    category: str | None
    """The prize category this item fulfils, if it is in the prize cabinet."""
    low_stock: int
    """Reports list the item when its stock is at or below this."""
    added_at: dt.datetime
    added_by: str

    @property
    def is_low(self) -> bool:
        return self.stock is not None and self.stock <= self.low_stock


class StockReason(enum.StrEnum):
    RESTOCK = "restock"
    REQUEST = "request"
    """One unit held by a redemption request."""
    CANCEL = "cancel"
    """The held unit returned."""
    PRIZE = "prize"
    """Handed over for a prize."""
    RETURN = "return"
    """A fulfilled item came back when its redemption was reversed."""


@attrs.frozen
class StockMovement:
    """One change to an item's stock. Never updated; the stock is their sum."""

    id: int
    sku: str
    change: int
    reason: StockReason
    cause: str | None
    actor: str
    at: dt.datetime


@attrs.frozen
class Redemption:
    """A participant's request for an item, and who did what with it."""

    id: int
    program_id: str
    participant: str
    sku: str
    cost: int
    status: RedemptionStatus
    requested_at: dt.datetime
    requested_by: str
    approved_at: dt.datetime | None = None
    approved_by: str | None = None
    fulfilled_at: dt.datetime | None = None
    fulfilled_by: str | None = None
    note: str | None = None
    """The receipt or gift-card last digits, at fulfilment."""
    actual_cost_cents: int | None = None
    """What the clinic paid, at fulfilment."""
    closed_at: dt.datetime | None = None
    """When it was cancelled, expired or reversed."""
    closed_by: str | None = None
    close_reason: str | None = None


@attrs.frozen
class PrizeFulfilment:
    """A prize handed over from the cabinet."""

    prize_id: int
    sku: str
    actor: str
    at: dt.datetime
    note: str | None


@attrs.frozen
class PrizeTrade:
    """One owed prize given up in a trade, and the prize received for the lot."""

    traded_prize: int
    new_prize: int
    actor: str
    at: dt.datetime


def check_request(item: CatalogItem, participant: str, available: int) -> None:
    """``participant``, with ``available`` points, may ask for ``item``: it is for points
    (cost 0 marks a prize-cabinet item, ``InvalidTransition``), they can pay for it
    (``InsufficientPoints``) and a unit is in stock (``OutOfStock``)."""
    if item.cost == 0:
        raise InvalidTransition(f"{item.sku} is a prize-cabinet item; it is not for points")
    if available < item.cost:
        raise InsufficientPoints(
            f"{item.sku} costs {plural(item.cost, 'point')}; {participant} has {available:,}"
            " available"
        )
    if item.stock is not None and item.stock < 1:
        raise OutOfStock(f"{item.sku} is out of stock")


def check_separate_duties(program: Program, redemption: Redemption, actor: str) -> None:
    """A program with ``separate_duties`` refuses a fulfilment by whoever requested or
    approved the redemption (``PermissionDenied``): one person alone never turns points
    into goods (README, "Redemption")."""
    if program.separate_duties and actor in (redemption.requested_by, redemption.approved_by):
        raise PermissionDenied(
            f"{program.id} separates duties: {actor} requested or approved redemption"
            f" {redemption.id} and may not also fulfil it"
        )


def is_overdue(redemption: Redemption, hold_days: int, now: dt.datetime) -> bool:
    """A hold expires once it is strictly older than ``hold_days`` at ``now``; one exactly
    ``hold_days`` old stays (docs/decisions.md, "Redemption: Expiry on the next write")."""
    return redemption.requested_at < now - dt.timedelta(days=hold_days)
