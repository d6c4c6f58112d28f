"""Who is at the keyboard: the CLI signs staff in and names them on every write (issue 17).

The two cases tried at a front desk are refused with one clear line, exit 1, nothing
written: a recorder adjusting "as" an admin, and a fulfilment "by" a colleague where the
program separates duties. Sessions expire, and a token is refused on another database or
at another OS user; guessing is slowed and locked out; no passphrase or token reaches the
database, the journal, an export, the command line or the output. Passphrases come from
``CMREWARDS_PASSPHRASE`` / ``CMREWARDS_NEW_PASSPHRASE``, as a script gives them (the
terminal's getpass is replaced where a test types).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result

import cmrewards
from cmrewards.cli import _session, cli
from support.cli import assert_error, invoke, snapshot
from support.clinics import FakeClock

cli.load_every_command()  # the command line imports each module on first use

ADMIN, RECORDER, CLIN, CLIN2 = "admin-1", "rec-01", "clin-01", "clin-02"
PASSPHRASES = {
    ADMIN: "admin passphrase one",
    RECORDER: "front desk passphrase",
    CLIN: "clinician one passphrase",
    CLIN2: "clinician two passphrase",
    "lab-import": "the nightly job's secret",
}
TODAY = dt.datetime.now(dt.UTC).date()


class Desk:
    """One database and the person typing at this OS user."""

    def __init__(self, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db = db
        self.monkeypatch = monkeypatch
        self.results: list[Result] = []

    def typing(self, who: str | None, new: str | None = None) -> None:
        """The passphrase ``who`` types when asked, and the new one when one is set."""
        for name, value in (("CMREWARDS_PASSPHRASE", who), ("CMREWARDS_NEW_PASSPHRASE", new)):
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, PASSPHRASES.get(value, value))

    def run(self, command: str, who: str | None = None, new: str | None = None) -> Result:
        self.typing(who, new)
        result = invoke(self.db, command)
        self.results.append(result)
        return result

    def ok(self, command: str, who: str | None = None, new: str | None = None) -> Any:
        result = self.run(command, who, new)
        assert result.exit_code == 0, (command, result.stdout, result.stderr, result.exception)
        return json.loads(result.stdout)

    def login(self, who: str) -> Any:
        return self.ok(f"login {who}", who)

    def refused(self, command: str, who: str | None = None) -> str:
        """A refusal: exit 1, one line, and nothing written. Its message."""
        before = snapshot(self.db)
        error = assert_error(self.run(command, who), 1)
        assert snapshot(self.db) == before
        message: str = error["message"]
        return message

    def refused_login(self, who: str) -> str:
        """A wrong passphrase at ``login``: exit 1, one line (the failure is journaled)."""
        error = assert_error(self.run(f"login {who}", "a wrong guess"), 1)
        message: str = error["message"]
        return message


SEPARATE = (
    (Path(cmrewards.__file__).parent / "presets" / "higgins-vbrt.toml")
    .read_text(encoding="utf-8")
    .replace("separate_duties = false", "separate_duties = true")
)


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desk:
    """A database made by ``init`` (sign-in on) with a recorder, two clinicians, a program
    that separates duties, P-1001 with 500 points, and a $10 card in the catalog."""
    program = tmp_path / "separate.toml"
    program.write_text(SEPARATE, encoding="utf-8")
    desk = Desk(tmp_path / "clinic.db", monkeypatch)
    created = desk.ok(f"init --admin {ADMIN}", new=ADMIN)
    assert created["id"] == ADMIN
    desk.login(ADMIN)
    for member, role in ((RECORDER, "recorder"), (CLIN, "clinician"), (CLIN2, "clinician")):
        desk.ok(f"staff add {member} --role {role}")
        desk.ok(f"staff passwd {member}", ADMIN, new=member)
    desk.ok(f"program add --file {program} --timezone America/Chicago")
    desk.ok(f"enroll P-1001 --program higgins-vbrt --start {TODAY - dt.timedelta(days=7)}")
    desk.ok("adjust P-1001 --points 500 --reason 'carried over'", ADMIN)
    desk.ok("catalog add GC10 --name '$10 card' --cost 40 --stock 3")
    return desk


def test_init_turns_sign_in_on_and_a_write_needs_someone_signed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk(tmp_path / "new.db", monkeypatch)
    desk.ok(f"init --admin {ADMIN}", new=ADMIN)
    assert desk.ok("sign-in status")["policy"]["required"] is True
    message = desk.refused("staff add rec-01 --role recorder")
    assert message.startswith("nobody is signed in to ")
    assert message.endswith(": run 'cmrewards login'")
    message = desk.refused(f"staff add rec-01 --role recorder --actor {ADMIN}")
    assert f"{ADMIN} is not signed in to " in message


def test_a_recorder_cannot_act_as_an_admin_whatever_actor_says(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.login(RECORDER)
    message = desk.refused(f"adjust P-1001 --points 500 --reason x --actor {ADMIN}")
    assert message == (
        f"--actor {ADMIN} is not who is signed in here ({RECORDER}): log in as {ADMIN} to act"
        " as them; nothing was written"
    )
    monkeypatch.setenv("CMREWARDS_ACTOR", ADMIN)
    assert desk.refused("adjust P-1001 --points 500 --reason x") == message
    monkeypatch.delenv("CMREWARDS_ACTOR")
    message = desk.refused("adjust P-1001 --points 500 --reason x", RECORDER)
    assert message == f"'{RECORDER}' is a recorder; a recorder may not adjust balances"
    # A recorder's passphrase given for --actor admin-1 is checked as the admin's: wrong
    # (a failure of the admin's, journaled), and nothing else is written.
    before = snapshot(desk.db)
    error = assert_error(
        desk.run(f"adjust P-1001 --points 500 --reason x --actor {ADMIN}", RECORDER), 1
    )
    assert error["message"] == f"wrong passphrase for {ADMIN} (4 more and they are locked out)"
    assert snapshot(desk.db)["transfers"] == before["transfers"]


def test_separation_of_duties_holds_between_two_signed_in_clinicians(desk: Desk) -> None:
    desk.login(RECORDER)
    desk.ok("redeem request P-1001 GC10")
    desk.login(CLIN)
    approved = desk.ok("redeem approve 1", CLIN)
    assert approved["redemption"]["approved_by"] == CLIN
    message = desk.refused(f"redeem fulfil 1 --actor {CLIN2}")
    assert message.startswith(f"--actor {CLIN2} is not who is signed in here ({CLIN})")
    assert "separates duties" in desk.refused("redeem fulfil 1", CLIN)
    desk.login(CLIN2)
    fulfilled = desk.ok("redeem fulfil 1 --note 'card 4417'", CLIN2)
    assert fulfilled["redemption"]["fulfilled_by"] == CLIN2


def test_a_sensitive_act_asks_for_the_passphrase_again(desk: Desk) -> None:
    desk.login(ADMIN)
    before = snapshot(desk.db)
    error = assert_error(desk.run("adjust P-1001 --points 5 --reason x", "not the one!"), 1)
    assert error["message"] == f"wrong passphrase for {ADMIN} (4 more and they are locked out)"
    after = snapshot(desk.db)
    assert after["transfers"] == before["transfers"]
    assert len(after["sign_ins"]) == len(before["sign_ins"]) + 1  # the failure, journaled
    assert (
        "no passphrase"
        in assert_error(desk.run("adjust P-1001 --points 5 --reason x"), 2)["message"]
    )
    desk.ok("adjust P-1001 --points 5 --reason x", ADMIN)
    # Not sensitive: recording asks nothing more than the session.
    desk.login(RECORDER)
    # Yesterday: a bare date is 00:00 in the program's zone, still ahead of the clock there
    # when the UTC date has turned and the zone's has not.
    yesterday = TODAY - dt.timedelta(days=1)
    desk.ok(f"record P-1001 --target stimulant-negative --outcome met --at {yesterday}")
    # A clinic whose policy says otherwise is not asked again.
    desk.login(ADMIN)
    desk.ok("sign-in on --no-confirm-sensitive", ADMIN)
    desk.ok("adjust P-1001 --points 5 --reason x")


@pytest.mark.parametrize(
    ("command", "who", "variable"),
    [
        (f"login {ADMIN}", None, "CMREWARDS_PASSPHRASE"),
        ("adjust P-1001 --points 5 --reason x", None, "CMREWARDS_PASSPHRASE"),  # asked again
        (f"staff passwd {RECORDER}", ADMIN, "CMREWARDS_NEW_PASSPHRASE"),
    ],
)
def test_a_secret_missing_without_a_terminal_is_one_usage_error_naming_both_variables(
    desk: Desk, command: str, who: str | None, variable: str
) -> None:
    """Newcomer finding 11: ``init`` and ``login`` said it differently, with different exit
    codes, and neither named both ways to give the secret."""
    desk.login(ADMIN)
    before = snapshot(desk.db)
    message = assert_error(desk.run(command, who), 2)["message"]
    assert f"set {variable}_FILE to an owner-only file" in message
    assert f"or {variable} to the passphrase itself; nothing was written" in message
    assert snapshot(desk.db) == before


def test_init_without_a_terminal_or_a_new_passphrase_is_the_same_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "fresh.db"
    monkeypatch.delenv("CMREWARDS_NEW_PASSPHRASE", raising=False)
    message = assert_error(invoke(db, f"init --admin {ADMIN}"), 2)["message"]
    assert message == (
        f"no new passphrase for {ADMIN}: type it at a terminal, or set"
        " CMREWARDS_NEW_PASSPHRASE_FILE to an owner-only file that holds it, or"
        " CMREWARDS_NEW_PASSPHRASE to the passphrase itself; nothing was written"
    )


def test_a_session_expires(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(dt.datetime.now(dt.UTC))
    opened = cmrewards.open

    def at_the_clock(*args: Any, **options: Any) -> cmrewards.Clinic:
        return opened(*args, clock=clock, **options)

    monkeypatch.setattr(cmrewards, "open", at_the_clock)
    session = desk.login(RECORDER)
    expires = dt.datetime.fromisoformat(session["expires_at"])
    assert expires - dt.datetime.fromisoformat(session["opened_at"]) == dt.timedelta(hours=8)
    clock.advance(hours=7, minutes=59)
    desk.ok("redeem request P-1001 GC10")
    clock.advance(minutes=1)
    message = desk.refused("redeem request P-1001 GC10")
    assert message == (
        f"{RECORDER}'s session expired at {expires:%Y-%m-%d %H:%M} UTC: sign in again with"
        " 'cmrewards login'"
    )


def copy_database(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as conn, sqlite3.connect(target) as copy:
        conn.backup(copy)


def test_a_token_from_another_database_or_os_user_is_refused(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.login(RECORDER)
    token_file = _session.session_file(os.path.realpath(desk.db))
    # At another OS user: the same file (a shared home, a copied file) is refused.
    with monkeypatch.context() as elsewhere:
        elsewhere.setattr(_session, "os_user", lambda: "someone-else")
        message = desk.refused("redeem request P-1001 GC10")
    assert f"opened by OS user '{pwd.getpwuid(os.getuid()).pw_name}'" in message
    assert "not 'someone-else'" in message
    # A copy of the database, with the token copied beside it: bound to the original's path.
    copy = tmp_path / "copy.db"
    copy_database(desk.db, copy)
    shutil.copy(token_file, _session.session_file(os.path.realpath(copy)))
    other = Desk(copy, monkeypatch)
    message = other.refused("redeem request P-1001 GC10")
    assert message.startswith("the session belongs to another database (")
    # Another clinic's database: the token is not among its sessions at all.
    fresh = Desk(tmp_path / "fresh.db", monkeypatch)
    fresh.ok(f"init --admin {ADMIN}", new=ADMIN)
    shutil.copy(token_file, _session.session_file(os.path.realpath(fresh.db)))
    message = fresh.refused(f"staff add {RECORDER} --role recorder")
    assert message.startswith("the session is not one of this database's")
    # The original still works.
    desk.ok("redeem request P-1001 GC10")


def test_a_session_file_others_can_read_is_refused(desk: Desk) -> None:
    desk.login(RECORDER)
    token_file = _session.session_file(os.path.realpath(desk.db))
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    token_file.chmod(0o644)
    message = desk.refused("redeem request P-1001 GC10")
    assert message.endswith("is not this OS user's alone; delete it and log in again")


def test_logout_ends_the_session(desk: Desk) -> None:
    desk.login(RECORDER)
    assert desk.ok("logout")["staff_id"] == RECORDER
    assert desk.refused("redeem request P-1001 GC10").startswith("nobody is signed in")
    assert desk.refused("logout").startswith("nobody is signed in to ")


def test_guessing_is_slowed_then_locked_out_journaled_and_reported(desk: Desk) -> None:
    desk.ok("logout")
    for _ in range(4):
        assert "more and they are locked out" in desk.refused_login(RECORDER)
    assert desk.refused_login(RECORDER).endswith("locked out for 15 minutes")
    message = assert_error(desk.run(f"login {RECORDER}", RECORDER), 1)["message"]
    assert message.startswith(f"{RECORDER} is locked out after 5 failed attempts until ")
    events = [(e["staff_id"], e["event"]) for e in desk.ok(f"sign-in log --staff {RECORDER}")]
    assert events[-6:] == [(RECORDER, "failed")] * 5 + [(RECORDER, "locked-out")]
    report = invoke(desk.db, "report", json_output=False).stdout
    assert f"{RECORDER:<22} 0 sign-ins, 5 failures, 1 lock-out" in report
    # An admin's new passphrase ends the lock-out.
    desk.login(ADMIN)
    desk.ok(f"staff passwd {RECORDER}", ADMIN, new="a brand new passphrase")
    assert desk.ok(f"login {RECORDER}", "a brand new passphrase")["staff_id"] == RECORDER


def test_the_sign_in_log_is_a_csv_like_every_other_list(desk: Desk) -> None:
    """Newcomer finding (session 6): README promised ``sign-in log --csv``, which did not
    exist. Its rows, as every list's: times in ISO 8601 with their offset."""
    desk.ok("logout")
    desk.refused_login(RECORDER)
    shown = invoke(desk.db, f"sign-in log --staff {RECORDER} --csv", json_output=False)
    assert shown.exit_code == 0, shown.output
    header, *rows = shown.stdout.splitlines()
    assert header == "at (UTC),staff,event,OS user,detail"
    at, staff, event, *_ = rows[-1].split(",")
    assert (staff, event) == (RECORDER, "failed")
    assert dt.datetime.fromisoformat(at).utcoffset() == dt.timedelta(0)


def test_a_service_account_signs_each_command_in_from_an_owner_only_file(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.ok("staff add lab-import --role recorder")
    secret = tmp_path / "lab-import.secret"
    secret.write_text(PASSPHRASES["lab-import"] + "\n", encoding="utf-8")
    secret.chmod(0o600)
    desk.ok("staff passwd lab-import", ADMIN, new="lab-import")
    desk.ok("logout")
    monkeypatch.setenv("CMREWARDS_PASSPHRASE_FILE", str(secret))
    desk.ok("expire --actor lab-import")
    desk.ok("redeem request P-1001 GC10 --actor lab-import")
    assert "a recorder may not adjust" in desk.refused(
        "adjust P-1001 --points 5 --reason x --actor lab-import"
    )
    secret.chmod(0o640)
    assert desk.refused("expire --actor lab-import").endswith(
        "can be read by others: make it owner-only (chmod 600)"
    )
    secret.chmod(0o600)
    secret.write_text("not the secret at all", encoding="utf-8")
    assert (
        "wrong passphrase for lab-import"
        in assert_error(desk.run("expire --actor lab-import"), 1)["message"]
    )


def test_a_service_account_acts_whoever_is_signed_in_here(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nightly job runs at an OS user where an admin is signed in: ``--actor`` with its
    own passphrase acts as the service account, and the admin's session is neither used
    nor touched. ``--actor`` with no passphrase is still only an assertion, refused."""
    desk.ok("staff add lab-import --role recorder")
    desk.ok("staff passwd lab-import", ADMIN, new="lab-import")
    session = _session.session_file(str(desk.db.resolve())).read_text(encoding="utf-8")
    admin_events = desk.ok(f"sign-in log --staff {ADMIN}")
    assert desk.refused("redeem request P-1001 GC10 --actor lab-import").startswith(
        f"--actor lab-import is not who is signed in here ({ADMIN})"
    )
    secret = tmp_path / "lab-import.secret"
    secret.write_text(PASSPHRASES["lab-import"] + "\n", encoding="utf-8")
    secret.chmod(0o600)
    monkeypatch.setenv("CMREWARDS_PASSPHRASE_FILE", str(secret))
    requested = desk.ok("redeem request P-1001 GC10 --actor lab-import")
    assert requested["redemption"]["requested_by"] == "lab-import"
    desk.ok("expire --actor lab-import")
    monkeypatch.delenv("CMREWARDS_PASSPHRASE_FILE")
    assert desk.ok(f"sign-in log --staff {ADMIN}") == admin_events
    assert _session.session_file(str(desk.db.resolve())).read_text(encoding="utf-8") == session
    # The session still acts as the admin, and only as the admin.
    assert desk.ok("redeem request P-1001 GC10")["redemption"]["requested_by"] == ADMIN


def wrong(desk: Desk, command: str) -> str:
    """A wrong passphrase given for ``command``: exit 1, one line; its message."""
    message: str = assert_error(desk.run(command, "a wrong guess"), 1)["message"]
    return message


def test_five_failures_in_a_row_lock_out_a_right_passphrase_between_ends_the_run(
    desk: Desk,
) -> None:
    """A sensitive act's confirmation, like a login, ends the run of failures (journaled
    as ``confirmed``); so does a service account's right passphrase."""
    desk.login(ADMIN)
    adjust = "adjust P-1001 --points 1 --reason x"
    for _ in range(4):
        assert "more and they are locked out" in wrong(desk, adjust)
    desk.ok(adjust, ADMIN)
    assert wrong(desk, adjust).endswith("(4 more and they are locked out)")
    events = [e["event"] for e in desk.ok(f"sign-in log --staff {ADMIN}")]
    assert events[-6:] == ["failed"] * 4 + ["confirmed", "failed"]
    desk.ok("staff add lab-import --role recorder")
    desk.ok("staff passwd lab-import", ADMIN, new="lab-import")
    desk.ok("logout")
    for _ in range(4):
        assert "more and they are" in wrong(desk, "expire --actor lab-import")
    desk.ok("expire --actor lab-import", "lab-import")
    assert wrong(desk, "expire --actor lab-import").endswith("(4 more and they are locked out)")
    # Locked out (README): refused even with its own passphrase, until an admin sets the
    # same secret again.
    for _ in range(4):
        wrong(desk, "expire --actor lab-import")
    locked = assert_error(desk.run("expire --actor lab-import", "lab-import"), 1)["message"]
    assert locked.startswith("lab-import is locked out after 5 failed attempts until ")
    desk.login(ADMIN)
    desk.ok("staff passwd lab-import", ADMIN, new="lab-import")
    desk.ok("expire --actor lab-import", "lab-import")


def test_a_database_from_before_sign_in_keeps_working_until_an_admin_turns_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "old.db"
    with cmrewards.open(db) as clinic:  # as an earlier version left it: staff, no passphrases
        clinic.init(ADMIN)
        clinic.add_staff(RECORDER, "recorder", actor=ADMIN)
    desk = Desk(db, monkeypatch)
    assert desk.ok("sign-in status")["policy"]["required"] is False
    desk.ok(f"program add --preset higgins-vbrt --timezone UTC --actor {ADMIN}")
    assert desk.refused(f"login {ADMIN}").startswith("sign-in is off for ")
    stored = desk.ok(f"sign-in on --session-hours 4 --attempts 3 --actor {ADMIN}", new=ADMIN)
    assert (stored["required"], stored["session_minutes"], stored["attempts"]) == (True, 240, 3)
    assert desk.refused(f"enroll P-1 --program higgins-vbrt --actor {ADMIN}").startswith(
        f"{ADMIN} is not signed in to "
    )
    desk.login(ADMIN)
    desk.ok("enroll P-1 --program higgins-vbrt")
    kinds = [e["event"] for e in desk.ok("sign-in log")]
    assert kinds == ["passphrase-set", "policy", "signed-in"]
    assert desk.ok("verify")["ok"] is True


def test_a_passphrase_is_typed_unechoed_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter(["the first one!", "the first one!", "the first one!"])
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(typed)

    monkeypatch.setattr(_session, "ask", ask)
    monkeypatch.setattr(_session, "_at_a_terminal", lambda: True)
    desk = Desk(tmp_path / "t.db", monkeypatch)
    desk.ok(f"init --admin {ADMIN}")
    desk.ok(f"login {ADMIN}")
    assert prompts == [
        f"new passphrase for {ADMIN} (8 or more characters): ",
        "the same again: ",
        f"passphrase for {ADMIN}: ",
    ]
    typed = iter(["the first one!", "one thing typed", "another typed"])  # the admin's again
    monkeypatch.setattr(_session, "ask", lambda prompt: next(typed))
    desk.ok(f"staff add {RECORDER} --role recorder")
    message = assert_error(desk.run(f"staff passwd {RECORDER}"), 2)["message"]
    assert message == "the two passphrases differ; nothing was written"


def test_no_secret_reaches_the_database_journal_export_output_or_command_line(
    desk: Desk, tmp_path: Path
) -> None:
    desk.login(RECORDER)
    desk.ok("redeem request P-1001 GC10")
    assert_error(desk.run("login clin-01", "a wrong guess"), 1)
    desk.login(CLIN)
    desk.ok("redeem approve 1", CLIN)
    desk.ok(f"staff passwd {CLIN}", CLIN, new="clinician one, changed")
    desk.login(ADMIN)
    desk.ok(f"export --out {tmp_path / 'export'}")
    token = json.loads(_session.session_file(os.path.realpath(desk.db)).read_text())["token"]
    secrets = [*PASSPHRASES.values(), "clinician one, changed", "a wrong guess", token]
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("clinic.db*") if path.is_file())
    exported = b"".join(p.read_bytes() for p in (tmp_path / "export").iterdir())
    printed = "".join(r.stdout + r.stderr for r in desk.results)
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret.encode() not in exported
        assert secret not in printed
    assert b"$argon2id$" in stored  # the hashes are there ...
    assert b"$argon2id$" not in exported  # ... and never exported
    journal = snapshot(desk.db)["journal"]
    assert {row[1] for row in journal} >= {"staff-secret", "sign-in"}
    assert desk.ok("verify")["ok"] is True


def every_option(group: click.Group) -> Iterator[click.Parameter]:
    for command in group.commands.values():
        if isinstance(command, click.Group):
            yield from every_option(command)
        else:
            yield from command.params


def test_no_command_takes_a_secret_on_its_command_line() -> None:
    names = {str(p.name) for p in every_option(cli)}
    assert "actor" in names
    assert not {n for n in names if any(w in n for w in ("pass", "secret", "token", "pin"))}


class CountedStore:
    """A store that counts the transactions opened through it, reads and writes."""

    def __init__(self, store: Any, opened: list[str]) -> None:
        self._store = store
        self._opened = opened
        self.location = store.location

    def read(self) -> Any:
        self._opened.append("read")
        return self._store.read()

    def write(self) -> Any:
        self._opened.append("write")
        return self._store.write()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_signed_in_write_checks_the_session_in_its_own_transaction(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: no read transaction before the write to learn the policy and the session;
    the write reads both itself, so a sign-out committed a moment before is refused by it."""
    opened: list[str] = []
    real_open = cmrewards.open

    def counted(*args: Any, **options: Any) -> cmrewards.Clinic:
        clinic = real_open(*args, **options)
        return cmrewards.Clinic(CountedStore(clinic._store, opened))

    desk.login(RECORDER)
    monkeypatch.setattr(cmrewards, "open", counted)
    desk.ok("redeem request P-1001 GC10")
    assert opened == ["write"]
    token = _session.token(os.path.realpath(desk.db))
    assert token is not None
    with real_open(desk.db) as elsewhere:  # another terminal signs the session out
        elsewhere.sign_out(token, os_user=_session.os_user())
    opened.clear()
    message = desk.refused("redeem request P-1001 GC10")
    assert message == f"{RECORDER}'s session was signed out: sign in again with 'cmrewards login'"
    assert opened == ["write"]
