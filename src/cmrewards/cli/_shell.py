"""The shell every command runs in: the ``cli`` group, its options, errors and output.

Expected errors become one line on stderr (and, with ``--json``, one JSON error
document on stdout) with the exit code of their class; never a traceback.

Output never lies about a write. What is printed is encoded for the terminal, and
what its encoding cannot show is replaced, never a crash. Once a write has committed,
any failure (printing the result, a closed pipe, Ctrl-C) is reported as what it is:
the write *was* recorded, here is how to see it, exit 0, so nobody at the desk retries
it. Free text typed on the command line (notes, reasons, names, keys) is read as the
terminal wrote it, whatever the locale says, so it is stored and hashed the same
everywhere.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import locale
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import click

import cmrewards
from cmrewards.errors import CMRewardsError, InvalidInput, NotFound, PermissionDenied

from ._ids import STAFF, suggestion

if TYPE_CHECKING:
    from cmrewards import CappedMaximum, Clinic

DEFAULT_DB = "cmrewards.db"
NO_DATABASE_HINT = "create one with 'cmrewards init --admin ID' or point --db / CMREWARDS_DB at it"
_json_output: contextvars.ContextVar[bool] = contextvars.ContextVar("json_output", default=False)
_recorded: contextvars.ContextVar[Recorded | None] = contextvars.ContextVar(
    "recorded", default=None
)


@attrs.frozen
class Recorded:
    """A write that has committed: what it was and the command that shows it."""

    what: str
    """``outcome 12``, ``transfer 7``, ``staff member rec-01``."""
    see: str
    """``cmrewards history P-1001``."""


@attrs.define
class Settings:
    """What the top-level options chose, shared with every command."""

    db: str
    json: bool
    csv: bool = False
    """A list command's ``--csv``: its rows as CSV instead of a table."""
    _clinic: Clinic | None = None

    def acting(self, ctx: click.Context, sensitive: bool) -> str:
        """Who this write runs as: the signed-in staff member (``--actor`` only asserts it)
        with the database's sign-in on, else ``--actor`` (``cli/_session.py``)."""
        from . import _session  # a write's: a command that only reads starts without it

        clinic = self.clinic()
        where = _session.location(self.db, clinic)
        actor, token = _session.acting(
            clinic,
            where,
            ctx.params.get("actor"),
            sensitive=sensitive,
            command=ctx.command_path.removeprefix("cmrewards "),
        )
        if token is not None:  # the write checks the session in its own transaction
            self._clinic = clinic.with_session(token, os_user=_session.os_user(), location=where)
        return _session.require_actor(ctx, actor)

    def clinic(self, *, create: bool = False) -> Clinic:
        """Open the database once per command; refuse to create one by accident."""
        if self._clinic is None:
            try:
                self._clinic = cmrewards.open(self.db, create=create)
            except cmrewards.NotFound as error:  # the library says what; the CLI says how
                raise cmrewards.NotFound(f"{error}; {NO_DATABASE_HINT}") from None
        return self._clinic


class CMRewardsCommand(click.Command):
    """Every command: ``--json`` also after its name, and the nearest id on a not-found."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["--json"],
                is_flag=True,
                expose_value=False,
                callback=_json_after_the_command,
                help="Print exactly one JSON document (also accepted before the command).",
            )
        )

    def invoke(self, ctx: click.Context) -> Any:
        settings = ctx.find_object(Settings)
        if settings is not None and settings.csv and settings.json:
            raise click.UsageError("give --csv or --json, not both", ctx)
        try:
            actor = next((p for p in self.params if isinstance(p, ActorOption)), None)
            if actor is not None and settings is not None:
                ctx.params["actor"] = settings.acting(ctx, actor.sensitive)
            return super().invoke(ctx)
        except (NotFound, PermissionDenied) as error:
            if isinstance(error, PermissionDenied) and str(error).endswith("sign in again"):
                # The session, checked by the write (``Clinic.with_session``): say how.
                raise PermissionDenied(f"{error} with 'cmrewards login'") from None
            hint = None if settings is None else suggestion(ctx, str(error), settings.clinic)
            if hint is None:
                raise
            raise type(error)(f"{error}; {hint}") from None


def _json_after_the_command(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        settings = ctx.find_object(Settings)
        if settings is not None:
            settings.json = True
        _json_output.set(True)


class CMRewardsGroup(click.Group):
    """Turns every expected error into one line and the right exit code; imports the module
    of a command (``homes``) only when that command is asked for, or all for ``--help``."""

    command_class = CMRewardsCommand
    group_class = type  # subgroups are CMRewardsGroups, so their commands are the same

    def __init__(self, *args: Any, homes: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.homes = dict(homes or {})
        """Each command's module in ``cmrewards.cli``, imported on first use: a command
        pays only for its own module at start-up (issue 16)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.named(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.homes})

    def named(self, name: str) -> click.Command | None:
        """The command ``name``, its module imported first if need be; None if unknown."""
        if name not in self.commands and name in self.homes:
            importlib.import_module(f"{__package__}.{self.homes[name]}")
        return self.commands.get(name)

    def load_every_command(self) -> None:
        """Import every command's module: what a walk over ``commands`` needs first."""
        for name in self.homes:
            self.named(name)

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra["standalone_mode"] = False
        arguments = list(sys.argv[1:] if args is None else args)
        wants_json = _json_output.set(_asks_for_json(arguments))
        nothing_yet = _recorded.set(None)
        _replace_what_cannot_be_shown()
        try:
            try:
                super().main(args=arguments, prog_name=prog_name or "cmrewards", **extra)
            except (Exception, KeyboardInterrupt) as error:
                written = _recorded.get()
                if written is not None:
                    _recorded_anyway(written, error)
                raise
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
        except OSError as error:
            # A safety net for paths the system refuses (too long, not a directory, ...).
            _fail("InvalidInput", f"{error.strerror or error}: {str(error.filename)[:80]}", 2)
        finally:
            _json_output.reset(wants_json)
            _recorded.reset(nothing_yet)
        sys.exit(0)


def _replace_what_cannot_be_shown() -> None:
    """Print in the terminal's encoding, replacing what it cannot show (``PYTHONIOENCODING=
    latin-1``, an ASCII locale) instead of failing after the work is done."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) not in _SAFE_ERRORS:
            with suppress(Exception):  # a stream that cannot change keeps its own way
                reconfigure(errors="replace")


_SAFE_ERRORS = ("replace", "backslashreplace")


def _recorded_anyway(written: Recorded, error: BaseException) -> NoReturn:
    """The write committed and then something failed: say it was recorded, exit 0."""
    if isinstance(error, BrokenPipeError | UnicodeError) or not _can_flush(sys.stdout):
        _silence_stdout()  # what is still buffered for a closed pipe goes nowhere
    reason = "interrupted" if isinstance(error, KeyboardInterrupt) else type(error).__name__
    with suppress(Exception):
        click.echo(
            f"cmrewards: {written.what} was recorded, but its result could not be shown"
            f" ({reason}); see it with '{written.see}'",
            err=True,
        )
    sys.exit(0)


def _can_flush(stream: Any) -> bool:
    try:
        stream.flush()
    except Exception:
        return False
    return True


def _silence_stdout() -> None:
    with suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _asks_for_json(arguments: list[str]) -> bool:
    """Whether ``--json`` stands among the options, before or after the command, so that an
    error found while parsing the rest is a JSON document too. The options that take a
    value are skipped with it, as click's parser does: ``--note --json`` is a note."""
    command: click.Command = cli
    tokens = iter(arguments)
    for token in tokens:
        if token == "--json":
            return True
        if token == "--":
            return False
        if token.startswith("-"):
            if "=" not in token and _takes_a_value(command, token):
                next(tokens, None)
        elif isinstance(command, CMRewardsGroup) and command.named(token) is not None:
            command = command.commands[token]
    return False


def _takes_a_value(command: click.Command, option: str) -> bool:
    return any(
        isinstance(p, click.Option) and option in p.opts and not p.is_flag and not p.count
        for p in command.params
    )


def _fail(kind: str, message: str, code: int) -> NoReturn:
    # One line, and no raw control characters from a typed value reach the terminal.
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(message.split()))
    if _json_output.get():
        click.echo(json.dumps({"error": {"type": kind, "message": line, "exit_code": code}}))
    click.echo(f"cmrewards: {line}", err=True)
    sys.exit(code)


def emit(
    settings: Settings,
    data: Any,
    text: str | Callable[[], str],
    *,
    recorded: Recorded | None = None,
) -> None:
    """Print ``data`` as the one JSON document, or ``text`` for a person.

    ``recorded`` is the write that ``data`` reports, committed before this is called: from
    here on, a failure says it was recorded (exit 0) instead of failing the command.
    """
    if recorded is not None:
        _recorded.set(recorded)
    try:
        if settings.json:
            click.echo(json.dumps(cmrewards.to_json(data), indent=2, sort_keys=False))
        else:
            click.echo(text() if callable(text) else text)
    except Exception as error:
        # Here, not only in the group: click turns a closed pipe into a silent exit 1.
        written = _recorded.get()
        if written is None:
            raise
        _recorded_anyway(written, error)


pass_settings = click.make_pass_decorator(Settings)


COMMAND_HOMES = {
    "adjust": "outcomes",
    "backup": "backups",
    "balance": "outcomes",
    "catalog": "rewards",
    "checkpoint": "outcomes",
    "close": "calendar",
    "complete": "setup",
    "correct": "outcomes",
    "demo": "outcomes",
    "enroll": "setup",
    "excuse": "calendar",
    "expire": "rewards",
    "export": "reports",
    "history": "outcomes",
    "import": "outcomes",
    "init": "setup",
    "listen": "listen",
    "login": "signin",
    "logout": "signin",
    "migrate": "setup",
    "participant": "setup",
    "postgres-grants": "backups",
    "presets": "setup",
    "preview": "outcomes",
    "prize": "rewards",
    "program": "setup",
    "record": "outcomes",
    "redeem": "rewards",
    "report": "reports",
    "restore": "backups",
    "results": "lab_results",
    "reverse": "outcomes",
    "sign-in": "signin",
    "simulate": "reports",
    "staff": "signin",  # setup defines the group, signin adds ``staff passwd`` to it
    "statement": "reports",
    "verify": "outcomes",
    "void": "outcomes",
    "withdraw": "setup",
}
"""Every top-level command and the module whose import defines it whole, subcommands
included (``tests/cli/test_cli.py`` checks each against the command line with every module
imported)."""


@click.group(
    cls=CMRewardsGroup,
    homes=COMMAND_HOMES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    envvar="CMREWARDS_DB",
    default=DEFAULT_DB,
    show_default=True,
    callback=lambda ctx, param, value: _a_database(value),
    help="Database file, or a postgresql:// URL (or set CMREWARDS_DB).",
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


def _a_database(value: str) -> str:
    """``--db ''`` is a usage error, not an unreadable database."""
    if not value.strip():
        raise click.BadParameter("is empty: give a database file or a postgresql:// URL")
    return value


class ActorOption(click.Option):
    """``--actor``, resolved once every option is parsed (``CMRewardsCommand.invoke``)."""

    def __init__(self, *args: Any, sensitive: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sensitive = sensitive
        """The command asks for the signed-in member's passphrase again (policy allowing)."""


def actor_option(*, sensitive: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--actor``: the staff id of whoever does this; ``CMREWARDS_ACTOR`` when not given.
    With the database's sign-in on it only asserts who is signed in (``cli/_session.py``);
    ``sensitive`` commands ask for their passphrase again."""
    return click.option(
        "--actor",
        cls=ActorOption,
        sensitive=sensitive,
        envvar="CMREWARDS_ACTOR",
        show_envvar=True,
        type=STAFF,
        help="Staff id of whoever does this (with sign-in on: must be who is signed in).",
    )


def key_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--key",
        default=None,
        callback=typed_text,
        help="Idempotency key (e.g. lab accession number): repeats are safe.",
    )


def money(cents: int | None) -> str:
    """Dollars for a person; None is a program without a cap."""
    return "no cap" if cents is None else cmrewards.format_cents(cents)


def at_most(most: CappedMaximum) -> str:
    """What one participant can receive, the cap applied and said so: ``at most $599.00
    per participant (the schedule alone would pay $1,074.00; capped at $599.00 per
    enrolment year)``. The one wording of ``program show`` and ``presets``."""
    note = cap_note(most)
    if note is None:
        return f"at most {money(most.cents)} per participant"
    per = ""
    if most.periods > 1 and most.capped:
        per = f" per {_period_words(most)}"
    return f"at most {money(most.cents)} per participant{per} ({note})"


def cap_note(most: CappedMaximum) -> str | None:
    """How the cap limits ``most``, or None without a cap: ``the schedule alone would pay
    $1,074.00; capped at $599.00 per calendar year; an enrolment can span 2 calendar
    years, each with its own cap``."""
    if most.cap_cents is None:
        return None
    period = _period_words(most)
    cap = f"{money(most.cap_cents)} per {period}"
    note = (
        f"the schedule alone would pay {money(most.schedule_cents)}; capped at {cap}"
        if most.capped
        else f"below the cap of {cap}"
    )
    if most.periods > 1 and most.capped:
        note += f"; an enrolment can span {most.periods} {period}s, each with its own cap"
    return note


def _period_words(most: CappedMaximum) -> str:
    return period_words(most.cap_period)


def period_words(period: cmrewards.CapPeriod | None) -> str:
    """A program's cap period as the CLI says it everywhere: ``calendar year`` or
    ``enrolment year`` (the file's ``enrollment-year``)."""
    return str(period).replace("-", " ").replace("enrollment", "enrolment")


@contextmanager
def _reading(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise InvalidInput(f"cannot read {path[:80]}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path[:80]} is not UTF-8 text") from None


def typed_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Free text as the terminal typed it, whatever the locale claims (an option's callback).

    A locale that cannot decode the bytes typed (the C locale with UTF-8 mode off, a UTF-8
    terminal under an ASCII locale) hands Python the bytes as lone surrogates, which no hash
    and no database can take. They are read back as UTF-8 (what terminals send), else in the
    locale's own encoding; anything else is refused as input, before any write.
    """
    if value is None or not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    typed = os.fsencode(value)
    for encoding in dict.fromkeys(("utf-8", locale.getpreferredencoding(False))):
        with suppress(UnicodeDecodeError, LookupError):
            return typed.decode(encoding)
    raise click.BadParameter("is not text in this terminal's encoding (UTF-8)", ctx, param)
