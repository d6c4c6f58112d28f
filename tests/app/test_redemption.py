"""Staff-fulfilled redemption and the prize cabinet (docs/design.md sections 2, 4 and 5).

The lifecycle table is written out in full below (every status, every command, with and
without approval) rather than derived from ``TRANSITIONS``. The behaviour tests run on both
stores through the public ``Clinic`` API; the ``shop`` fixture checks the redemption
invariants after every test: held points equal the cost of open redemptions, stock is never
negative and equals its movements, each redemption caused exactly the transfers its state
says (so it was resolved at most once), and ``verify`` finds nothing.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest

import cmrewards
from cmrewards import (
    AlreadyExists,
    Clinic,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutOfStock,
    PermissionDenied,
)
from cmrewards.domain.ledger import Movement
from cmrewards.domain.programs import program_from_toml
from cmrewards.domain.records import PrizeStatus
from cmrewards.domain.redemption import (
    Command,
    Redemption,
    RedemptionStatus,
    transition,
)
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
RECORDER = "rec-1"
CLIN_A = "clin-a"
CLIN_B = "clin-b"
CLIN_C = "clin-c"
HIGGINS = "higgins-vbrt"
TARGET = "stimulant-negative"
CARD = "GC10"
"""A $10 gift card: 40 points, three in the cabinet."""
BUS = "BUS-PASS"
"""A bus pass bought on demand: 25 points, no stock."""
FUNDS = 100
"""Points P001 starts every test with (an admin adjustment)."""

REQUESTED = RedemptionStatus.REQUESTED
APPROVED = RedemptionStatus.APPROVED
FULFILLED = RedemptionStatus.FULFILLED
CANCELLED = RedemptionStatus.CANCELLED
REVERSED = RedemptionStatus.REVERSED

# --- (a) the lifecycle, written out --------------------------------------------------------

WITH_APPROVAL: dict[tuple[str, str], str | None] = {
    ("requested", "approve"): "approved",
    ("requested", "fulfil"): None,  # approval first
    ("requested", "cancel"): "cancelled",
    ("requested", "expire"): "cancelled",
    ("requested", "reverse"): None,
    ("approved", "approve"): None,
    ("approved", "fulfil"): "fulfilled",
    ("approved", "cancel"): "cancelled",
    ("approved", "expire"): "cancelled",
    ("approved", "reverse"): None,
    ("fulfilled", "approve"): None,
    ("fulfilled", "fulfil"): None,
    ("fulfilled", "cancel"): None,
    ("fulfilled", "expire"): None,
    ("fulfilled", "reverse"): "reversed",
    ("cancelled", "approve"): None,
    ("cancelled", "fulfil"): None,
    ("cancelled", "cancel"): None,
    ("cancelled", "expire"): None,
    ("cancelled", "reverse"): None,
    ("reversed", "approve"): None,
    ("reversed", "fulfil"): None,
    ("reversed", "cancel"): None,
    ("reversed", "expire"): None,
    ("reversed", "reverse"): None,
}
"""Every (status, command) of a program that requires approval: the next status or None."""

WITHOUT_APPROVAL: dict[tuple[str, str], str | None] = {
    **WITH_APPROVAL,
    ("requested", "fulfil"): "fulfilled",  # approval is still allowed, just not needed
}
"""The same for a program that does not require approval: one step more."""

TABLES = {True: WITH_APPROVAL, False: WITHOUT_APPROVAL}
ALL_PAIRS = [
    (status, command, approval)
    for approval in (True, False)
    for status in ("requested", "approved", "fulfilled", "cancelled", "reversed")
    for command in ("approve", "fulfil", "cancel", "expire", "reverse")
]


def test_the_written_out_table_names_every_status_and_command() -> None:
    assert sorted(str(s) for s in RedemptionStatus) == sorted(
        ["requested", "approved", "fulfilled", "cancelled", "reversed"]
    )
    assert sorted(str(c) for c in Command) == sorted(
        ["approve", "fulfil", "cancel", "expire", "reverse"]
    )
    every_pair = {(str(s), str(c)) for s, c in itertools.product(RedemptionStatus, Command)}
    assert set(WITH_APPROVAL) == every_pair
    assert set(WITHOUT_APPROVAL) == every_pair
    assert len(ALL_PAIRS) == 2 * len(every_pair)


@pytest.mark.parametrize(("status", "command", "require_approval"), ALL_PAIRS)
def test_transition(status: str, command: str, require_approval: bool) -> None:
    expected = TABLES[require_approval][status, command]
    if expected is None:
        with pytest.raises(InvalidTransition):
            transition(
                RedemptionStatus(status), Command(command), require_approval=require_approval
            )
    else:
        after = transition(
            RedemptionStatus(status), Command(command), require_approval=require_approval
        )
        assert (status, command, str(after)) == (status, command, expected)


def test_only_requested_and_approved_are_open() -> None:
    assert {str(s) for s in RedemptionStatus if s.is_open} == {"requested", "approved"}


def test_a_refused_transition_says_why() -> None:
    with pytest.raises(InvalidTransition, match="requires approval"):
        transition(REQUESTED, Command.FULFIL, require_approval=True)
    with pytest.raises(InvalidTransition, match="cancelled redemption cannot be fulfilled"):
        transition(CANCELLED, Command.FULFIL, require_approval=False)


# --- helpers ------------------------------------------------------------------------------

Snapshot = dict[str, Any]

EXPECTED_TRANSFERS = {
    REQUESTED: ["hold"],
    APPROVED: ["hold"],
    FULFILLED: ["hold", "spend"],
    CANCELLED: ["hold", "release"],
    REVERSED: ["hold", "spend", "release"],
}
"""The transfers (by cause) a redemption in each state has caused: one hold, resolved once."""


def snapshot(clinic: Clinic) -> Snapshot:
    """Every row a refused request must leave as it was, read through the store port."""
    with clinic._store.read() as tx:
        return {
            "transfers": tx.transfers(),
            "balances": tx.balances(),
            "redemptions": tx.redemptions(),
            "items": tx.items(),
            "stock_movements": tx.stock_movements(),
            "prizes": tx.prizes(),
            "prize_fulfilments": tx.prize_fulfilments(),
            "outcomes": tx.outcomes(),
        }


def check_invariants(clinic: Clinic) -> None:
    """The redemption invariants of docs/design.md sections 4 and 5."""
    with clinic._store.read() as tx:
        transfers = tx.transfers()
        redemptions = tx.redemptions()
        items = tx.items()
        movements = tx.stock_movements()
        participants = tx.participants()
    open_cost: dict[str, int] = defaultdict(int)
    for redemption in redemptions:
        if redemption.status in (REQUESTED, APPROVED):
            open_cost[redemption.participant] += redemption.cost
    for person in participants:
        balance = clinic.balance(person.id)
        assert (person.id, balance.held_points) == (person.id, open_cost[person.id])
        assert balance.available_points >= 0
        assert balance.points == balance.available_points + balance.held_points
    counted: dict[str, int] = defaultdict(int)
    for movement in movements:
        counted[movement.sku] += movement.change
    for item in items:
        if item.stock is not None:
            assert item.stock >= 0, item
            assert (item.sku, item.stock) == (item.sku, counted[item.sku])
        else:
            assert (item.sku, counted[item.sku]) == (item.sku, 0)
    caused: dict[str, list[str]] = defaultdict(list)
    for transfer in transfers:
        if transfer.cause and transfer.cause.startswith("redemption:"):
            caused[transfer.cause].append(str(transfer.kind))
            assert transfer.amount > 0
    for redemption in redemptions:
        kinds = caused[f"redemption:{redemption.id}"]
        assert (redemption.id, kinds) == (redemption.id, EXPECTED_TRANSFERS[redemption.status])
        resolutions = [k for k in kinds if k in ("spend", "release")]
        assert len(resolutions) <= (2 if redemption.status is REVERSED else 1)
    report = clinic.verify()
    assert report.problems == ()
    assert report.ok


def balance_triple(clinic: Clinic, participant: str = "P001") -> tuple[int, int, int]:
    """(points, available, held)."""
    b = clinic.balance(participant)
    return (b.points, b.available_points, b.held_points)


def stock(clinic: Clinic, sku: str) -> int | None:
    (item,) = [i for i in clinic.items() if i.sku == sku]
    return item.stock


def redeemed(clinic: Clinic, program_id: str = HIGGINS) -> int:
    """The balance of the program's ``redeemed`` sink."""
    with clinic._store.read() as tx:
        return tx.balance(program_id, "redeemed")


def redemption(clinic: Clinic, redemption_id: int) -> Redemption:
    (found,) = [r for r in clinic.redemptions() if r.id == redemption_id]
    return found


def spend_of(clinic: Clinic, redemption_id: int) -> int:
    """The id of the spend transfer of a fulfilled redemption."""
    with clinic._store.read() as tx:
        (spend,) = [
            t
            for t in tx.transfers()
            if t.kind is Movement.SPEND and t.cause == f"redemption:{redemption_id}"
        ]
    return spend.id


def refused(
    clinic: Clinic, error: type[Exception], call: Callable[[], object], match: str | None = None
) -> None:
    """``call`` raises ``error`` and writes nothing."""
    before = snapshot(clinic)
    with pytest.raises(error, match=match):
        call()
    assert snapshot(clinic) == before


def points_program(
    program_id: str,
    *,
    require_approval: bool = True,
    separate_duties: bool = False,
    hold_days: int = 30,
) -> cmrewards.Program:
    text = f"""\
id = "{program_id}"
name = "Attendance points"
point_value_cents = 10
require_approval = {str(require_approval).lower()}
separate_duties = {str(separate_duties).lower()}
hold_days = {hold_days}

[[targets]]
id = "attendance"
schedule = {{ kind = "fixed", award = "points", amount = 10 }}
"""
    return program_from_toml(text, f"{program_id}.toml")


def enrol_funded(clinic: Clinic, participant: str, program_id: str, points: int) -> None:
    clinic.enroll(participant, program_id, start=START, actor=ADMIN)
    if points:
        clinic.adjust(participant, points, reason="opening balance", actor=ADMIN)


@pytest.fixture
def shop(higgins: Clinic) -> Iterator[Clinic]:
    """``higgins`` with staff, P001 holding 100 points, P002 with none, a card and a pass.

    After the test, the redemption invariants and ``verify`` must hold.
    """
    clinic = higgins
    clinic.add_staff(RECORDER, "recorder", actor=ADMIN)
    for clinician in (CLIN_A, CLIN_B, CLIN_C):
        clinic.add_staff(clinician, "clinician", actor=ADMIN)
    clinic.adjust("P001", FUNDS, reason="opening balance", actor=ADMIN)
    clinic.enroll("P002", HIGGINS, start=START, actor=ADMIN)
    clinic.add_item(CARD, name="$10 grocery gift card", cost=40, stock=3, actor=ADMIN)
    clinic.add_item(BUS, name="Weekly bus pass", cost=25, actor=ADMIN)
    check_invariants(clinic)
    yield clinic
    check_invariants(clinic)


# --- catalog ------------------------------------------------------------------------------


def test_add_item_records_what_was_given(shop: Clinic, clock: FakeClock) -> None:
    item = shop.add_item(
        "TOY", name="Small toy", cost=0, stock=4, category="small", low_stock=1, actor=ADMIN
    )
    assert attrs.asdict(item) == {
        "sku": "TOY",
        "name": "Small toy",
        "cost": 0,
        "stock": 4,
        "category": "small",
        "low_stock": 1,
        "added_at": clock.now,
        "added_by": ADMIN,
    }
    assert [i.sku for i in shop.items()] == [BUS, CARD, "TOY"]
    assert stock(shop, BUS) is None
    assert stock(shop, CARD) == 3


def test_restock_adds_units_and_low_stock_follows(shop: Clinic) -> None:
    shop.add_item("MUG", name="Mug", cost=5, stock=1, low_stock=2, actor=ADMIN)
    assert [i.is_low for i in shop.items() if i.sku == "MUG"] == [True]
    item = shop.restock("MUG", 4, actor=ADMIN)
    assert (item.stock, item.is_low) == (5, False)
    assert stock(shop, "MUG") == 5


def test_an_item_added_with_no_units_is_counted_not_on_demand(shop: Clinic) -> None:
    item = shop.add_item("EMPTY", name="Sold out", cost=10, stock=0, actor=ADMIN)
    assert item.stock == 0
    assert shop.restock("EMPTY", 2, actor=ADMIN).stock == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"cost": -1}, InvalidInput),
        ({"cost": 10**9 + 1}, InvalidInput),
        ({"cost": 1.5}, InvalidInput),
        ({"cost": True}, InvalidInput),
        ({"stock": -1}, InvalidInput),
        ({"stock": 100_001}, InvalidInput),
        ({"stock": 10**30}, InvalidInput),
        ({"low_stock": -1}, InvalidInput),
        ({"name": "  "}, InvalidInput),
        ({"category": "not a slug"}, InvalidInput),
        ({"sku": "has space"}, InvalidInput),
        ({"sku": CARD}, AlreadyExists),
    ],
)
def test_add_item_refuses_bad_values(
    shop: Clinic, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    given: dict[str, Any] = {"sku": "NEW", "name": "New", "cost": 10, "stock": 1} | kwargs
    sku = given.pop("sku")
    refused(shop, error, lambda: shop.add_item(sku, actor=ADMIN, **given))


@pytest.mark.parametrize(
    ("sku", "quantity", "error"),
    [
        (CARD, 0, InvalidInput),
        (CARD, -2, InvalidInput),
        (CARD, 100_001, InvalidInput),
        (CARD, 10**30, InvalidInput),
        ("NOPE", 1, NotFound),
        (BUS, 1, InvalidTransition),
    ],
)
def test_restock_refuses(shop: Clinic, sku: str, quantity: int, error: type[Exception]) -> None:
    refused(shop, error, lambda: shop.restock(sku, quantity, actor=ADMIN))


@pytest.mark.parametrize("actor", [RECORDER, CLIN_A, "ghost"])
def test_only_an_admin_manages_the_catalog(shop: Clinic, actor: str) -> None:
    refused(shop, PermissionDenied, lambda: shop.add_item("X", name="X", cost=1, actor=actor))
    refused(shop, PermissionDenied, lambda: shop.restock(CARD, 1, actor=actor))


# --- request ------------------------------------------------------------------------------


def test_request_holds_the_cost_and_one_unit(shop: Clinic, clock: FakeClock) -> None:
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)
    result = shop.request_redemption("P001", CARD, actor=RECORDER)
    assert result.replayed is False
    assert result.redemption == Redemption(
        id=1,
        program_id=HIGGINS,
        participant="P001",
        sku=CARD,
        cost=40,
        status=REQUESTED,
        requested_at=clock.now,
        requested_by=RECORDER,
    )
    assert (result.balance.points, result.balance.available_points) == (FUNDS, FUNDS - 40)
    assert result.balance.held_points == 40
    assert result.balance == shop.balance("P001")
    assert balance_triple(shop) == (FUNDS, FUNDS - 40, 40)
    assert stock(shop, CARD) == 2
    assert shop.redemptions() == [result.redemption]
    assert shop.redemptions("P001") == [result.redemption]
    assert shop.redemptions("P002") == []


def test_requests_of_an_on_demand_item_count_no_stock(shop: Clinic) -> None:
    first = shop.request_redemption("P001", BUS, actor=CLIN_A)
    second = shop.request_redemption("P001", BUS, actor=CLIN_A)
    assert (first.redemption.id, second.redemption.id) == (1, 2)
    assert balance_triple(shop) == (FUNDS, FUNDS - 50, 50)
    assert stock(shop, BUS) is None


def test_exactly_enough_points_is_enough(shop: Clinic) -> None:
    shop.adjust("P002", 40, reason="exact", actor=ADMIN)
    shop.request_redemption("P002", CARD, actor=RECORDER)
    assert balance_triple(shop, "P002") == (40, 0, 40)


def test_insufficient_points_are_refused_and_nothing_written(shop: Clinic) -> None:
    shop.adjust("P002", 39, reason="one short", actor=ADMIN)
    refused(
        shop,
        InsufficientPoints,
        lambda: shop.request_redemption("P002", CARD, actor=RECORDER),
        match="39 available",
    )
    assert balance_triple(shop, "P002") == (39, 39, 0)
    assert stock(shop, CARD) == 3


def test_held_points_cannot_be_requested_twice(shop: Clinic) -> None:
    shop.request_redemption("P001", CARD, actor=RECORDER)
    shop.request_redemption("P001", CARD, actor=RECORDER)
    assert balance_triple(shop) == (FUNDS, FUNDS - 80, 80)
    refused(shop, InsufficientPoints, lambda: shop.request_redemption("P001", CARD, actor=CLIN_A))
    assert stock(shop, CARD) == 1


def test_out_of_stock_is_refused_and_nothing_written(shop: Clinic) -> None:
    shop.add_item("LAST", name="The last one", cost=10, stock=1, actor=ADMIN)
    shop.request_redemption("P001", "LAST", actor=RECORDER)
    assert stock(shop, "LAST") == 0
    refused(shop, OutOfStock, lambda: shop.request_redemption("P001", "LAST", actor=RECORDER))
    shop.add_item("NONE", name="Never stocked", cost=10, stock=0, actor=ADMIN)
    refused(shop, OutOfStock, lambda: shop.request_redemption("P001", "NONE", actor=RECORDER))
    assert balance_triple(shop) == (FUNDS, FUNDS - 10, 10)


@pytest.mark.parametrize(
    ("participant", "sku", "actor", "error"),
    [
        ("P999", CARD, RECORDER, NotFound),
        ("P001", "NOPE", RECORDER, NotFound),
        ("P001", CARD, "ghost", PermissionDenied),
    ],
)
def test_request_refusals(
    shop: Clinic, participant: str, sku: str, actor: str, error: type[Exception]
) -> None:
    refused(shop, error, lambda: shop.request_redemption(participant, sku, actor=actor))


def test_a_prize_cabinet_item_is_not_for_points(shop: Clinic) -> None:
    shop.add_item("TOY", name="Toy", cost=0, stock=2, category="small", actor=ADMIN)
    refused(shop, InvalidTransition, lambda: shop.request_redemption("P001", "TOY", actor=ADMIN))


# --- approve and fulfil -------------------------------------------------------------------


def test_approval_is_required_before_fulfilment(shop: Clinic, clock: FakeClock) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    refused(
        shop,
        InvalidTransition,
        lambda: shop.fulfil_redemption(rid, actor=CLIN_A),
        match="requires approval",
    )
    clock.advance(hours=2)
    approved = shop.approve_redemption(rid, actor=CLIN_A)
    assert approved.redemption.status is APPROVED
    assert (approved.redemption.approved_by, approved.redemption.approved_at) == (
        CLIN_A,
        clock.now,
    )
    assert approved.balance == shop.balance("P001")
    assert balance_triple(shop) == (FUNDS, FUNDS - 40, 40)
    refused(shop, InvalidTransition, lambda: shop.approve_redemption(rid, actor=CLIN_B))


def test_fulfil_spends_the_held_points(shop: Clinic, clock: FakeClock) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    shop.approve_redemption(rid, actor=CLIN_A)
    clock.advance(minutes=30)
    result = shop.fulfil_redemption(rid, actor=CLIN_A, note="card ending 4417", cost_cents=1000)
    done = result.redemption
    assert done.status is FULFILLED
    assert (done.fulfilled_by, done.fulfilled_at) == (CLIN_A, clock.now)
    assert (done.note, done.actual_cost_cents) == ("card ending 4417", 1000)
    assert done == redemption(shop, rid)
    assert balance_triple(shop) == (FUNDS - 40, FUNDS - 40, 0)
    assert result.balance == shop.balance("P001")
    assert redeemed(shop) == 40
    assert stock(shop, CARD) == 2  # the unit held at request was handed over
    for step in (
        lambda: shop.fulfil_redemption(rid, actor=CLIN_B),
        lambda: shop.cancel_redemption(rid, reason="too late", actor=CLIN_B),
        lambda: shop.approve_redemption(rid, actor=CLIN_B),
    ):
        refused(shop, InvalidTransition, step)


def test_fulfil_without_a_note_or_cost(shop: Clinic) -> None:
    rid = shop.request_redemption("P001", BUS, actor=CLIN_A).redemption.id
    shop.approve_redemption(rid, actor=CLIN_A)
    done = shop.fulfil_redemption(rid, actor=CLIN_A).redemption
    assert (done.status, done.note, done.actual_cost_cents) == (FULFILLED, None, None)


@pytest.mark.parametrize(
    ("note", "cost_cents"),
    [("two\nlines", None), ("x" * 501, None), (None, -1), (None, 10**9 + 1), (None, 10**30)],
)
def test_fulfil_refuses_bad_values(shop: Clinic, note: str | None, cost_cents: int | None) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    shop.approve_redemption(rid, actor=CLIN_A)
    refused(
        shop,
        InvalidInput,
        lambda: shop.fulfil_redemption(rid, actor=CLIN_A, note=note, cost_cents=cost_cents),
    )
    assert redemption(shop, rid).status is APPROVED


def test_approval_is_skipped_when_the_program_does_not_require_it(shop: Clinic) -> None:
    program = points_program("no-approval", require_approval=False)
    assert program.require_approval is False
    shop.add_program(program, actor=ADMIN)
    enrol_funded(shop, "Q001", "no-approval", 60)
    rid = shop.request_redemption("Q001", CARD, actor=RECORDER).redemption.id
    done = shop.fulfil_redemption(rid, actor=CLIN_A, note="receipt 88").redemption
    assert (done.status, done.approved_by, done.fulfilled_by) == (FULFILLED, None, CLIN_A)
    assert balance_triple(shop, "Q001") == (20, 20, 0)
    assert redeemed(shop, "no-approval") == 40


def test_separate_duties_refuses_the_requester_and_the_approver(shop: Clinic) -> None:
    shop.add_program(points_program("split", separate_duties=True), actor=ADMIN)
    enrol_funded(shop, "S001", "split", 100)
    rid = shop.request_redemption("S001", CARD, actor=CLIN_A).redemption.id
    shop.approve_redemption(rid, actor=CLIN_B)
    for actor in (CLIN_A, CLIN_B):
        refused(
            shop,
            PermissionDenied,
            partial(shop.fulfil_redemption, rid, actor=actor),
            match="separates duties",
        )
    done = shop.fulfil_redemption(rid, actor=CLIN_C, note="handed over").redemption
    assert (done.requested_by, done.approved_by, done.fulfilled_by) == (CLIN_A, CLIN_B, CLIN_C)


def test_separate_duties_also_binds_an_admin(shop: Clinic) -> None:
    shop.add_program(points_program("split", separate_duties=True), actor=ADMIN)
    enrol_funded(shop, "S001", "split", 100)
    rid = shop.request_redemption("S001", BUS, actor=ADMIN).redemption.id
    shop.approve_redemption(rid, actor=CLIN_A)
    refused(shop, PermissionDenied, lambda: shop.fulfil_redemption(rid, actor=ADMIN))
    assert shop.fulfil_redemption(rid, actor=CLIN_B).redemption.status is FULFILLED


def test_separate_duties_without_approval_refuses_the_requester(shop: Clinic) -> None:
    program = points_program("split-quick", require_approval=False, separate_duties=True)
    shop.add_program(program, actor=ADMIN)
    enrol_funded(shop, "S001", "split-quick", 100)
    rid = shop.request_redemption("S001", CARD, actor=CLIN_A).redemption.id
    refused(shop, PermissionDenied, lambda: shop.fulfil_redemption(rid, actor=CLIN_A))
    done = shop.fulfil_redemption(rid, actor=CLIN_B).redemption
    assert (done.status, done.requested_by, done.fulfilled_by) == (FULFILLED, CLIN_A, CLIN_B)


def test_without_separate_duties_one_clinician_may_do_everything(shop: Clinic) -> None:
    rid = shop.request_redemption("P001", CARD, actor=CLIN_A).redemption.id
    shop.approve_redemption(rid, actor=CLIN_A)
    done = shop.fulfil_redemption(rid, actor=CLIN_A).redemption
    assert (done.requested_by, done.approved_by, done.fulfilled_by) == (CLIN_A, CLIN_A, CLIN_A)


# --- cancel -------------------------------------------------------------------------------


@pytest.mark.parametrize("approve_first", [False, True], ids=["requested", "approved"])
def test_cancel_releases_the_points_and_returns_the_stock(
    shop: Clinic, clock: FakeClock, approve_first: bool
) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    if approve_first:
        shop.approve_redemption(rid, actor=CLIN_A)
    clock.advance(hours=1)
    result = shop.cancel_redemption(rid, reason="participant chose another item", actor=CLIN_B)
    closed = result.redemption
    assert closed.status is CANCELLED
    assert (closed.closed_by, closed.closed_at, closed.close_reason) == (
        CLIN_B,
        clock.now,
        "participant chose another item",
    )
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)
    assert result.balance == shop.balance("P001")
    assert stock(shop, CARD) == 3
    assert redeemed(shop) == 0
    for step in (
        lambda: shop.cancel_redemption(rid, reason="again", actor=CLIN_B),
        lambda: shop.approve_redemption(rid, actor=CLIN_B),
        lambda: shop.fulfil_redemption(rid, actor=CLIN_B),
    ):
        refused(shop, InvalidTransition, step)


def test_cancel_of_an_on_demand_item_moves_no_stock(shop: Clinic) -> None:
    rid = shop.request_redemption("P001", BUS, actor=RECORDER).redemption.id
    shop.cancel_redemption(rid, reason="declined", actor=CLIN_A)
    assert stock(shop, BUS) is None
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)


@pytest.mark.parametrize("reason", ["", "   ", "two\nlines"])
def test_cancel_needs_a_one_line_reason(shop: Clinic, reason: str) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    refused(shop, InvalidInput, lambda: shop.cancel_redemption(rid, reason=reason, actor=CLIN_A))


@pytest.mark.parametrize("rid", [0, -1, 99])
def test_an_unknown_redemption_is_not_found(shop: Clinic, rid: int) -> None:
    refused(shop, NotFound, lambda: shop.approve_redemption(rid, actor=CLIN_A))
    refused(shop, NotFound, lambda: shop.fulfil_redemption(rid, actor=CLIN_A))
    refused(shop, NotFound, lambda: shop.cancel_redemption(rid, reason="x", actor=CLIN_A))


@pytest.mark.parametrize("rid", [2**63, 10**30])
def test_an_absurd_redemption_or_prize_id_is_not_found(shop: Clinic, rid: int) -> None:
    """An id beyond SQLite's integer range names nothing: NotFound on both stores (it once
    escaped the SQLite store as a raw OverflowError, which is no CMRewardsError)."""
    refused(shop, NotFound, lambda: shop.approve_redemption(rid, actor=CLIN_A))
    refused(shop, NotFound, lambda: shop.fulfil_redemption(rid, actor=CLIN_A))
    refused(shop, NotFound, lambda: shop.cancel_redemption(rid, reason="x", actor=CLIN_A))
    refused(shop, NotFound, lambda: shop.fulfil_prize(rid, sku=CARD, actor=CLIN_A))


# --- roles --------------------------------------------------------------------------------


def test_a_recorder_may_request_but_not_approve_fulfil_or_cancel(shop: Clinic) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    refused(shop, PermissionDenied, lambda: shop.approve_redemption(rid, actor=RECORDER))
    refused(shop, PermissionDenied, lambda: shop.cancel_redemption(rid, reason="x", actor=RECORDER))
    shop.approve_redemption(rid, actor=CLIN_A)
    refused(shop, PermissionDenied, lambda: shop.fulfil_redemption(rid, actor=RECORDER))
    assert shop.fulfil_redemption(rid, actor=CLIN_B).redemption.status is FULFILLED


def test_a_clinician_may_request_approve_fulfil_and_cancel(shop: Clinic) -> None:
    first = shop.request_redemption("P001", CARD, actor=CLIN_A).redemption.id
    second = shop.request_redemption("P001", BUS, actor=CLIN_A).redemption.id
    shop.approve_redemption(first, actor=CLIN_A)
    shop.fulfil_redemption(first, actor=CLIN_A)
    shop.cancel_redemption(second, reason="declined", actor=CLIN_A)
    assert [r.status for r in shop.redemptions()] == [FULFILLED, CANCELLED]


def test_a_deactivated_clinician_may_not_act(shop: Clinic) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    shop.deactivate_staff(CLIN_A, actor=ADMIN)
    refused(shop, PermissionDenied, lambda: shop.approve_redemption(rid, actor=CLIN_A))


# --- hold expiry --------------------------------------------------------------------------


def test_an_overdue_hold_expires_on_the_next_unrelated_write(
    shop: Clinic, clock: FakeClock
) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    approved = shop.request_redemption("P001", BUS, actor=RECORDER).redemption.id
    shop.approve_redemption(approved, actor=CLIN_A)
    clock.advance(days=30, minutes=1)
    # Reads change nothing.
    assert balance_triple(shop) == (FUNDS, FUNDS - 65, 65)
    assert [r.status for r in shop.redemptions()] == [REQUESTED, APPROVED]
    # Any write does: here an outcome of another participant.
    shop.record("P002", TARGET, "met", at=visit(1), actor=RECORDER)
    closed = shop.redemptions("P001")
    assert [(r.id, r.status) for r in closed] == [(rid, CANCELLED), (approved, CANCELLED)]
    for r in closed:
        assert (r.closed_by, r.closed_at) == (RECORDER, clock.now)
        assert r.close_reason is not None
        assert "expired" in r.close_reason
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)
    assert stock(shop, CARD) == 3
    assert shop.expire(actor=ADMIN) == []


def test_a_hold_younger_than_hold_days_stays(shop: Clinic, clock: FakeClock) -> None:
    shop.request_redemption("P001", CARD, actor=RECORDER)
    clock.advance(days=29, hours=23)
    shop.record("P002", TARGET, "met", at=visit(1), actor=RECORDER)
    assert shop.expire(actor=ADMIN) == []
    assert [r.status for r in shop.redemptions()] == [REQUESTED]
    assert balance_triple(shop) == (FUNDS, FUNDS - 40, 40)


def test_expire_releases_overdue_holds_and_returns_them(shop: Clinic, clock: FakeClock) -> None:
    old = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    clock.advance(days=20)
    young = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    clock.advance(days=10, seconds=1)
    expired = shop.expire(actor=CLIN_A)
    assert [(r.id, r.status, r.closed_by) for r in expired] == [(old, CANCELLED, CLIN_A)]
    assert expired == [redemption(shop, old)]
    assert redemption(shop, young).status is REQUESTED
    assert balance_triple(shop) == (FUNDS, FUNDS - 40, 40)
    assert stock(shop, CARD) == 2
    assert shop.expire(actor=CLIN_A) == []
    clock.advance(days=20)
    assert [r.id for r in shop.expire(actor=ADMIN)] == [young]
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)


def test_expire_needs_a_staff_member(shop: Clinic, clock: FakeClock) -> None:
    shop.request_redemption("P001", CARD, actor=RECORDER)
    clock.advance(days=31)
    refused(shop, PermissionDenied, lambda: shop.expire(actor="ghost"))


def test_an_overdue_hold_cannot_be_fulfilled(shop: Clinic, clock: FakeClock) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    shop.approve_redemption(rid, actor=CLIN_A)
    clock.advance(days=31)
    with pytest.raises(InvalidTransition):
        shop.fulfil_redemption(rid, actor=CLIN_A)
    # The refusal wrote nothing, so the hold is still there until the next write.
    assert [r.id for r in shop.expire(actor=CLIN_A)] == [rid]
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)


def test_expiry_follows_each_programs_hold_days(shop: Clinic, clock: FakeClock) -> None:
    shop.add_program(points_program("short", hold_days=2), actor=ADMIN)
    enrol_funded(shop, "H001", "short", 50)
    short = shop.request_redemption("H001", CARD, actor=RECORDER).redemption.id
    long = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    clock.advance(days=2, minutes=1)
    assert [r.id for r in shop.expire(actor=ADMIN)] == [short]
    assert redemption(shop, long).status is REQUESTED
    assert balance_triple(shop, "H001") == (50, 50, 0)


@pytest.mark.parametrize("hold_days", [1, 2, 30])
def test_a_hold_expires_once_it_is_older_than_hold_days(
    shop: Clinic, clock: FakeClock, hold_days: int
) -> None:
    """Holds *older than* hold_days expire (docs/design.md section 5): one exactly hold_days old
    stays, whatever hold_days is. (The boundary once depended on hold_days: ``>=`` in
    ``is_overdue`` (domain/redemption.py) but ``<`` in the store query it filters.)"""
    shop.add_program(points_program(f"hold-{hold_days}", hold_days=hold_days), actor=ADMIN)
    enrol_funded(shop, "H001", f"hold-{hold_days}", 50)
    rid = shop.request_redemption("H001", CARD, actor=RECORDER).redemption.id
    clock.advance(days=hold_days)
    assert (hold_days, shop.expire(actor=ADMIN)) == (hold_days, [])
    clock.advance(seconds=1)
    assert [r.id for r in shop.expire(actor=ADMIN)] == [rid]


# --- reversal of a spend ------------------------------------------------------------------


def fulfilled(shop: Clinic, sku: str = CARD) -> int:
    rid = shop.request_redemption("P001", sku, actor=RECORDER).redemption.id
    shop.approve_redemption(rid, actor=CLIN_A)
    shop.fulfil_redemption(rid, actor=CLIN_A, note="receipt 1", cost_cents=1000)
    return rid


def test_reversing_a_spend_gives_the_points_back_but_not_the_stock(
    shop: Clinic, clock: FakeClock
) -> None:
    rid = fulfilled(shop)
    assert (balance_triple(shop), stock(shop, CARD), redeemed(shop)) == ((60, 60, 0), 2, 40)
    spend = spend_of(shop, rid)
    clock.advance(hours=3)
    result = shop.reverse(spend, reason="card never activated", actor=ADMIN)
    assert result.transfer.kind is Movement.REVERSAL
    assert result.transfer.reverses == spend
    assert result.transfer.amount == 40
    assert result.balance == shop.balance("P001")
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)
    assert redeemed(shop) == 0
    assert stock(shop, CARD) == 2
    undone = redemption(shop, rid)
    assert undone.status is REVERSED
    assert (undone.closed_by, undone.closed_at, undone.close_reason) == (
        ADMIN,
        clock.now,
        "card never activated",
    )
    # What was handed over stays on the record.
    assert (undone.fulfilled_by, undone.note, undone.actual_cost_cents) == (
        CLIN_A,
        "receipt 1",
        1000,
    )
    refused(
        shop,
        InvalidTransition,
        lambda: shop.reverse(spend, reason="again", actor=ADMIN),
        match="already reversed",
    )
    # The points are spendable again.
    again = shop.request_redemption("P001", CARD, actor=RECORDER)
    assert again.balance.available_points == FUNDS - 40


def test_reversing_a_returned_item_puts_it_back_in_stock(shop: Clinic) -> None:
    rid = fulfilled(shop)
    shop.reverse(spend_of(shop, rid), reason="returned unopened", actor=ADMIN, returned=True)
    assert stock(shop, CARD) == 3
    assert redemption(shop, rid).status is REVERSED
    assert balance_triple(shop) == (FUNDS, FUNDS, 0)


def test_returned_on_demand_item_moves_no_stock(shop: Clinic) -> None:
    rid = fulfilled(shop, BUS)
    shop.reverse(spend_of(shop, rid), reason="refunded", actor=ADMIN, returned=True)
    assert stock(shop, BUS) is None
    assert redemption(shop, rid).status is REVERSED


def test_only_an_admin_reverses_a_spend(shop: Clinic) -> None:
    rid = fulfilled(shop)
    for actor in (CLIN_A, RECORDER):
        refused(
            shop,
            PermissionDenied,
            partial(shop.reverse, spend_of(shop, rid), reason="x", actor=actor),
        )
    assert redemption(shop, rid).status is FULFILLED


def test_holds_and_releases_are_not_reversed_but_cancelled(shop: Clinic) -> None:
    rid = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    with shop._store.read() as tx:
        (hold,) = [t.id for t in tx.transfers() if t.cause == f"redemption:{rid}"]
    refused(shop, InvalidTransition, lambda: shop.reverse(hold, reason="x", actor=ADMIN))
    shop.cancel_redemption(rid, reason="declined", actor=CLIN_A)
    with shop._store.read() as tx:
        release = tx.transfers()[-1]
    assert release.kind is Movement.RELEASE
    refused(shop, InvalidTransition, lambda: shop.reverse(release.id, reason="x", actor=ADMIN))


def test_a_reversal_of_a_spend_is_itself_not_reversible(shop: Clinic) -> None:
    rid = fulfilled(shop)
    mirror = shop.reverse(spend_of(shop, rid), reason="refund", actor=ADMIN).transfer.id
    refused(shop, InvalidTransition, lambda: shop.reverse(mirror, reason="x", actor=ADMIN))


def test_reversal_with_a_key_replays(shop: Clinic) -> None:
    rid = fulfilled(shop)
    spend = spend_of(shop, rid)
    first = shop.reverse(spend, reason="refund", actor=ADMIN, key="RMA-7", returned=True)
    before = snapshot(shop)
    again = shop.reverse(spend, reason="refund", actor=ADMIN, key="RMA-7", returned=True)
    assert again == attrs.evolve(first, replayed=True)
    assert snapshot(shop) == before
    refused(
        shop,
        IdempotencyConflict,
        lambda: shop.reverse(spend, reason="refund", actor=ADMIN, key="RMA-7", returned=False),
    )


# --- idempotent requests ------------------------------------------------------------------


def test_a_request_with_a_key_is_replayed_not_repeated(shop: Clinic, clock: FakeClock) -> None:
    first = shop.request_redemption("P001", CARD, actor=RECORDER, key="REQ-1")
    before = snapshot(shop)
    clock.advance(minutes=5)
    again = shop.request_redemption("P001", CARD, actor=CLIN_A, key="REQ-1")
    assert again.replayed is True
    assert again == attrs.evolve(first, replayed=True)
    assert snapshot(shop) == before
    assert balance_triple(shop) == (FUNDS, FUNDS - 40, 40)
    assert stock(shop, CARD) == 2


@pytest.mark.parametrize(
    ("participant", "sku"), [("P001", BUS), ("P002", CARD)], ids=["other-sku", "other-participant"]
)
def test_a_key_reused_for_another_request_is_a_conflict(
    shop: Clinic, participant: str, sku: str
) -> None:
    shop.adjust("P002", 50, reason="funds", actor=ADMIN)
    shop.request_redemption("P001", CARD, actor=RECORDER, key="REQ-1")
    refused(
        shop,
        IdempotencyConflict,
        lambda: shop.request_redemption(participant, sku, actor=RECORDER, key="REQ-1"),
    )
    assert len(shop.redemptions()) == 1


def test_a_refused_request_does_not_use_up_its_key(shop: Clinic) -> None:
    refused(
        shop,
        InsufficientPoints,
        lambda: shop.request_redemption("P002", CARD, actor=RECORDER, key="REQ-9"),
    )
    shop.adjust("P002", 40, reason="funds", actor=ADMIN)
    result = shop.request_redemption("P002", CARD, actor=RECORDER, key="REQ-9")
    assert (result.replayed, result.redemption.status) == (False, REQUESTED)


# --- prizes -------------------------------------------------------------------------------


def sample_day(index: int) -> int:
    """Twice-weekly samples: Mondays and Thursdays from START."""
    return (index // 2) * 7 + (index % 2) * 3


@pytest.fixture
def prize_shop(shop: Clinic) -> Clinic:
    """``shop`` with a petry-fishbowl participant F001 who has won at least one prize."""
    shop.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    shop.enroll("F001", "petry-fishbowl", start=START, actor=ADMIN)
    won = []
    for index in range(8):
        result = shop.record("F001", TARGET, "met", at=visit(sample_day(index)), actor=RECORDER)
        won += list(result.prizes)
        if won:
            break
    assert won, "the injected seeds should win a prize within eight samples"
    prizes = shop.prizes("F001")
    assert [(p.id, p.category, p.value_cents) for p in prizes] == [
        (w.id, w.category, w.value_cents) for w in won
    ]
    assert {p.status for p in prizes} == {PrizeStatus.OWED}
    for category in ("small", "large", "jumbo"):
        shop.add_item(
            f"{category.upper()}-1", name=f"A {category} prize", cost=0, stock=2,
            category=category, actor=ADMIN,
        )  # fmt: skip
    return shop


def test_a_prize_is_handed_over_from_its_category(prize_shop: Clinic, clock: FakeClock) -> None:
    prize = prize_shop.prizes("F001")[0]
    sku = f"{prize.category.upper()}-1"
    clock.advance(hours=1)
    handed = prize_shop.fulfil_prize(prize.id, sku=sku, actor=CLIN_A, note="from the cabinet")
    assert handed == attrs.evolve(prize, status=PrizeStatus.FULFILLED)
    assert prize_shop.prizes("F001")[0] == handed
    assert stock(prize_shop, sku) == 1
    with prize_shop._store.read() as tx:
        (fulfilment,) = tx.prize_fulfilments()
    assert (fulfilment.prize_id, fulfilment.sku, fulfilment.actor) == (prize.id, sku, CLIN_A)
    assert (fulfilment.at, fulfilment.note) == (clock.now, "from the cabinet")
    refused(
        prize_shop,
        InvalidTransition,
        lambda: prize_shop.fulfil_prize(prize.id, sku=sku, actor=CLIN_A),
        match="already",
    )
    assert stock(prize_shop, sku) == 1
    # Prizes cost no points.
    assert balance_triple(prize_shop, "F001") == (0, 0, 0)


def test_a_prize_needs_an_item_of_its_category(prize_shop: Clinic) -> None:
    prize = prize_shop.prizes("F001")[0]
    other = next(c for c in ("small", "large", "jumbo") if c != prize.category)
    for sku in (f"{other.upper()}-1", CARD, BUS):
        refused(
            prize_shop,
            InvalidTransition,
            partial(prize_shop.fulfil_prize, prize.id, sku=sku, actor=CLIN_A),
        )
    refused(
        prize_shop, NotFound, lambda: prize_shop.fulfil_prize(prize.id, sku="NOPE", actor=CLIN_A)
    )
    assert prize_shop.prizes("F001")[0].status is PrizeStatus.OWED


def test_a_prize_item_out_of_stock_is_refused(prize_shop: Clinic) -> None:
    prize = prize_shop.prizes("F001")[0]
    prize_shop.add_item(
        "GONE", name="Out of stock", cost=0, stock=0, category=prize.category, actor=ADMIN
    )
    refused(
        prize_shop, OutOfStock, lambda: prize_shop.fulfil_prize(prize.id, sku="GONE", actor=CLIN_A)
    )
    prize_shop.restock("GONE", 1, actor=ADMIN)
    prize_shop.fulfil_prize(prize.id, sku="GONE", actor=CLIN_A)
    assert stock(prize_shop, "GONE") == 0


def test_a_prize_from_an_on_demand_item_counts_no_stock(prize_shop: Clinic) -> None:
    prize = prize_shop.prizes("F001")[0]
    prize_shop.add_item("BOUGHT", name="Bought", cost=0, category=prize.category, actor=ADMIN)
    handed = prize_shop.fulfil_prize(prize.id, sku="BOUGHT", actor=CLIN_A)
    assert handed.status is PrizeStatus.FULFILLED
    assert stock(prize_shop, "BOUGHT") is None


def test_prize_roles_and_unknowns(prize_shop: Clinic) -> None:
    prize = prize_shop.prizes("F001")[0]
    sku = f"{prize.category.upper()}-1"
    refused(
        prize_shop,
        PermissionDenied,
        lambda: prize_shop.fulfil_prize(prize.id, sku=sku, actor=RECORDER),
    )
    refused(prize_shop, NotFound, lambda: prize_shop.fulfil_prize(999, sku=sku, actor=CLIN_A))
    with pytest.raises(NotFound):
        prize_shop.prizes("P999")
    assert prize_shop.prizes("P001") == []


def test_reads_of_unknown_participants(shop: Clinic) -> None:
    with pytest.raises(NotFound):
        shop.redemptions("P999")


# --- a day at the cabinet: everything at once, then verify ---------------------------------


def test_a_busy_day_verifies(shop: Clinic, clock: FakeClock) -> None:
    shop.adjust("P002", 200, reason="funds", actor=ADMIN)
    a = shop.request_redemption("P001", CARD, actor=RECORDER).redemption.id
    b = shop.request_redemption("P002", CARD, actor=RECORDER).redemption.id
    c = shop.request_redemption("P002", BUS, actor=CLIN_A, key="K-1").redemption.id
    shop.approve_redemption(a, actor=CLIN_A)
    shop.fulfil_redemption(a, actor=CLIN_B, note="r1", cost_cents=999)
    shop.cancel_redemption(b, reason="declined", actor=CLIN_C)
    shop.reverse(spend_of(shop, a), reason="lost", actor=ADMIN, returned=True)
    clock.advance(days=31)
    shop.record("P001", TARGET, "met", at=visit(3), actor=RECORDER)
    assert [(r.id, r.status) for r in shop.redemptions()] == [
        (a, REVERSED),
        (b, CANCELLED),
        (c, CANCELLED),
    ]
    assert stock(shop, CARD) == 3
    assert balance_triple(shop, "P002") == (200, 200, 0)
    check_invariants(shop)


# --- verify catches edits made past the library (SQLite) -----------------------------------


@pytest.fixture
def tampered(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Clinic, Path]]:
    """A SQLite clinic with an open request (1), a fulfilled redemption (2) and an owed prize."""
    path = tmp_path / "clinic.db"
    clinic = cmrewards.open(path, clock=clock, seeds=iter(range(1, 10**6)).__next__)
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset(HIGGINS), actor=ADMIN)
    clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    clinic.enroll("P001", HIGGINS, start=START, actor=ADMIN)
    clinic.enroll("F001", "petry-fishbowl", start=START, actor=ADMIN)
    clinic.adjust("P001", FUNDS, reason="funds", actor=ADMIN)
    clinic.add_item(CARD, name="Card", cost=40, stock=3, actor=ADMIN)
    clinic.request_redemption("P001", CARD, actor=ADMIN)
    clinic.request_redemption("P001", CARD, actor=ADMIN)
    clinic.approve_redemption(2, actor=ADMIN)
    clinic.fulfil_redemption(2, actor=ADMIN)
    for index in range(8):
        clinic.record("F001", TARGET, "met", at=visit(sample_day(index)), actor=ADMIN)
    assert clinic.prizes("F001"), "the injected seeds should win a prize"
    assert clinic.verify().ok
    yield clinic, path
    clinic.close()


def raw_edit(path: Path, triggers: list[str], statement: str) -> None:
    """Run one statement with sqlite3, dropping the triggers that would stop it."""
    conn = sqlite3.connect(path)
    try:
        for trigger in triggers:
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        changed = conn.execute(statement).rowcount
        conn.commit()
    finally:
        conn.close()
    assert changed == 1


@pytest.mark.parametrize(
    ("triggers", "statement", "problem"),
    [
        pytest.param(
            [],
            f"UPDATE catalog SET stock = 7 WHERE sku = '{CARD}'",
            f"{CARD} has stock 7 but its movements add up to 1",
            id="stock-changed",
        ),
        pytest.param(
            ["redemptions_one_way"],
            "UPDATE redemptions SET status = 'cancelled' WHERE id = 1",
            "redemption 1 is cancelled but its transfers are hold",
            id="cancelled-without-release",
        ),
        pytest.param(
            ["redemptions_one_way"],
            "UPDATE redemptions SET status = 'cancelled' WHERE id = 1",
            "P001 has 40 points held but open redemptions cost 0",
            id="cancelled-leaves-points-held",
        ),
        pytest.param(
            ["redemptions_one_way"],
            "UPDATE redemptions SET status = 'requested' WHERE id = 2",
            "redemption 2 is requested but its transfers are hold, spend",
            id="fulfilled-back-to-requested",
        ),
        pytest.param(
            ["prizes_only_status"],
            "UPDATE prizes SET status = 'fulfilled' WHERE id = 1",
            "prize 1 is fulfilled but its hand-over record disagrees",
            id="prize-fulfilled-without-hand-over",
        ),
        pytest.param(
            ["stock_movements_no_delete"],
            "DELETE FROM stock_movements WHERE id = (SELECT max(id) FROM stock_movements)",
            f"{CARD} has stock 1 but its movements add up to 2",
            id="stock-movement-deleted",
        ),
    ],
)
def test_verify_catches_edits_past_the_library(
    tampered: tuple[Clinic, Path], triggers: list[str], statement: str, problem: str
) -> None:
    clinic, path = tampered
    raw_edit(path, triggers, statement)
    report = clinic.verify()
    assert report.ok is False
    assert problem in [p.message for p in report.problems]


def test_verify_catches_a_hand_over_of_a_prize_still_owed(
    tampered: tuple[Clinic, Path],
) -> None:
    clinic, path = tampered
    raw_edit(
        path,
        [],
        "INSERT INTO prize_fulfilments (prize_id, sku, actor, at, note)"
        f" VALUES (1, '{CARD}', '{ADMIN}', '2027-06-01T12:00:00.000000Z', NULL)",
    )
    report = clinic.verify()
    assert "prize 1 is owed but its hand-over record disagrees" in [
        p.message for p in report.problems
    ]


def test_the_one_way_trigger_refuses_a_backward_status_edit(
    tampered: tuple[Clinic, Path],
) -> None:
    _, path = tampered
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="one way"):
            conn.execute("UPDATE redemptions SET status = 'approved' WHERE id = 2")
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            conn.execute("DELETE FROM redemptions WHERE id = 1")
    finally:
        conn.rollback()
        conn.close()
