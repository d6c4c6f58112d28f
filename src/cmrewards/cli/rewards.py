"""Commands of the reward cabinet: catalog, redemptions, holds, prizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

import cmrewards

from ._confirm import confirm, yes_option
from ._ids import PARTICIPANT, SKU
from ._output import (
    Column,
    csv_option,
    dollars,
    emit_list,
    participant_zones,
    plural,
    when,
    when_iso,
)
from ._shell import (
    Recorded,
    Settings,
    actor_option,
    cli,
    emit,
    key_option,
    money,
    pass_settings,
    typed_text,
)

if TYPE_CHECKING:
    from cmrewards import CatalogItem, Clinic, Prize, Redemption, RedemptionResult

# --- catalog, redemption and prizes ---------------------------------------------


@cli.group()
def catalog() -> None:
    """The catalog of rewards and the prize cabinet."""


@catalog.command("add")
@click.argument("sku")
@click.option(
    "--name", required=True, callback=typed_text, help="What it is, e.g. '$10 grocery gift card'."
)
@click.option("--cost", required=True, type=int, help="Price in points (0 = prize cabinet only).")
@click.option("--stock", type=int, help="Units on hand (omit for items bought on demand).")
@click.option("--category", help="Prize category this item fulfils (e.g. small, large).")
@click.option("--low-stock", default=0, show_default=True, type=int, help="Report at or below.")
@actor_option()
@pass_settings
def catalog_add(
    settings: Settings,
    sku: str,
    name: str,
    cost: int,
    stock: int | None,
    category: str | None,
    low_stock: int,
    actor: str,
) -> None:
    """Add a catalog item."""
    item = settings.clinic().add_item(
        sku, name=name, cost=cost, stock=stock, category=category, low_stock=low_stock, actor=actor
    )
    emit(settings, item, lambda: _describe_item(item), recorded=_item_seen(item))


CATALOG_COLUMNS: list[Column[CatalogItem]] = [
    Column("sku", lambda i: i.sku),
    Column("name", lambda i: i.name),
    Column("points", lambda i: f"{i.cost:,}", right=True, csv=lambda i: i.cost),
    Column(
        "stock",
        lambda i: "on demand" if i.stock is None else f"{i.stock:,}",
        right=True,
        csv=lambda i: "" if i.stock is None else i.stock,  # empty: on demand
    ),
    Column("low", lambda i: "LOW" if i.is_low else ""),
    Column("prize category", lambda i: i.category or ""),
]


@catalog.command("list")
@csv_option()
@pass_settings
def catalog_list(settings: Settings) -> None:
    """List catalog items, their cost and stock (LOW at or below the threshold)."""
    items = settings.clinic().items()
    emit_list(settings, items, CATALOG_COLUMNS, items, empty="no items yet")


@catalog.command("restock")
@click.argument("sku", type=SKU)
@click.option("--quantity", required=True, type=int, help="Units added.")
@actor_option()
@pass_settings
def catalog_restock(settings: Settings, sku: str, quantity: int, actor: str) -> None:
    """Add units to an item's stock."""
    item = settings.clinic().restock(sku, quantity, actor=actor)
    emit(settings, item, lambda: _describe_item(item), recorded=_item_seen(item))


def _item_seen(item: CatalogItem) -> Recorded:
    return Recorded(f"item {item.sku}", "cmrewards catalog list")


def _describe_item(item: CatalogItem) -> str:
    """``GC-10 $10 grocery card: 40 points, 3 in stock``; a cabinet item says its category."""
    stock = "on demand" if item.stock is None else f"{item.stock:,} in stock"
    low = " LOW" if item.is_low else ""
    kinds = [plural(item.cost, "point")] if item.cost or not item.category else []
    kinds += [f"{item.category} prize"] if item.category else []
    return f"{item.sku} {item.name}: {', '.join(kinds)}, {stock}{low}"


@cli.group()
def redeem() -> None:
    """Redemptions: request, approve, fulfil, cancel, list."""


def _redemption_command(
    name: str,
    doc: str,
    call: Callable[..., Any],
    *options: Callable[[Any], Any],
    asks: str | None = None,
    sensitive: bool = False,
) -> None:
    """A command on one redemption by id; ``asks`` what to confirm when it is destructive,
    ``sensitive`` when it asks for the signed-in member's passphrase again."""

    def command(settings: Settings, redemption_id: int, actor: str, **extra: Any) -> None:
        if asks is not None:
            confirm(extra.pop("yes"), asks.format(id=redemption_id))
        clinic = settings.clinic()
        result = call(clinic, redemption_id, actor=actor, **extra)
        emit(settings, result, lambda: _describe_redemption(result, clinic), recorded=_seen(result))

    confirming = (yes_option(),) if asks is not None else ()
    for option in (
        *options,
        *confirming,
        actor_option(sensitive=sensitive),
        click.argument("redemption_id", type=int),
    ):
        command = option(command)
    redeem.command(name, help=doc)(pass_settings(command))


@redeem.command("request")
@click.argument("participant", type=PARTICIPANT)
@click.argument("sku", type=SKU)
@actor_option()
@key_option()
@pass_settings
def redeem_request(
    settings: Settings, participant: str, sku: str, actor: str, key: str | None
) -> None:
    """Hold a catalog item's cost in points for a participant."""
    clinic = settings.clinic()
    result = clinic.request_redemption(participant, sku, actor=actor, key=key)
    emit(settings, result, lambda: _describe_redemption(result, clinic), recorded=_seen(result))


def _seen(result: RedemptionResult) -> Recorded:
    r = result.redemption
    return Recorded(f"redemption {r.id}", f"cmrewards redeem list --participant {r.participant}")


_redemption_command(
    "approve",
    "Approve a request as fitting the participant's treatment goals (clinician).",
    lambda clinic, rid, **kw: clinic.approve_redemption(rid, **kw),
    sensitive=True,
)


def _fulfil(clinic: Clinic, redemption_id: int, *, cost_dollars: str | None, **kw: Any) -> Any:
    """``--cost`` is typed in dollars; ``--cost-cents`` (the earlier spelling) still works."""
    if cost_dollars is not None:
        if kw.get("cost_cents") is not None:
            raise click.UsageError("give the actual cost once: --cost DOLLARS")
        kw["cost_cents"] = cmrewards.parse_dollars(cost_dollars, "--cost")
    return clinic.fulfil_redemption(redemption_id, **kw)


_redemption_command(
    "fulfil",
    "Record the hand-over: who, a note (receipt, card last digits), the actual cost.",
    _fulfil,
    click.option(
        "--note", callback=typed_text, help="Receipt or gift-card last digits (no personal data)."
    ),
    click.option(
        "--cost", "cost_dollars", metavar="DOLLARS", help="What the clinic paid, e.g. 25.00."
    ),
    click.option("--cost-cents", type=int, hidden=True, help="The same in cents (older spelling)."),
    sensitive=True,
)
_redemption_command(
    "cancel",
    "Cancel or decline a request; the points and stock are released. Asks first (or --yes).",
    lambda clinic, rid, **kw: clinic.cancel_redemption(rid, **kw),
    click.option(
        "--reason", required=True, callback=typed_text, help="Why: kept in the audit trail."
    ),
    asks="cancel redemption {id}: its points and stock are released, for good",
)


def redemption_columns(zones: dict[str, str], names: dict[str, str]) -> list[Column[Redemption]]:
    """Redemptions as staff read them: dates in each participant's program zone, item names."""

    def updated(r: Redemption) -> Any:
        return r.closed_at or r.fulfilled_at or r.approved_at or r.requested_at

    return [
        Column("id", lambda r: r.id, right=True),
        Column(
            "requested",
            lambda r: when(r.requested_at, zones.get(r.participant, "UTC")),
            csv=lambda r: when_iso(r.requested_at, zones.get(r.participant, "UTC")),
        ),
        Column("participant", lambda r: r.participant),
        Column("item", lambda r: names.get(r.sku, r.sku)),
        Column("sku", lambda r: r.sku),
        Column("points", lambda r: f"{r.cost:,}", right=True, csv=lambda r: r.cost),
        Column("state", lambda r: r.status),
        Column(
            "since",
            lambda r: when(updated(r), zones.get(r.participant, "UTC")),
            csv=lambda r: when_iso(updated(r), zones.get(r.participant, "UTC")),
        ),
    ]


def _listed(clinic: Clinic) -> list[Column[Redemption]]:
    return redemption_columns(participant_zones(clinic), {i.sku: i.name for i in clinic.items()})


REDEMPTION_STATES = ("requested", "approved", "fulfilled", "cancelled", "reversed")
"""``cmrewards.RedemptionStatus``'s values, spelled here so that ``--help`` loads no layer."""


@redeem.command("list")
@click.option("--participant", type=PARTICIPANT, help="Only this participant's redemptions.")
@click.option(
    "--state",
    type=click.Choice(REDEMPTION_STATES),
    help="Only those in this state: 'requested' is the queue awaiting approval.",
)
@csv_option()
@pass_settings
def redeem_list(settings: Settings, participant: str | None, state: str | None) -> None:
    """List redemptions, oldest first, with their dates and item names."""
    clinic = settings.clinic()
    found = [r for r in clinic.redemptions(participant) if state is None or r.status == state]
    empty = f"no {state} redemptions" if state else "no redemptions"
    emit_list(settings, found, _listed(clinic), found, empty=empty)


def _describe_redemption(result: RedemptionResult, clinic: Clinic) -> str:
    note = " (already requested with this key; nothing written)" if result.replayed else ""
    r, b = result.redemption, result.balance
    item = {i.sku: i.name for i in clinic.items()}.get(r.sku, r.sku)
    return (
        f"redemption #{r.id}: {item} ({r.sku}) for {r.participant},"
        f" {plural(r.cost, 'point')}, {r.status}{note}\n"
        f"{b.participant}: {b.available_points:,} available, {b.held_points:,} held"
    )


@cli.command()
@actor_option()
@csv_option()
@pass_settings
def expire(settings: Settings, actor: str) -> None:
    """Release holds older than their program's hold_days."""
    clinic = settings.clinic()
    expired = clinic.expire(actor=actor)
    emit_list(
        settings,
        expired,
        _listed(clinic),
        expired,
        empty="no holds were overdue",
        recorded=Recorded("the expiry", "cmrewards redeem list"),
    )


@cli.group()
def prize() -> None:
    """Prizes won from the bowl: list them, hand them over."""


def prize_columns(zones: dict[str, str]) -> list[Column[Prize]]:
    """Prizes as staff read them: when each was won, in the participant's program zone."""
    return [
        Column("id", lambda p: p.id, right=True),
        Column("participant", lambda p: p.participant),
        Column(
            "won",
            lambda p: when(p.won_at, zones.get(p.participant, "UTC")),
            csv=lambda p: when_iso(p.won_at, zones.get(p.participant, "UTC")),
        ),
        Column("category", lambda p: p.category),
        Column(
            "value",
            lambda p: money(p.value_cents),
            right=True,
            csv=lambda p: dollars(p.value_cents),
        ),
        Column("status", lambda p: p.status),
    ]


@prize.command("list")
@click.argument("participant", type=PARTICIPANT, required=False)
@click.option("--owed", is_flag=True, help="Only prizes still to hand over.")
@csv_option()
@pass_settings
def prize_list(settings: Settings, participant: str | None, owed: bool) -> None:
    """Prizes won, owed and handed over: one participant's, or everyone's."""
    clinic = settings.clinic()
    won = [p for p in clinic.prizes(participant) if not owed or p.status == "owed"]
    if participant is None:
        empty = "no prizes owed" if owed else "no prizes won yet"
    else:
        empty = f"{participant} is owed no prizes" if owed else f"{participant} has won no prizes"
    emit_list(settings, won, prize_columns(participant_zones(clinic)), won, empty=empty)


@prize.command("trade")
@click.argument("participant", type=PARTICIPANT)
@click.option("--give", required=True, help="Category given up, e.g. small.")
@click.option("--get", "get_", required=True, help="Category received, e.g. large.")
@actor_option()
@yes_option()
@pass_settings
def prize_trade(
    settings: Settings, participant: str, give: str, get_: str, actor: str, yes: bool
) -> None:
    """Trade owed prizes for one better one, as the program's [[trades]] allow. Asks first
    (or --yes)."""
    confirm(yes, f"trade {participant}'s owed {give} prizes for one {get_} prize, for good")
    won = settings.clinic().trade_prizes(participant, give=give, get=get_, actor=actor)
    emit(
        settings,
        won,
        f"{participant} traded {give} prizes for prize #{won.id} ({won.category})",
        recorded=Recorded(f"the trade for prize {won.id}", f"cmrewards prize list {participant}"),
    )


@prize.command("fulfil")
@click.argument("prize_id", type=int)
@click.option("--sku", required=True, type=SKU, help="Cabinet item of the won category.")
@click.option("--note", callback=typed_text, help="A short note (no personal data).")
@actor_option(sensitive=True)
@pass_settings
def prize_fulfil(settings: Settings, prize_id: int, sku: str, note: str | None, actor: str) -> None:
    """Hand over an item of the won category from the prize cabinet."""
    clinic = settings.clinic()
    won = clinic.fulfil_prize(prize_id, sku=sku, actor=actor, note=note)
    emit(
        settings,
        won,
        lambda: (
            f"prize #{won.id} ({won.category}) handed over as"
            f" {({i.sku: i.name for i in clinic.items()}).get(sku, sku)} ({sku})"
        ),
        recorded=Recorded(f"prize {won.id} handed over", f"cmrewards prize list {won.participant}"),
    )
