"""Commands of the reward cabinet: catalog, redemptions, holds, prizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

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
    from cmrewards import CatalogItem, Redemption, RedemptionResult

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


@catalog.command("list")
@pass_settings
def catalog_list(settings: Settings) -> None:
    """List catalog items, their cost and stock."""
    items = settings.clinic().items()
    emit(settings, items, lambda: "\n".join(_describe_item(i) for i in items) or "no items yet")


@catalog.command("restock")
@click.argument("sku")
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
    stock = "on demand" if item.stock is None else f"{item.stock} in stock"
    low = " LOW" if item.is_low else ""
    prize = f", {item.category} prize" if item.category else ""
    return f"{item.sku:<16} {item.cost:>6} points  {stock}{low}{prize}  {item.name}"


@cli.group()
def redeem() -> None:
    """Redemptions: request, approve, fulfil, cancel, list."""


def _redemption_command(
    name: str, doc: str, call: Callable[..., Any], *options: Callable[[Any], Any]
) -> None:
    def command(settings: Settings, redemption_id: int, actor: str, **extra: Any) -> None:
        result = call(settings.clinic(), redemption_id, actor=actor, **extra)
        emit(settings, result, lambda: _describe_redemption(result), recorded=_seen(result))

    for option in (*options, actor_option(), click.argument("redemption_id", type=int)):
        command = option(command)
    redeem.command(name, help=doc)(pass_settings(command))


@redeem.command("request")
@click.argument("participant")
@click.argument("sku")
@actor_option()
@key_option()
@pass_settings
def redeem_request(
    settings: Settings, participant: str, sku: str, actor: str, key: str | None
) -> None:
    """Hold a catalog item's cost in points for a participant."""
    result = settings.clinic().request_redemption(participant, sku, actor=actor, key=key)
    emit(settings, result, lambda: _describe_redemption(result), recorded=_seen(result))


def _seen(result: RedemptionResult) -> Recorded:
    r = result.redemption
    return Recorded(f"redemption {r.id}", f"cmrewards redeem list --participant {r.participant}")


_redemption_command(
    "approve",
    "Approve a request as fitting the participant's treatment goals (clinician).",
    lambda clinic, rid, **kw: clinic.approve_redemption(rid, **kw),
)
_redemption_command(
    "fulfil",
    "Record the hand-over: who, a note (receipt, card last digits), the actual cost.",
    lambda clinic, rid, **kw: clinic.fulfil_redemption(rid, **kw),
    click.option(
        "--note", callback=typed_text, help="Receipt or gift-card last digits (no personal data)."
    ),
    click.option("--cost-cents", type=int, help="What the clinic actually paid, in cents."),
)
_redemption_command(
    "cancel",
    "Cancel or decline a request; the points and stock are released.",
    lambda clinic, rid, **kw: clinic.cancel_redemption(rid, **kw),
    click.option(
        "--reason", required=True, callback=typed_text, help="Why: kept in the audit trail."
    ),
)


@redeem.command("list")
@click.option("--participant", help="Only this participant's redemptions.")
@pass_settings
def redeem_list(settings: Settings, participant: str | None) -> None:
    """List redemptions, newest last."""
    found = settings.clinic().redemptions(participant)
    emit(
        settings,
        found,
        lambda: "\n".join(_describe_one(r) for r in found) or "no redemptions",
    )


def _describe_one(r: Redemption) -> str:
    return f"#{r.id:<5} {r.participant:<12} {r.sku:<16} {r.cost:>6} points  {r.status}"


def _describe_redemption(result: RedemptionResult) -> str:
    note = " (already requested with this key; nothing written)" if result.replayed else ""
    b = result.balance
    return (
        f"{_describe_one(result.redemption)}{note}\n"
        f"{b.participant}: {b.available_points} available, {b.held_points} held"
    )


@cli.command()
@actor_option()
@pass_settings
def expire(settings: Settings, actor: str) -> None:
    """Release holds older than their program's hold_days."""
    expired = settings.clinic().expire(actor=actor)
    emit(
        settings,
        expired,
        lambda: "\n".join(_describe_one(r) for r in expired) or "no holds were overdue",
        recorded=Recorded("the expiry", "cmrewards redeem list"),
    )


@cli.group()
def prize() -> None:
    """Prizes won from the bowl: list them, hand them over."""


@prize.command("list")
@click.argument("participant")
@pass_settings
def prize_list(settings: Settings, participant: str) -> None:
    """Prizes a participant has won, owed and handed over."""
    won = settings.clinic().prizes(participant)
    emit(
        settings,
        won,
        lambda: (
            "\n".join(
                f"#{p.id:<5} {p.category:<10} {money(p.value_cents):>8}  {p.status}"
                f"  won {p.won_at:%Y-%m-%d}"
                for p in won
            )
            or f"{participant} has won no prizes"
        ),
    )


@prize.command("trade")
@click.argument("participant")
@click.option("--give", required=True, help="Category given up, e.g. small.")
@click.option("--get", "get_", required=True, help="Category received, e.g. large.")
@actor_option()
@pass_settings
def prize_trade(settings: Settings, participant: str, give: str, get_: str, actor: str) -> None:
    """Trade owed prizes for one better one, as the program's [[trades]] allow."""
    won = settings.clinic().trade_prizes(participant, give=give, get=get_, actor=actor)
    emit(
        settings,
        won,
        f"{participant} traded {give} prizes for prize #{won.id} ({won.category})",
        recorded=Recorded(f"the trade for prize {won.id}", f"cmrewards prize list {participant}"),
    )


@prize.command("fulfil")
@click.argument("prize_id", type=int)
@click.option("--sku", required=True, help="Cabinet item of the won category.")
@click.option("--note", callback=typed_text, help="A short note (no personal data).")
@actor_option()
@pass_settings
def prize_fulfil(settings: Settings, prize_id: int, sku: str, note: str | None, actor: str) -> None:
    """Hand over an item of the won category from the prize cabinet."""
    won = settings.clinic().fulfil_prize(prize_id, sku=sku, actor=actor, note=note)
    emit(
        settings,
        won,
        f"prize #{won.id} ({won.category}) handed over as {sku}",
        recorded=Recorded(f"prize {won.id} handed over", f"cmrewards prize list {won.participant}"),
    )
