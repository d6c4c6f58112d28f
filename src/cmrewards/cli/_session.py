"""Who is at the keyboard: the CLI signs staff in (``login``) and names them on every write.

The library takes the actor its host vouches for; the CLI is a host, so with the database's
sign-in on (``cmrewards sign-in on``; new databases have it) it vouches only for a staff
member it signed in itself (README, "Who is at the keyboard"):

- A **session**: ``cmrewards login`` checks the passphrase and keeps the session's token in
  an owner-only file for this OS user and this database (``CMREWARDS_SESSIONS``, else
  ``$XDG_STATE_HOME/cmrewards/sessions``, else ``~/.local/state/cmrewards/sessions``). The
  database holds the token's digest, the OS user and the database's location: a token
  copied to another account or used on another database is refused.
- A **service account** (a nightly import): no session; ``--actor`` names it and its
  passphrase comes from ``CMREWARDS_PASSPHRASE_FILE`` (an owner-only file) or
  ``CMREWARDS_PASSPHRASE``, never the command line, checked for that one command, whoever
  else is signed in at this OS user (their session is neither used nor touched).

``--actor`` (or ``CMREWARDS_ACTOR``) without a passphrase then only asserts who is signed
in: another id is refused before anything is read or written. A sensitive act (adjust,
reverse, approve, fulfil, correct, void) asks for the signed-in member's passphrase again,
as a point-of-sale manager override does, unless the policy says otherwise. With sign-in
off (a database from before it) ``--actor`` names the actor, as it always did.

A passphrase is read with ``getpass`` on a terminal, else from those variables (the
``NEW`` ones for a new passphrase); it never appears in argv, output or an error.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import pwd
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

import cmrewards
from cmrewards.errors import InvalidInput, PermissionDenied

if TYPE_CHECKING:
    from cmrewards import Clinic, Session, SignedIn

SESSIONS = "CMREWARDS_SESSIONS"
PASSPHRASE = "CMREWARDS_PASSPHRASE"
NEW_PASSPHRASE = "CMREWARDS_NEW_PASSPHRASE"


def os_user() -> str:
    """The OS account running this process, by its user id (not ``$USER``, which anyone sets)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # an id without a passwd entry (a container)
        return f"uid-{os.getuid()}"


def location(db: str, clinic: Clinic) -> str:
    """The database as a session is bound to it: a file's real absolute path, a server's
    URL without its password."""
    if db.startswith(cmrewards.POSTGRES_SCHEMES):
        return clinic.location
    return os.path.realpath(db)


def _directory() -> Path:
    chosen = os.environ.get(SESSIONS)
    if chosen:
        return Path(chosen)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cmrewards" / "sessions"


def session_file(where: str) -> Path:
    """This OS user's session file for the database at ``where``."""
    return _directory() / f"{hashlib.sha256(where.encode()).hexdigest()[:32]}.json"


def save(where: str, signed: SignedIn) -> Path:
    """Keep the token where only this OS user can read it; replaces an earlier session's."""
    folder = _directory()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = session_file(where)
    partial = path.with_suffix(".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(
            {
                "location": where,
                "os_user": signed.session.os_user,
                "staff": signed.session.staff_id,
                "expires_at": cmrewards.to_json(signed.session.expires_at),
                "token": signed.token,
            },
            file,
        )
    os.replace(partial, path)
    return path


def token(where: str) -> str | None:
    """The token of this OS user's session on ``where``, or None without one. A file
    another account owns, or one others can read, is refused: its token may be known."""
    found = on_file(where)
    return None if found is None else found[0]


def on_file(where: str) -> tuple[str, str | None] | None:
    """The token of this OS user's session on ``where`` and the staff id the file names
    (None when it names none), or None without a session file; refused as ``token``
    says. The staff id is only what the file says: the write checks the session."""
    path = session_file(where)
    try:
        status = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise PermissionDenied(f"cannot read the session file {path}: {error.strerror}") from None
    if status.st_uid != os.getuid() or stat.S_IMODE(status.st_mode) & 0o077:
        raise PermissionDenied(
            f"the session file {path} is not this OS user's alone; delete it and log in again"
        )
    try:
        saved = json.loads(text)
        found, staff = saved["token"], saved.get("staff")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(found, str):
        return None
    return found, staff if isinstance(staff, str) else None


def forget(where: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        session_file(where).unlink()


# --- passphrases --------------------------------------------------------------------


def _from_environment(variable: str) -> str | None:
    """A passphrase from ``VARIABLE_FILE`` (owner-only, one line) or ``VARIABLE``."""
    named = os.environ.get(f"{variable}_FILE")
    if named:
        path = Path(named)
        try:
            status = path.stat()
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(
                f"cannot read {variable}_FILE ({named[:80]}): {error.strerror}"
            ) from None
        except UnicodeDecodeError:
            raise InvalidInput(f"{variable}_FILE ({named[:80]}) is not UTF-8 text") from None
        if stat.S_IMODE(status.st_mode) & 0o077:
            raise PermissionDenied(
                f"{variable}_FILE ({named[:80]}) can be read by others: make it owner-only"
                " (chmod 600)"
            )
        return text.removesuffix("\n").removesuffix("\r")
    return os.environ.get(variable) or None


def ask(prompt: str) -> str:
    """What the person types, not echoed."""
    return getpass.getpass(prompt)


def _at_a_terminal() -> bool:
    return sys.stdin.isatty()


def passphrase(prompt: str) -> str:
    """The acting member's passphrase: ``CMREWARDS_PASSPHRASE_FILE`` or
    ``CMREWARDS_PASSPHRASE`` when set, else typed at the terminal."""
    given = _from_environment(PASSPHRASE)
    if given is not None:
        return given
    if not _at_a_terminal():
        raise _no_secret("no passphrase", PASSPHRASE)
    return ask(prompt)


def new_passphrase(whose: str) -> str:
    """A new passphrase: ``CMREWARDS_NEW_PASSPHRASE_FILE`` or ``CMREWARDS_NEW_PASSPHRASE``,
    else typed twice at the terminal."""
    given = _from_environment(NEW_PASSPHRASE)
    if given is not None:
        return given
    if not _at_a_terminal():
        raise _no_secret(f"no new passphrase for {whose}", NEW_PASSPHRASE)
    first = ask(f"new passphrase for {whose} (8 or more characters): ")
    if ask("the same again: ") != first:
        raise InvalidInput("the two passphrases differ; nothing was written")
    return first


def _no_secret(what: str, variable: str) -> InvalidInput:
    """A secret asked for with no terminal to type it at: a usage problem (exit 2), the same
    for every secret, naming both ways to give it (docs/decisions.md, "Sign-in: A missing
    secret")."""
    return InvalidInput(
        f"{what}: type it at a terminal, or set {variable}_FILE to an owner-only file that"
        f" holds it, or {variable} to the passphrase itself; nothing was written"
    )


# --- who acts -----------------------------------------------------------------------


def signed_in(clinic: Clinic, where: str) -> Session | None:
    """This OS user's session on ``where`` while it may act; None without a session file.
    A session that may not act (expired, signed out, another account's) is refused."""
    found = token(where)
    if found is None:
        return None
    try:
        return clinic.session(found, os_user=os_user(), location=where)
    except PermissionDenied as error:
        if str(error).endswith("sign in again"):
            raise PermissionDenied(f"{error} with 'cmrewards login'") from None
        raise


def acting(
    clinic: Clinic, where: str, asserted: str | None, *, sensitive: bool, command: str
) -> tuple[str | None, str | None]:
    """The staff id a write runs as (None when sign-in is off and ``--actor`` is missing:
    the caller reports the missing option), and the token of the session the write must
    check in its own transaction (``Clinic.with_session``; None without one). Raises
    ``PermissionDenied`` when nobody may act or ``--actor`` names someone else; nothing has
    been written then.

    With a session file naming the actor, nothing is read here: the write itself checks
    the policy and the session (issue 16). A sensitive act reads the policy first, to know
    whether to ask for the passphrase again; so do the cases without a session.

    ``--actor X`` with a passphrase in ``CMREWARDS_PASSPHRASE_FILE``/``CMREWARDS_PASSPHRASE``
    is a service account's command when no session here is X's: it acts as X on X's
    passphrase, and another member's session at this OS user is neither used nor touched
    (docs/decisions.md, "A service account beside a session").
    """
    service = asserted is not None and _from_environment(PASSPHRASE) is not None
    found = _beside(where) if service else on_file(where)
    if (
        found is not None
        and not sensitive
        and found[1] is not None
        and asserted in (None, found[1])
    ):
        return found[1], found[0]
    rules = clinic.sign_in_policy()
    if not rules.required:
        return asserted, None
    if service and asserted is not None and (found is None or found[1] != asserted):
        return _service(clinic, asserted)
    session = signed_in(clinic, where)
    if session is not None:
        if asserted is not None and asserted != session.staff_id:
            raise PermissionDenied(
                f"--actor {asserted} is not who is signed in here ({session.staff_id}):"
                f" log in as {asserted} to act as them; nothing was written"
            )
        if sensitive and rules.confirm_sensitive:
            typed = passphrase(f"passphrase for {session.staff_id} ('{command}' asks again): ")
            clinic.confirm(session.staff_id, typed, os_user=os_user())
        return session.staff_id, token(where)
    if asserted is None:
        raise PermissionDenied(
            f"nobody is signed in to {where} at OS user {os_user()}: run 'cmrewards login'"
        )
    if _from_environment(PASSPHRASE) is None:
        raise PermissionDenied(
            f"{asserted} is not signed in to {where} at OS user {os_user()}: run"
            f" 'cmrewards login {asserted}' (a script gives {PASSPHRASE}_FILE instead)"
        )
    return _service(clinic, asserted)


def _beside(where: str) -> tuple[str, str | None] | None:
    """The session file a service account's command looks at only to see whether it is
    the account's own; one it may not read is another's, and left alone."""
    try:
        return on_file(where)
    except PermissionDenied:
        return None


def _service(clinic: Clinic, asserted: str) -> tuple[str, None]:
    """A service account: its passphrase checked for this one command (sensitive ones
    included), with no session."""
    clinic.confirm(asserted, passphrase(""), os_user=os_user())
    return asserted, None


def require_actor(ctx: click.Context, value: str | None) -> str:
    if value is None:
        option = next(p for p in ctx.command.params if p.name == "actor")
        raise click.MissingParameter(ctx=ctx, param=option)
    return value


__all__ = [
    "acting",
    "forget",
    "location",
    "new_passphrase",
    "on_file",
    "os_user",
    "passphrase",
    "require_actor",
    "save",
    "session_file",
    "signed_in",
    "token",
]
