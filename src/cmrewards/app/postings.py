"""The rows use cases append to the two logs beside the outcomes: ledger transfers,
sealed into their hash chain, and stock movements. Neither is ever updated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..domain import ledger
from ..domain.chain import link, position_after
from ..domain.ledger import Movement, Transfer
from ..domain.redemption import StockMovement, StockReason
from ..domain.refs import next_id
from ..store.port import Catalog, LedgerPosting


def transfer(
    tx: LedgerPosting,
    now: dt.datetime,
    program_id: str,
    movement: Movement,
    participant: str | None,
    amount: int,
    actor: str,
    reason: str,
    cause: str | None,
    occurred_at: dt.datetime | None = None,
    *,
    accounts: tuple[str, str] | None = None,
    reverses: int | None = None,
    settles: int | None = None,
    cap_change_cents: int | None = None,
    over_cap_cents: int | None = None,
) -> Transfer:
    """Append one transfer of ``amount`` points, recorded at ``now``, and return it.

    The accounts follow from ``movement`` and ``participant`` (``ledger.route``)
    unless given, as a reversal gives them swapped. ``occurred_at`` is the clinical
    time (an outcome's), ``now`` when None. ``cause`` is a ``Ref`` text or None;
    ``settles`` the outcome a settlement pays or takes back for, when not its cause;
    ``cap_change_cents`` and ``over_cap_cents`` what a counted adjustment does to the cap
    (``domain/caps.py``).
    """
    if accounts is None:
        assert participant is not None
        accounts = ledger.route(movement, participant)
    transfer_id, prev_hash = position_after(tx.last_transfer())
    fields: dict[str, Any] = {
        "id": transfer_id,
        "program_id": program_id,
        "kind": movement,
        "from_account": accounts[0],
        "to_account": accounts[1],
        "amount": amount,
        "participant": participant,
        "actor": actor,
        "reason": reason,
        "cause": cause,
        "reverses": reverses,
        "occurred_at": occurred_at or now,
        "recorded_at": now,
        "prev_hash": prev_hash,
        "settles": settles,
        "cap_change_cents": cap_change_cents,
        "over_cap_cents": over_cap_cents,
    }
    # Built again with its hash, as ``recording.sealed_outcome`` builds an outcome: cheaper
    # than ``chain.sealed``'s ``attrs.evolve`` (issue 16).
    unsealed = Transfer(**fields, hash="")
    posted = Transfer(**fields, hash=link(prev_hash, unsealed.hash_fields()))
    tx.append_transfers([posted])
    return posted


def move_stock(
    tx: Catalog,
    now: dt.datetime,
    sku: str,
    change: int,
    reason: StockReason,
    cause: str | None,
    actor: str,
) -> None:
    """Append one stock movement of ``change`` units (negative out, positive in) at ``now``;
    the item's cached stock follows in the same unit of work."""
    movement = StockMovement(
        id=next_id(tx.last_stock_movement()),
        sku=sku,
        change=change,
        reason=reason,
        cause=cause,
        actor=actor,
        at=now,
    )
    tx.add_stock_movements([movement])
