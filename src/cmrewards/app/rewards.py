"""The catalog, redemptions and the prize cabinet: points and prizes become things.

A request holds the points and one unit of stock in the same transaction as the
request itself, so two terminals can never spend the same points or the last
unit twice. Every later step moves the redemption one way along the table in
``redemption.py`` and writes the matching ledger transfer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import attrs

from ..domain import ledger
from ..domain.json_form import from_json
from ..domain.ledger import Movement
from ..domain.programs import Program
from ..domain.records import Prize, PrizeStatus
from ..domain.redemption import (
    CatalogItem,
    Command,
    PrizeFulfilment,
    PrizeTrade,
    Redemption,
    RedemptionStatus,
    StockReason,
    transition,
)
from ..domain.refs import Ref, RefKind, next_id
from ..domain.results import Balance
from ..domain.staff import Action
from ..domain.validation import check_id, check_text, is_row_id
from ..errors import (
    AlreadyExists,
    InsufficientPoints,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutOfStock,
    PermissionDenied,
)
from ..store.lookup import find_participant, find_program
from ..store.port import Tx
from ..views.balance import balance_of
from .unit_of_work import ClinicBase

MAX_QUANTITY = 100_000
"""No stock count is larger: a bigger number is a typo."""
MAX_COST = 10**9
"""No price, in points or cents, is larger."""
T = TypeVar("T")


@attrs.frozen
class RedemptionResult:
    """A redemption after a request or a step, with the participant's balance."""

    redemption: Redemption
    balance: Balance
    replayed: bool = False


class Redeeming(ClinicBase):
    """Catalog, redemption lifecycle, prizes and hold expiry."""

    # --- catalog ---------------------------------------------------------------

    def add_item(
        self,
        sku: str,
        *,
        name: str,
        cost: int,
        actor: str,
        stock: int | None = None,
        category: str | None = None,
        low_stock: int = 0,
    ) -> CatalogItem:
        """Add an item; ``stock`` None means it is bought on demand."""
        check_id(sku, "sku")
        item_name = check_text(name, "name", required=True)
        _count(cost, "cost", minimum=0, maximum=MAX_COST)
        _count(low_stock, "low stock threshold", minimum=0)
        if stock is not None:
            _count(stock, "stock", minimum=0)
        if category is not None:
            check_id(category, "category")
        now = self._clock()
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.MANAGE_CATALOG)
            if tx.item(sku) is not None:
                raise AlreadyExists(f"catalog item {sku!r} already exists")
            assert item_name is not None
            counted = None if stock is None else 0  # the first restock movement adds the units
            item = CatalogItem(sku, item_name, cost, counted, category, low_stock, now, actor)
            tx.add_item(item)
            if stock:
                self._move_stock(tx, sku, stock, StockReason.RESTOCK, None, actor)
            return _found(tx.item(sku), f"catalog item {sku!r}")

    def items(self) -> list[CatalogItem]:
        with self._store.read() as tx:
            return tx.items()

    def restock(self, sku: str, quantity: int, *, actor: str) -> CatalogItem:
        _count(quantity, "quantity", minimum=1)
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.MANAGE_CATALOG)
            item = _found(tx.item(sku), f"catalog item {sku!r}")
            if item.stock is None:
                raise InvalidTransition(f"{sku} is bought on demand and has no stock to count")
            self._move_stock(tx, sku, quantity, StockReason.RESTOCK, None, actor)
            return _found(tx.item(sku), f"catalog item {sku!r}")

    # --- redemption lifecycle -----------------------------------------------------

    def request_redemption(
        self, participant: str, sku: str, *, actor: str, key: str | None = None
    ) -> RedemptionResult:
        """Hold the item's cost in points (and one unit of stock) for the participant."""
        request = {"op": "redeem", "participant": participant, "sku": sku}
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.REQUEST)
            person = find_participant(tx, participant)

            def perform() -> RedemptionResult:
                item = _found(tx.item(sku), f"catalog item {sku!r}")
                if item.cost == 0:
                    raise InvalidTransition(f"{sku} is a prize-cabinet item; it is not for points")
                have = tx.balance(person.program_id, ledger.available(person.id))
                if have < item.cost:
                    raise InsufficientPoints(
                        f"{sku} costs {item.cost} points; {person.id} has {have} available"
                    )
                if item.stock is not None and item.stock < 1:
                    raise OutOfStock(f"{sku} is out of stock")
                last = tx.last_redemption()
                now = self._clock()
                redemption = Redemption(
                    id=next_id(last),
                    program_id=person.program_id,
                    participant=person.id,
                    sku=sku,
                    cost=item.cost,
                    status=RedemptionStatus.REQUESTED,
                    requested_at=now,
                    requested_by=actor,
                )
                tx.add_redemption(redemption)
                cause = Ref.to(RefKind.REDEMPTION, redemption.id)
                self._transfer(
                    tx, person.program_id, Movement.HOLD, person.id, item.cost, actor,
                    f"held for {sku}", cause,
                )  # fmt: skip
                if item.stock is not None:
                    self._move_stock(tx, sku, -1, StockReason.REQUEST, cause, actor)
                return self._result(tx, redemption)

            return self._idempotent(
                tx, person.program_id, key, request, _replayed_redemption, perform
            )

    def approve_redemption(self, redemption_id: int, *, actor: str) -> RedemptionResult:
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.APPROVE)
            redemption, program = self._redemption(tx, redemption_id)
            status = transition(
                redemption.status, Command.APPROVE, require_approval=program.require_approval
            )
            approved = attrs.evolve(
                redemption, status=status, approved_at=self._clock(), approved_by=actor
            )
            tx.update_redemption(approved)
            return self._result(tx, approved)

    def fulfil_redemption(
        self,
        redemption_id: int,
        *,
        actor: str,
        note: str | None = None,
        cost_cents: int | None = None,
    ) -> RedemptionResult:
        """Hand the item over: the held points are spent."""
        note = check_text(note, "note")
        if cost_cents is not None:
            _count(cost_cents, "cost in cents", minimum=0, maximum=MAX_COST)
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.FULFIL)
            redemption, program = self._redemption(tx, redemption_id)
            status = transition(
                redemption.status, Command.FULFIL, require_approval=program.require_approval
            )
            if program.separate_duties and actor in (
                redemption.requested_by,
                redemption.approved_by,
            ):
                raise PermissionDenied(
                    f"{program.id} separates duties: {actor} requested or approved redemption"
                    f" {redemption.id} and may not also fulfil it"
                )
            fulfilled = attrs.evolve(
                redemption,
                status=status,
                fulfilled_at=self._clock(),
                fulfilled_by=actor,
                note=note,
                actual_cost_cents=cost_cents,
            )
            tx.update_redemption(fulfilled)
            self._transfer(
                tx, redemption.program_id, Movement.SPEND, redemption.participant,
                redemption.cost, actor, f"{redemption.sku} handed over",
                Ref.to(RefKind.REDEMPTION, redemption.id),
            )  # fmt: skip
            return self._result(tx, fulfilled)

    def cancel_redemption(self, redemption_id: int, *, reason: str, actor: str) -> RedemptionResult:
        """Cancel or decline: the hold is released and the unit of stock returned."""
        why = check_text(reason, "reason", required=True)
        assert why is not None
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.CANCEL)
            redemption, _ = self._redemption(tx, redemption_id)
            cancelled = self._close(tx, redemption, Command.CANCEL, actor, why)
            return self._result(tx, cancelled)

    def expire(self, *, actor: str) -> list[Redemption]:
        """Release every hold older than its program's ``hold_days`` now."""
        with self._unit() as tx:
            self._authorise(tx, actor, Action.EXPIRE)
            return self._expire_overdue(tx, actor)

    def redemptions(self, participant: str | None = None) -> list[Redemption]:
        with self._store.read() as tx:
            if participant is not None:
                find_participant(tx, participant)
            return tx.redemptions(participant)

    def _expire_overdue(self, tx: Tx, actor: str) -> list[Redemption]:
        now = self._clock()
        expired = []
        programs: dict[str, Program] = {}
        for redemption in tx.open_redemptions(now - dt.timedelta(days=1)):
            program = programs.get(redemption.program_id) or find_program(tx, redemption.program_id)
            programs[program.id] = program
            if redemption.requested_at < now - dt.timedelta(days=program.hold_days):
                reason = f"expired: held longer than {program.hold_days} days"
                expired.append(self._close(tx, redemption, Command.EXPIRE, actor, reason))
        return expired

    def _close(
        self, tx: Tx, redemption: Redemption, command: Command, actor: str, reason: str
    ) -> Redemption:
        program = find_program(tx, redemption.program_id)
        status = transition(redemption.status, command, require_approval=program.require_approval)
        closed = attrs.evolve(
            redemption, status=status, closed_at=self._clock(), closed_by=actor, close_reason=reason
        )
        tx.update_redemption(closed)
        cause = Ref.to(RefKind.REDEMPTION, redemption.id)
        self._transfer(
            tx, redemption.program_id, Movement.RELEASE, redemption.participant,
            redemption.cost, actor, reason, cause,
        )  # fmt: skip
        item = tx.item(redemption.sku)
        if item is not None and item.stock is not None:
            self._move_stock(tx, redemption.sku, 1, StockReason.CANCEL, cause, actor)
        return closed

    # --- prizes ------------------------------------------------------------------

    def prizes(self, participant: str) -> list[Prize]:
        with self._store.read() as tx:
            find_participant(tx, participant)
            return tx.prizes(participant)

    def fulfil_prize(
        self, prize_id: int, *, sku: str, actor: str, note: str | None = None
    ) -> Prize:
        """Hand over an item of the won category from the cabinet."""
        note = check_text(note, "note")
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.FULFIL)
            prize = _found(tx.prize(prize_id) if is_row_id(prize_id) else None, f"prize {prize_id}")
            if prize.status is not PrizeStatus.OWED:
                raise InvalidTransition(f"prize {prize_id} was already {prize.status}")
            item = _found(tx.item(sku), f"catalog item {sku!r}")
            if item.category != prize.category:
                raise InvalidTransition(
                    f"prize {prize_id} is a {prize.category} prize; {sku} is"
                    f" {'not in the prize cabinet' if item.category is None else item.category}"
                )
            if item.stock is not None:
                if item.stock < 1:
                    raise OutOfStock(f"{sku} is out of stock")
                self._move_stock(
                    tx, sku, -1, StockReason.PRIZE, Ref.to(RefKind.PRIZE, prize_id), actor
                )
            tx.fulfil_prize(PrizeFulfilment(prize_id, sku, actor, self._clock(), note))
            return attrs.evolve(prize, status=PrizeStatus.FULFILLED)

    def trade_prizes(self, participant: str, *, give: str, get: str, actor: str) -> Prize:
        """Exchange owed prizes for one better one, as the program's trade rule allows.

        The oldest owed prizes of ``give`` are traded; the new prize is owed like any
        other. It does not count against the cap again: what was won already did.
        """
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.FULFIL)
            person = find_participant(tx, participant)
            program = find_program(tx, person.program_id)
            rule = next((t for t in program.trades if (t.give, t.get) == (give, get)), None)
            if rule is None:
                raise InvalidTransition(f"{program.id} has no trade of {give} prizes for {get}")
            owed = [
                p
                for p in tx.prizes(person.id)
                if p.category == give and p.status is PrizeStatus.OWED
            ][: rule.count]
            if len(owed) < rule.count:
                raise InvalidTransition(
                    f"the trade takes {rule.count} owed {give} prizes; {person.id} has {len(owed)}"
                )
            last = tx.last_prize()
            now = self._clock()
            received = Prize(
                id=next_id(last),
                program_id=program.id,
                participant=person.id,
                outcome_id=None,
                draw=None,
                category=get,
                value_cents=next(c.value_cents for c in program.bowl if c.category == get),
                won_at=now,
            )
            tx.add_prizes([received])
            tx.add_prize_trades([PrizeTrade(p.id, received.id, actor, now) for p in owed])
            return received

    # --- helpers -----------------------------------------------------------------

    def _redemption(self, tx: Tx, redemption_id: int) -> tuple[Redemption, Program]:
        redemption = _found(
            tx.redemption(redemption_id) if is_row_id(redemption_id) else None,
            f"redemption {redemption_id}",
        )
        return redemption, find_program(tx, redemption.program_id)

    def _result(self, tx: Tx, redemption: Redemption) -> RedemptionResult:
        person = find_participant(tx, redemption.participant)
        program = find_program(tx, redemption.program_id)
        return RedemptionResult(redemption, balance_of(tx, person, program, self._clock()))


def _count(value: int, what: str, *, minimum: int, maximum: int = MAX_QUANTITY) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{what} must be between {minimum} and {maximum:,}")
    return value


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise NotFound(f"no {what}")
    return value


def _replayed_redemption(data: Any) -> RedemptionResult:
    return attrs.evolve(from_json(RedemptionResult, data), replayed=True)
