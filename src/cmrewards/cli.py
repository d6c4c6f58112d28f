"""The staff command line: parse, call ``Clinic``, print. Nothing else lives here.

Exit codes: 0 done; 1 refused by a rule; 2 invalid input or usage; 3 integrity
problem. With ``--json`` stdout carries exactly one JSON document, errors included;
messages go to stderr. Expected errors are one line, never a traceback.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import attrs
import click

from .errors import CMRewardsError, InvalidInput, NotFound

DEFAULT_DB = "cmrewards.db"
_json_output: contextvars.ContextVar[bool] = contextvars.ContextVar("json_output", default=False)


@attrs.define
class Settings:
    """What the top-level options chose, shared with every command."""

    db: str
    json: bool
    _clinic: Any = None

    def clinic(self, *, create: bool = False) -> Any:
        """Open the database once per command; refuse to create one by accident."""
        if self._clinic is None:
            import cmrewards

            if not create and not Path(self.db).exists():
                raise NotFound(
                    f"no database at {self.db}; create one with 'cmrewards init --admin ID'"
                    " or point --db / CMREWARDS_DB at it"
                )
            self._clinic = cmrewards.open(self.db)
        return self._clinic


class CMRewardsGroup(click.Group):
    """Turns every expected error into one line and the right exit code."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra["standalone_mode"] = False
        arguments = list(sys.argv[1:] if args is None else args)
        wants_json = _json_output.set(_asks_for_json(arguments))
        try:
            super().main(args=arguments, prog_name=prog_name or "cmrewards", **extra)
        except CMRewardsError as error:
            _fail(type(error).__name__, str(error), error.exit_code)
        except click.exceptions.NoArgsIsHelpError as error:
            if arguments or error.ctx is None:  # a group without its subcommand
                path = error.ctx.command_path if error.ctx else "cmrewards"
                _fail("UsageError", f"missing command (see '{path} --help')", 2)
            click.echo(error.ctx.get_help())  # bare `cmrewards`: the help is the answer
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            _fail("UsageError", error.format_message() + hint, 2)
        except click.ClickException as error:
            _fail(type(error).__name__, error.format_message(), error.exit_code)
        except (click.Abort, KeyboardInterrupt):
            _fail("Aborted", "aborted", 130)
        except OverflowError:
            # A safety net: every range is checked where it is parsed.
            _fail("InvalidInput", "a number or date on the command line is out of range", 2)
        finally:
            _json_output.reset(wants_json)
        sys.exit(0)


def _asks_for_json(arguments: list[str]) -> bool:
    """Whether ``--json`` stands among the top-level options, before the command."""
    tokens = iter(arguments)
    for token in tokens:
        if token == "--json":
            return True
        if token == "--db":
            next(tokens, None)
        elif not token.startswith("-"):
            return False
    return False


def _fail(kind: str, message: str, code: int) -> NoReturn:
    line = " ".join(message.split())
    if _json_output.get():
        click.echo(json.dumps({"error": {"type": kind, "message": line, "exit_code": code}}))
    click.echo(f"cmrewards: {line}", err=True)
    sys.exit(code)


def emit(settings: Settings, data: Any, text: str | Callable[[], str]) -> None:
    """Print ``data`` as the one JSON document, or ``text`` for a person."""
    from .serde import to_json

    if settings.json:
        click.echo(json.dumps(to_json(data), indent=2, sort_keys=False))
    else:
        click.echo(text() if callable(text) else text)


pass_settings = click.make_pass_decorator(Settings)


@click.group(cls=CMRewardsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="CMREWARDS_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="Database file (or set CMREWARDS_DB).",
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.version_option(package_name="cmrewards")
@click.pass_context
def cli(ctx: click.Context, db: str, as_json: bool) -> None:
    """cmrewards: contingency management rewards for clinic staff.

    Record verified outcomes, see balances, correct mistakes, prove the record.
    """
    ctx.obj = Settings(db=db, json=as_json)
    ctx.call_on_close(lambda: ctx.obj._clinic and ctx.obj._clinic.close())


def actor_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--actor", required=True, help="Staff id of whoever does this.")


def key_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--key", default=None, help="Idempotency key (e.g. lab accession number): repeats are safe."
    )


def money(cents: int | None) -> str:
    if cents is None:
        return "no cap"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


@contextmanager
def _reading(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None


# --- setup -----------------------------------------------------------------


@cli.command()
@click.option("--admin", required=True, help="Staff id of the first admin.")
@pass_settings
def init(settings: Settings, admin: str) -> None:
    """Create the database and its first admin."""
    from .clinic import check_id

    check_id(admin, "staff id")
    staff = settings.clinic(create=True).init(admin)
    emit(settings, staff, f"created {settings.db} with admin {admin}")


@cli.group()
def staff() -> None:
    """Manage staff: recorders, clinicians, admins."""


@staff.command("add")
@click.argument("staff_id")
@click.option(
    "--role", required=True, type=click.Choice(["recorder", "clinician", "admin"]), help="Role."
)
@actor_option()
@pass_settings
def staff_add(settings: Settings, staff_id: str, role: str, actor: str) -> None:
    """Add a staff member."""
    member = settings.clinic().add_staff(staff_id, role, actor=actor)
    emit(settings, member, f"added {member.role} {member.id}")


@staff.command("deactivate")
@click.argument("staff_id")
@actor_option()
@pass_settings
def staff_deactivate(settings: Settings, staff_id: str, actor: str) -> None:
    """Stop a staff member from acting; their history stays."""
    member = settings.clinic().deactivate_staff(staff_id, actor=actor)
    emit(settings, member, f"deactivated {member.id}")


@staff.command("list")
@pass_settings
def staff_list(settings: Settings) -> None:
    """List staff and their roles."""
    members = settings.clinic().staff()
    emit(
        settings,
        members,
        lambda: "\n".join(
            f"{m.id:<20} {m.role:<10} {'active' if m.active else 'inactive'}" for m in members
        ),
    )


# --- programs --------------------------------------------------------------


@cli.command()
@pass_settings
def presets(settings: Settings) -> None:
    """List the shipped programs and what each can pay one participant."""
    from .programs import load_preset, maximum_earnings, preset_names

    shipped = [(name, load_preset(name)) for name in preset_names()]
    maxima = {name: maximum_earnings(program) for name, program in shipped}

    def text() -> str:
        lines = []
        for name, program in shipped:
            most = maxima[name]
            paid = f"{most.points} points" if most.points else f"{most.draws} draws"
            lines.append(
                f"{name:<16} {program.name}\n{'':<16} at most {paid},"
                f" {money(most.value_cents)} expected with every sample negative"
            )
        return "\n".join(lines)

    rows = [
        {"preset": name, "name": program.name, "description": program.description}
        | {"maximum": maxima[name]}
        for name, program in shipped
    ]
    emit(settings, rows, text)


@cli.group()
def program() -> None:
    """Define programs (CM protocols)."""


@program.command("add")
@click.option("--preset", "preset_name", help="A shipped preset (see 'cmrewards presets').")
@click.option("--file", "file_path", help="A program TOML file.")
@click.option("--id", "program_id", help="Store under this id instead of the file's.")
@click.option("--timezone", help="The clinic's IANA time zone, e.g. America/Chicago.")
@actor_option()
@pass_settings
def program_add(
    settings: Settings,
    preset_name: str | None,
    file_path: str | None,
    program_id: str | None,
    timezone: str | None,
    actor: str,
) -> None:
    """Add a program from a preset or a TOML file."""
    from .programs import load_preset, load_program_file, program_from_dict

    if (preset_name is None) == (file_path is None):
        raise click.UsageError("give exactly one of --preset NAME or --file PATH")
    loaded = load_preset(preset_name) if preset_name else load_program_file(str(file_path))
    if program_id or timezone:
        overrides = {"id": program_id or loaded.id, "timezone": timezone or loaded.timezone}
        loaded = program_from_dict(loaded.to_dict() | overrides, "command line")
    stored = settings.clinic().add_program(loaded, actor=actor)
    emit(settings, stored.to_dict(), f"added program {stored.id}: {stored.name}")


@program.command("list")
@pass_settings
def program_list(settings: Settings) -> None:
    """List programs."""
    programs = settings.clinic().programs()
    emit(
        settings,
        [p.to_dict() for p in programs],
        lambda: "\n".join(f"{p.id:<20} {p.name}" for p in programs) or "no programs yet",
    )


@program.command("show")
@click.argument("program_id")
@pass_settings
def program_show(settings: Settings, program_id: str) -> None:
    """Show one program's rules."""
    from .programs import maximum_earnings

    shown = settings.clinic().program(program_id)
    most = maximum_earnings(shown)

    def text() -> str:
        lines = [f"{shown.id}: {shown.name}", shown.description, ""]
        lines.append(
            f"point value {money(shown.point_value_cents)}, {shown.weeks} weeks,"
            f" time zone {shown.timezone}, cap {money(shown.cap_cents)}"
        )
        for target in shown.targets:
            rules = ", ".join(
                f"{k}={v}" for k, v in attrs.asdict(target.schedule).items() if v is not None
            )
            lines.append(f"  {target.id}: {target.schedule.kind} ({rules}), {target.per_week}/week")
        lines.append(f"at most {money(most.value_cents)} per participant")
        return "\n".join(lines)

    emit(settings, shown.to_dict() | {"maximum": most}, text)


# --- enrolment -------------------------------------------------------------


@cli.command()
@click.argument("participant")
@click.option("--program", "program_id", required=True, help="Program id.")
@click.option("--start", help="Enrolment date YYYY-MM-DD (default: today in the clinic's zone).")
@actor_option()
@pass_settings
def enroll(
    settings: Settings, participant: str, program_id: str, start: str | None, actor: str
) -> None:
    """Enrol a participant (pseudonymous id) in a program."""
    from .clock import parse_date

    day = parse_date(start, "--start") if start else None
    record = settings.clinic().enroll(participant, program_id, start=day, actor=actor)
    emit(settings, record, f"enrolled {record.id} in {record.program_id} from {record.start}")


def _end_command(name: str, verb: str, doc: str) -> None:
    @cli.command(name, help=doc)
    @click.argument("participant")
    @actor_option()
    @pass_settings
    def end(settings: Settings, participant: str, actor: str) -> None:
        clinic = settings.clinic()
        record = getattr(clinic, name)(participant, actor=actor)
        emit(settings, record, f"{record.id} {verb}")


_end_command("withdraw", "withdrawn", "Withdraw a participant; no more outcomes are recorded.")
_end_command("complete", "completed", "Mark a participant's incentive phase complete.")


# --- outcomes and balances ---------------------------------------------------


@cli.command()
@click.argument("participant")
@click.option("--target", required=True, help="Target id, e.g. stimulant-negative.")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(["met", "not_met", "missed", "excused", "invalid"]),
    help="met = negative/attended; not_met = positive; missed = no sample.",
)
@click.option("--at", help="Clinical time, ISO 8601 (default: now); no offset = clinic's zone.")
@actor_option()
@key_option()
@click.option("--note", help="A short note (no names or other personal data).")
@pass_settings
def record(
    settings: Settings,
    participant: str,
    target: str,
    outcome: str,
    at: str | None,
    actor: str,
    key: str | None,
    note: str | None,
) -> None:
    """Record one verified outcome and pay what the schedule says."""
    from .clock import parse_when

    clinic = settings.clinic()
    when = None
    if at is not None:
        zone = clinic.program(clinic.participant(participant).program_id).timezone
        when = parse_when(at, zone, "--at")
    result = clinic.record(participant, target, outcome, at=when, actor=actor, key=key, note=note)
    emit(settings, result, lambda: _describe_record(result))


def _describe_record(result: Any) -> str:
    award = result.award
    head = f"{result.participant} {result.target}: {result.outcome}"
    if result.replayed:
        head += " (already recorded with this key; nothing written)"
    parts = []
    if award.points:
        parts.append(f"+{award.points} points")
    if award.bonus_points:
        parts.append(f"+{award.bonus_points} bonus")
    if award.draws:
        parts.append(f"{award.draws} draws")
    if award.recovered:
        parts.append("streak restored")
    if award.reset:
        parts.append("schedule reset")
    if not award.paid:
        parts.append("not paid: required target not met at this visit")
    if award.capped:
        parts.append("cut to the annual cap")
    earned = ", ".join(parts) or "no award"
    balance = result.balance
    return (
        f"{head} — {earned}\n"
        f"balance {balance.points} points ({money(balance.value_cents)}),"
        f" {balance.available_points} available"
    )


@cli.command()
@click.argument("participant")
@pass_settings
def balance(settings: Settings, participant: str) -> None:
    """A participant's points: total, held and available."""
    result = settings.clinic().balance(participant)
    emit(
        settings,
        result,
        lambda: (
            f"{result.participant}: {result.points} points ({money(result.value_cents)}),"
            f" {result.available_points} available, {result.held_points} held;"
            f" cap remaining {money(result.cap_remaining_cents)}"
        ),
    )


@cli.command()
@click.argument("participant")
@pass_settings
def preview(settings: Settings, participant: str) -> None:
    """What each target pays next if met, the streak, and what a miss resets it to."""
    previews = settings.clinic().preview(participant)
    emit(settings, previews, lambda: "\n".join(p.sentence for p in previews))


@cli.command("import")
@click.argument("csv_file", metavar="FILE.csv")
@actor_option()
@click.option(
    "--chunk-size",
    default=500,
    show_default=True,
    type=click.IntRange(1),
    help="Rows per transaction.",
)
@pass_settings
def import_(settings: Settings, csv_file: str, actor: str, chunk_size: int) -> None:
    """Record a CSV of outcomes (participant,target,outcome,at,key,note); safe to rerun."""
    from .importer import read_rows

    clinic = settings.clinic()
    with _reading(csv_file), open(csv_file, encoding="utf-8-sig", newline="") as file:
        rows = read_rows(file, csv_file)
        show_bar = not settings.json and sys.stderr.isatty()
        total = _count_rows(csv_file) if show_bar else 0
        with click.progressbar(
            length=total, label="importing", file=sys.stderr, hidden=not show_bar
        ) as bar:
            report = clinic.import_outcomes(
                rows, actor=actor, chunk_size=chunk_size, progress=bar.update
            )

    def text() -> str:
        done = f"imported {report.applied} rows, skipped {report.replayed} already applied"
        return done if report.complete else f"{done}; stopped at {report.error}"

    emit(settings, report, text)
    if not report.complete:
        click.echo(f"cmrewards: import stopped at {report.error}", err=True)
        sys.exit(report.exit_code)


def _count_rows(path: str) -> int:
    with open(path, "rb") as file:
        return max(sum(1 for _ in file) - 1, 0)


@cli.command()
@click.argument("participant")
@pass_settings
def history(settings: Settings, participant: str) -> None:
    """Every outcome and transfer, with the running balance."""
    entries = settings.clinic().history(participant)

    def text() -> str:
        lines = [f"{'when (UTC)':<17} {'what':<16} {'points':>7} {'balance':>8}  detail"]
        for e in entries:
            change = f"{e.points:+d}" if e.points else ""
            lines.append(
                f"{e.occurred_at:%Y-%m-%d %H:%M} {e.kind:<16} {change:>7}"
                f" {e.available_points + e.held_points:>8}  {e.detail} [{e.ref}]"
            )
        return "\n".join(lines)

    emit(settings, entries, text)


@cli.command()
@click.argument("participant")
@click.option("--points", required=True, type=int, help="Points to add (+N) or remove (-N).")
@click.option("--reason", required=True, help="Why: kept in the audit trail.")
@actor_option()
@key_option()
@pass_settings
def adjust(
    settings: Settings, participant: str, points: int, reason: str, actor: str, key: str | None
) -> None:
    """Add or remove points by hand (admin), with a reason."""
    result = settings.clinic().adjust(participant, points, reason=reason, actor=actor, key=key)
    emit(settings, result, lambda: _describe_transfer(result))


@cli.command()
@click.argument("transfer_id", type=int)
@click.option("--reason", required=True, help="Why: kept in the audit trail.")
@actor_option()
@key_option()
@pass_settings
def reverse(settings: Settings, transfer_id: int, reason: str, actor: str, key: str | None) -> None:
    """Undo one transfer with a mirror transfer (admin); the original stays."""
    result = settings.clinic().reverse(transfer_id, reason=reason, actor=actor, key=key)
    emit(settings, result, lambda: _describe_transfer(result))


def _describe_transfer(result: Any) -> str:
    t = result.transfer
    note = " (already done with this key; nothing written)" if result.replayed else ""
    return (
        f"transfer {t.id}: {t.kind} of {t.amount} points {t.from_account} -> {t.to_account}{note}\n"
        f"balance of {result.balance.participant}: {result.balance.points} points"
        f" ({money(result.balance.value_cents)})"
    )


# --- catalog, redemption and prizes ---------------------------------------------


@cli.group()
def catalog() -> None:
    """The catalog of rewards and the prize cabinet."""


@catalog.command("add")
@click.argument("sku")
@click.option("--name", required=True, help="What it is, e.g. '$10 grocery gift card'.")
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
    emit(settings, item, lambda: _describe_item(item))


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
    emit(settings, item, lambda: _describe_item(item))


def _describe_item(item: Any) -> str:
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
        emit(settings, result, lambda: _describe_redemption(result))

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
    emit(settings, result, lambda: _describe_redemption(result))


_redemption_command(
    "approve",
    "Approve a request as fitting the participant's treatment goals (clinician).",
    lambda clinic, rid, **kw: clinic.approve_redemption(rid, **kw),
)
_redemption_command(
    "fulfil",
    "Record the hand-over: who, a note (receipt, card last digits), the actual cost.",
    lambda clinic, rid, **kw: clinic.fulfil_redemption(rid, **kw),
    click.option("--note", help="Receipt or gift-card last digits (no personal data)."),
    click.option("--cost-cents", type=int, help="What the clinic actually paid, in cents."),
)
_redemption_command(
    "cancel",
    "Cancel or decline a request; the points and stock are released.",
    lambda clinic, rid, **kw: clinic.cancel_redemption(rid, **kw),
    click.option("--reason", required=True, help="Why: kept in the audit trail."),
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


def _describe_one(r: Any) -> str:
    return f"#{r.id:<5} {r.participant:<12} {r.sku:<16} {r.cost:>6} points  {r.status}"


def _describe_redemption(result: Any) -> str:
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
    emit(settings, won, f"{participant} traded {give} prizes for prize #{won.id} ({won.category})")


@prize.command("fulfil")
@click.argument("prize_id", type=int)
@click.option("--sku", required=True, help="Cabinet item of the won category.")
@click.option("--note", help="A short note (no personal data).")
@actor_option()
@pass_settings
def prize_fulfil(settings: Settings, prize_id: int, sku: str, note: str | None, actor: str) -> None:
    """Hand over an item of the won category from the prize cabinet."""
    won = settings.clinic().fulfil_prize(prize_id, sku=sku, actor=actor, note=note)
    emit(settings, won, f"prize #{won.id} ({won.category}) handed over as {sku}")


@cli.command()
@pass_settings
def verify(settings: Settings) -> None:
    """Recompute hash chains, balances and schedule states; exit 3 on any mismatch."""
    report = settings.clinic().verify()
    emit(
        settings,
        report,
        lambda: "\n".join(
            [
                *report.problems,
                f"{'OK' if report.ok else 'PROBLEMS FOUND'}: {report.outcomes} outcomes,"
                f" {report.transfers} transfers, {report.participants} participants checked;"
                f" chain head {report.transfer_chain_head[:16]}",
            ]
        ),
    )
    if not report.ok:
        click.echo(f"cmrewards: verify found {len(report.problems)} problem(s)", err=True)
        sys.exit(3)


@cli.command()
@click.option(
    "--db",
    "demo_db",
    help="Fresh file for the demo (default: the top-level --db, else a temporary file).",
)
@pass_settings
def demo(settings: Settings, demo_db: str | None) -> None:
    """Build a sample clinic on a fresh file and walk through a day."""
    from .demo import run_demo

    source = click.get_current_context().find_root().get_parameter_source("db")
    if demo_db is None and source is not click.core.ParameterSource.DEFAULT:
        demo_db = settings.db
    if demo_db is None:
        import tempfile

        demo_db = os.path.join(tempfile.mkdtemp(prefix="cmrewards-demo-"), "demo.db")
    run_demo(Path(demo_db), dt.datetime.now(dt.UTC), as_json=settings.json)


def main() -> None:
    cli.main()
