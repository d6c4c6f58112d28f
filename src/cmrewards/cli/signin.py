"""Commands that sign staff in and out: ``login``, ``logout``, ``staff passwd``, ``sign-in``.

How the CLI uses them to name who acts is ``_session.py``'s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import TYPE_CHECKING

import click

import cmrewards
from cmrewards.errors import CMRewardsError, InvalidTransition, NotFound

from . import _session
from ._confirm import confirm, yes_option
from ._ids import STAFF
from ._output import Column, csv_option, emit_list, plural
from ._shell import Recorded, Settings, actor_option, cli, emit, pass_settings
from .setup import staff

if TYPE_CHECKING:
    from cmrewards import SignInEvent, SignInPolicy


def _utc(value: dt.datetime) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _where(settings: Settings) -> str:
    return _session.location(settings.db, settings.clinic())


@cli.command()
@click.argument("staff_id", required=False, envvar="CMREWARDS_ACTOR", type=STAFF)
@pass_settings
def login(settings: Settings, staff_id: str | None) -> None:
    """Sign in at this OS user on this database for a shift; asks for the passphrase."""
    clinic = settings.clinic()
    if not clinic.sign_in_policy().required:
        raise InvalidTransition(
            f"sign-in is off for {clinic.location}: --actor names who acts; an admin turns it"
            " on with 'cmrewards sign-in on'"
        )
    if staff_id is None:
        raise click.UsageError("give your staff id: cmrewards login ID")
    where = _where(settings)
    typed = _session.passphrase(f"passphrase for {staff_id}: ")
    signed = clinic.sign_in(staff_id, typed, os_user=_session.os_user(), location=where)
    with contextlib.suppress(CMRewardsError):  # this OS user's earlier session here ends
        earlier = _session.token(where)
        if earlier is not None:
            clinic.sign_out(earlier, os_user=_session.os_user())
    _session.save(where, signed)
    opened = signed.session
    emit(
        settings,
        opened,
        f"{opened.staff_id} signed in at OS user {opened.os_user} until"
        f" {_utc(opened.expires_at)}; 'cmrewards logout' ends it",
        recorded=Recorded(f"{opened.staff_id}'s sign-in", "cmrewards sign-in status"),
    )


@cli.command()
@pass_settings
def logout(settings: Settings) -> None:
    """End this OS user's session on this database."""
    where = _where(settings)
    try:
        found = _session.token(where)
    except cmrewards.PermissionDenied:
        _session.forget(where)  # a file others could read: its token is void from here
        raise
    if found is None:
        raise InvalidTransition(f"nobody is signed in to {where} at OS user {_session.os_user()}")
    try:
        ended = settings.clinic().sign_out(found, os_user=_session.os_user())
    except (NotFound, InvalidTransition) as error:
        _session.forget(where)
        raise InvalidTransition(f"{error}; the session file is removed") from None
    _session.forget(where)
    emit(
        settings,
        ended,
        f"{ended.staff_id} signed out",
        recorded=Recorded(f"{ended.staff_id}'s sign-out", "cmrewards sign-in status"),
    )


@staff.command("passwd")
@click.argument("staff_id", required=False, type=STAFF)
@actor_option()
@pass_settings
def staff_passwd(settings: Settings, staff_id: str | None, actor: str) -> None:
    """Set a passphrase: your own (asks for the current one), or anyone's (admin)."""
    target = actor if staff_id is None else staff_id  # an empty id is refused, not "me"
    clinic = settings.clinic()
    kinds = {e.event for e in clinic.sign_ins(target)}
    current = None
    if target == actor and cmrewards.SignInEventKind.PASSPHRASE_SET in kinds:
        current = _session.passphrase(f"current passphrase for {actor}: ")
    elif target != actor:
        _reconfirm(settings, actor)
    new = _session.new_passphrase(target)
    cmrewards.check_passphrase(new)
    event = clinic.set_passphrase(
        target, new, actor=actor, current=current, os_user=_session.os_user()
    )
    emit(
        settings,
        event,
        f"new passphrase set for {target}",
        recorded=Recorded(f"{target}'s new passphrase", "cmrewards sign-in log"),
    )


def _reconfirm(settings: Settings, actor: str) -> None:
    """An admin acting on another member's sign-in confirms it is them, as sensitive acts do."""
    clinic = settings.clinic()
    rules = clinic.sign_in_policy()
    if rules.required and rules.confirm_sensitive:
        typed = _session.passphrase(f"passphrase for {actor} (asked again): ")
        clinic.confirm(actor, typed, os_user=_session.os_user())


@cli.group("sign-in")
def sign_in() -> None:
    """Whether staff sign in to act: on, off, status and the log."""


@sign_in.command("on")
@click.option(
    "--session-hours",
    default=8,
    show_default=True,
    type=click.IntRange(1, 168),
    help="How long a login lasts (one shift).",
)
@click.option(
    "--attempts",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Failed passphrases in a row that lock a member out.",
)
@click.option(
    "--lockout-minutes",
    default=15,
    show_default=True,
    type=click.IntRange(1, 10080),
    help="How long a lock-out lasts (a new passphrase ends it sooner).",
)
@click.option(
    "--confirm-sensitive/--no-confirm-sensitive",
    default=True,
    show_default=True,
    help="Adjust, reverse, approve, fulfil, correct and void ask for the passphrase again.",
)
@actor_option(sensitive=True)
@pass_settings
def sign_in_on(
    settings: Settings,
    session_hours: int,
    attempts: int,
    lockout_minutes: int,
    confirm_sensitive: bool,
    actor: str,
) -> None:
    """Turn sign-in on (admin); sets your passphrase first if you have none."""
    clinic = settings.clinic()
    kinds = {e.event for e in clinic.sign_ins(actor)}
    new = None
    if cmrewards.SignInEventKind.PASSPHRASE_SET not in kinds:
        new = _session.new_passphrase(actor)
        cmrewards.check_passphrase(new)
    rules = cmrewards.SignInPolicy(
        required=True,
        session_minutes=session_hours * 60,
        attempts=attempts,
        lockout_minutes=lockout_minutes,
        confirm_sensitive=confirm_sensitive,
    )
    stored = clinic.set_sign_in_policy(
        rules, actor=actor, passphrase=new, os_user=_session.os_user()
    )
    emit(
        settings,
        stored,
        f"sign-in is on: {_describe_policy(stored)}; each member runs 'cmrewards login'",
        recorded=Recorded("the sign-in policy", "cmrewards sign-in status"),
    )


@sign_in.command("off")
@actor_option(sensitive=True)
@yes_option()
@pass_settings
def sign_in_off(settings: Settings, actor: str, yes: bool) -> None:
    """Turn sign-in off (admin): --actor names who acts again. Asks first (or --yes)."""
    confirm(yes, "turn sign-in off: anyone at a terminal can act as any staff member")
    clinic = settings.clinic()
    earlier = clinic.sign_in_policy()
    rules = cmrewards.SignInPolicy(
        required=False,
        session_minutes=earlier.session_minutes,
        attempts=earlier.attempts,
        lockout_minutes=earlier.lockout_minutes,
        confirm_sensitive=earlier.confirm_sensitive,
    )
    stored = clinic.set_sign_in_policy(rules, actor=actor, os_user=_session.os_user())
    emit(
        settings,
        stored,
        "sign-in is off: --actor names who acts",
        recorded=Recorded("the sign-in policy", "cmrewards sign-in status"),
    )


def _describe_policy(rules: SignInPolicy) -> str:
    hours, minutes = divmod(rules.session_minutes, 60)
    length = plural(hours, "hour") if minutes == 0 else plural(rules.session_minutes, "minute")
    again = "ask again" if rules.confirm_sensitive else "do not ask again"
    return (
        f"a login lasts {length}; {plural(rules.attempts, 'failed attempt')} in a row lock a"
        f" member out for {rules.lockout_minutes} minutes; sensitive acts {again}"
    )


@sign_in.command("status")
@pass_settings
def sign_in_status(settings: Settings) -> None:
    """The policy, and who is signed in at this OS user on this database."""
    clinic = settings.clinic()
    rules = clinic.sign_in_policy()
    where = _where(settings)
    session = None
    problem = None
    if rules.required:
        try:
            session = _session.signed_in(clinic, where)
        except cmrewards.PermissionDenied as error:
            problem = str(error)
    lines = [f"sign-in is {'on' if rules.required else 'off'}: {_describe_policy(rules)}"]
    if rules.set_by is not None and rules.set_at is not None:
        lines.append(f"set by {rules.set_by} at {_utc(rules.set_at)}")
    if session is not None:
        lines.append(
            f"{session.staff_id} is signed in here (OS user {session.os_user}) until"
            f" {_utc(session.expires_at)}"
        )
    elif rules.required:
        lines.append(problem or f"nobody is signed in here (OS user {_session.os_user()})")
    emit(settings, {"policy": rules, "session": session}, "\n".join(lines))


SIGN_IN_COLUMNS: list[Column[SignInEvent]] = [
    Column(
        "at (UTC)",
        lambda e: f"{e.at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}",
        csv=lambda e: e.at.astimezone(dt.UTC).isoformat(timespec="seconds"),
    ),
    Column("staff", lambda e: e.staff_id),
    Column("event", lambda e: e.event),
    Column("OS user", lambda e: e.os_user or ""),
    Column("detail", lambda e: _detail(e)),
]


def _detail(event: SignInEvent) -> str:
    kind = cmrewards.SignInEventKind
    if event.event is kind.SIGNED_IN and event.expires_at is not None:
        return f"until {_utc(event.expires_at)}"
    if event.event is kind.LOCKED_OUT and event.detail:
        return f"until {_utc(dt.datetime.fromisoformat(event.detail))}"
    if event.event is kind.PASSPHRASE_SET:
        return f"set by {event.detail}"
    if event.event is kind.POLICY:
        return _describe_policy(cmrewards.from_json(cmrewards.SignInPolicy, _policy(event)))
    return event.detail or ""


def _policy(event: SignInEvent) -> dict[str, object]:
    fields: dict[str, object] = json.loads(event.detail or "{}")
    return fields


@sign_in.command("log")
@click.option("--staff", "staff_id", type=STAFF, help="Only this staff member's events.")
@csv_option()
@pass_settings
def sign_in_log(settings: Settings, staff_id: str | None) -> None:
    """Every sign-in, failure, confirmation, lock-out, sign-out, new passphrase and policy,
    oldest first."""
    events = settings.clinic().sign_ins(staff_id)
    emit_list(settings, events, SIGN_IN_COLUMNS, events, empty="no sign-in events yet")


def describe_sign_ins(
    events: list[SignInEvent], since: dt.date | None, until: dt.date | None
) -> str:
    """The sign-in part of ``report``: per staff member, sign-ins, failures and lock-outs
    on UTC dates since..until; '' when there were none."""
    counted = (
        cmrewards.SignInEventKind.SIGNED_IN,
        cmrewards.SignInEventKind.FAILED,
        cmrewards.SignInEventKind.LOCKED_OUT,
    )
    tally: dict[str, dict[str, int]] = {}
    for event in events:
        day = event.at.astimezone(dt.UTC).date()
        if event.event not in counted or (since and day < since) or (until and day > until):
            continue
        tally.setdefault(event.staff_id, dict.fromkeys(map(str, counted), 0))[str(event.event)] += 1
    if not tally:
        return ""
    lines = [f"sign-in ({since or 'start'} to {until or 'today'}, UTC dates)"]
    for staff_id, counts in sorted(tally.items()):
        lines.append(
            f"  {staff_id:<22} {plural(counts['signed-in'], 'sign-in')},"
            f" {plural(counts['failed'], 'failure')}, {plural(counts['locked-out'], 'lock-out')}"
        )
    return "\n".join(lines)
