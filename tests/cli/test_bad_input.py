"""Bad input thrown at every command of the staff CLI (docs/design.md section 7), by Hypothesis.

Every command and subcommand is found by walking ``cmrewards.cli.cli``, and each of its
click parameters gets a plausible value (``test_plausible_command_lines`` checks that
those lines are accepted). Hypothesis then spoils a line: values replaced by malformed
ones (empty, blank, huge, negative, fractional, unicode, 10,000 characters, impossible
dates, missing files, directories, binary garbage, values that look like options),
required options dropped, unknown options and extra arguments added, and the database
itself replaced by random bytes, a truncated copy, an empty file, a directory, or a
missing or impossible path.

Every run must end with exit 1, 2 or 3 (0 only where the spoiled value is in fact
acceptable, and never for a value that is always wrong), one ``cmrewards: ...`` line on
stderr, no traceback, with ``--json`` one JSON document holding the error, and a database
exactly as it was: every row of every table compared with sqlite3, the bytes of a damaged
file, and the directory listing of the run's working directory.

``CMREWARDS_FUZZ_EXAMPLES=5000 pytest tests/cli/test_bad_input.py`` makes a soak run.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import os
import random
import shlex
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmrewards
from cmrewards.cli import cli
from cmrewards.cli._shell import _asks_for_json
from support.cli import snapshot

cli.load_every_command()  # the command line imports each module on first use

EXAMPLES = int(os.environ.get("CMREWARDS_FUZZ_EXAMPLES", "300"))
"""Examples in the default run; raise it for a soak run."""

ADMIN = "admin-1"
RECORDER = "rec-01"
CLINICIAN = "clin-01"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)
"""Enrolment date of every participant: four weeks ago, so every visit below is past."""
DB = "clinic.db"
"""The database, relative to each run's working directory."""
LONG = "x" * 10_000
NO_SERVER = "postgresql://cm@/cmrewards?host=/nonexistent-socket-dir"
"""A PostgreSQL URL with no server behind it (the fuzz never reaches a server)."""


def at_day(day: int, hour: int = 9) -> str:
    """ISO time (UTC) ``day`` days after START."""
    return f"{START + dt.timedelta(days=day)}T{hour:02d}:30:00+00:00"


# --- the files every run finds in its working directory --------------------------------

PROGRAM_TOML = """\
id = "chi-attend"
name = "Attendance points at the Chicago clinic"
timezone = "America/Chicago"
point_value_cents = 10

[[targets]]
id = "attendance"
per_week = 2
schedule = { kind = "fixed", award = "points", amount = 5 }
"""
HEADER = "participant,target,outcome,at,key,note\n"
FILES: dict[str, bytes] = {
    "program.toml": PROGRAM_TOML.encode(),
    "bad-value.toml": PROGRAM_TOML.replace("amount = 5", 'amount = "five"').encode(),
    "utf16.toml": PROGRAM_TOML.encode("utf-16"),
    "outcomes.csv": (
        HEADER
        + f"P001,stimulant-negative,met,{at_day(12)},IMP-1,\n"
        + f"P001,stimulant-negative,met,{at_day(14)},IMP-2,\n"
    ).encode(),
    "bad-row.csv": (HEADER + f"P001,stimulant-negative,negative,{at_day(12)},IMP-9,\n").encode(),
    "wrong-header.csv": b"participant;target;outcome\nP001;stimulant-negative;met\n",
    "latin1.csv": (HEADER + f"P001,stimulant-negative,met,{at_day(12)},IMP-7,caf\xe9\n").encode(
        "latin-1"
    ),
    # A lab export's mapping: no [identity], so `listen` refuses it before it listens.
    "lab.toml": b'[columns]\nparticipant = "Patient"\nspecimen = "Specimen"\n'
    + b'collected = "Collected"\nanalyte = "Analyte"\nresult = "Result"\n',
    "garbage.bin": random.Random(20261127).randbytes(4096),
    "empty.txt": b"",
    "full-dir/readme.txt": b"not empty\n",
}
DIRECTORIES = ("somedir", "full-dir")


# --- running the CLI -------------------------------------------------------------------


def invoke(argv: Sequence[str], db_from_env: str | None = None) -> Result:
    """Run ``cmrewards ARGV`` as a fresh process would: a new ``contextvars.Context``."""
    runner = CliRunner()
    # A new passphrase comes from its non-terminal source (init, staff passwd, sign-in on).
    env = {"CMREWARDS_DB": db_from_env, "CMREWARDS_NEW_PASSPHRASE": "fuzz passphrase"}
    return contextvars.Context().run(runner.invoke, cli, list(argv), env=env, prog_name="cmrewards")


def ok(db: Path, command: str) -> Any:
    """Run one shell-like line that must succeed; its JSON document."""
    result = invoke(["--db", str(db), "--json", *shlex.split(command)])
    assert result.exit_code == 0, (command, result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


@contextmanager
def inside(directory: Path) -> Iterator[None]:
    """Run with ``directory`` as the working directory: relative paths land there."""
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def listing(directory: Path) -> list[tuple[str, bool, int]]:
    """Every path under ``directory`` (no SQLite -wal/-shm), whether a folder, its size."""
    found = []
    for path in directory.rglob("*"):
        if path.name.endswith(("-wal", "-shm")):
            continue
        is_dir = path.is_dir()
        found.append(
            (str(path.relative_to(directory)), is_dir, 0 if is_dir else path.stat().st_size)
        )
    return sorted(found)


def no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- values: plausible and malformed -----------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One command-line value, and what it may lead to when it is not plausible."""

    text: str
    codes: frozenset[int] = frozenset()
    """Exit codes this value may cause (empty for a plausible value)."""
    maybe_ok: bool = True
    """False when the value is wrong wherever it stands: exit 0 is then a bug."""
    spoiled: bool = False


def bad(codes: Iterable[int], *texts: str) -> list[Value]:
    """Values that must be refused with one of ``codes``."""
    return [Value(t, frozenset(codes), maybe_ok=False, spoiled=True) for t in texts]


def odd(codes: Iterable[int], *texts: str) -> list[Value]:
    """Strange values that may be accepted; if not, one of ``codes``."""
    return [Value(t, frozenset(codes), maybe_ok=True, spoiled=True) for t in texts]


BLANK = ("", " ", "\t", " \u00a0 ")
UNICODE = (
    "😀",
    "P001😀",
    "\u202eP001",  # right-to-left override
    "\u200fP001",  # right-to-left mark
    "P\u0301001",  # combining acute accent
    "Ｐ００１",  # full-width letters and digits
    "İd",
    "ß",
)
CONTROL = ("\u0007bell", "\x1b[31mP001", "a\nb", "a\rb", "a\x1fb")
LINE_BREAKS = ("a\u2028b", "a\x85b", "a\x7fb")
"""Not C0 controls: one-line text may hold them (an id may not)."""
SPACED = ("P 001", " P001", "P001 ", "Jane Doe")
OPTION_LIKE = ("--actor", "--json", "--colour", "-x", "--", "--db=elsewhere.db")
HUGE = (str(10**30), str(-(10**30)), str(2**63), str(-(2**63) - 1))
EDGE = (str(2**63 - 1), str(-(2**63)), str(2**31))
NOT_A_NUMBER = ("", " ", "ten", "1.5", "1e3", "0x10", "½", "1,000", "--1", "5-", "0.0", "NaN")
ODD_NUMBERS = ("٣", "1_000", " 7 ", "+7", "007")
INVALID_DATES = (
    "2027-02-30",
    "0000-01-01",
    "9999-12-31T23:59-14:00",
    "yesterday",
    "",
    " ",
    "2026-13-01",
    "2026-00-10",
    "9999-12-31",
    "1969-12-31",
    "0001-01-01",
    "2026/11/27",
    "27.11.2026",
    f"{START}T10:00",
    "😀",
    LONG,
)
INVALID_TIMES = (
    "2027-02-30",
    "0000-01-01",
    "9999-12-31T23:59-14:00",
    "0001-01-01T00:00+14:00",
    "yesterday",
    "now",
    "",
    " ",
    "T09:30",
    f"{START + dt.timedelta(days=10)}T25:00",
    f"{START + dt.timedelta(days=10)}T09:60",
    f"{START + dt.timedelta(days=10)}T09:30+24:00",
    "9999-12-31",
    "1969-12-31",
    "2999-01-01",
    str(TODAY + dt.timedelta(days=3)),
    str(START - dt.timedelta(days=1)),
    "2026-13-01",
    "@1700000000",
    "😀",
    LONG,
)


@dataclass(frozen=True)
class Ints:
    """Which numbers an integer option takes, beyond what its type checks."""

    negative: bool = False
    zero: bool = True
    huge: bool = False
    codes: frozenset[int] = frozenset({2})


AMOUNT = Ints()
ROW_ID = Ints(zero=False, codes=frozenset({1, 2}))
"""Ids of transfers, redemptions and prizes: an impossible one is not found (or invalid)."""
KIND: dict[str, str | Ints] = {
    "participant": "id",
    "staff_id": "id",
    "actor": "id",
    "admin": "id",
    "sku": "id",
    "category": "id",
    "program_id": "id",
    "target": "id",
    "give": "id",
    "get_": "id",
    "key": "key",
    "name": "text",
    "reason": "text",
    "note": "note",
    "cost": AMOUNT,
    "stock": AMOUNT,
    "low_stock": AMOUNT,
    "cost_cents": AMOUNT,
    "cost_dollars": "dollars",
    "quantity": AMOUNT,
    "points": Ints(negative=True, zero=False, codes=frozenset({1, 2})),
    "transfer_id": ROW_ID,
    "outcome_id": ROW_ID,
    "visit": "note",
    "specimen": "note",
    "met": "id",
    "not_met": "id",
    "missed": "id",
    "excused": "id",
    "invalid": "id",
    "redemption_id": ROW_ID,
    "prize_id": ROW_ID,
    "chunk_size": Ints(zero=False),
    "participants": Ints(zero=False),
    "seed": Ints(negative=True, huge=True),
    "p_met": "probability",
    "persistence": "persistence",
    "start": "date",
    "since": "date",
    "until": "date",
    "at": "time",
    "file_path": "toml",
    "map_file": "toml",
    "csv_file": "csv",
    "html_file": "html",
    "out": "out",
    "demo_db": "demo-db",
    "source_file": "migrate-from",
    "server_url": "migrate-to",
    "outcome": "choice",
    "role": "choice",
    "preset_name": "preset",
    "timezone": "timezone",
    "returned": "flag",
    "json": "flag",
    "csv": "flag",
    "yes": "flag",
    "owed": "flag",
    "state": "choice",
    "over_cap": "flag",
    "against": "checkpoint",
    "through": "date",
    "on": "date",
    "day": "day",
    "close_after": "flag",
    "backup_file": "new-file",
    "restored_file": "new-file",
    "database_role": "pg-name",
    "schema": "pg-name",
    "no_sign_in": "flag",
    "confirm_sensitive": "flag",
    "session_hours": Ints(zero=False),
    "attempts": Ints(zero=False),
    "lockout_minutes": Ints(zero=False),
    "host": "note",
    "port": Ints(),
}
"""What each parameter holds; a new parameter must be added here (the walk checks)."""

PLAUSIBLE: dict[str, str] = {
    "participant": "P001",
    "staff_id": "rec-02",
    "actor": ADMIN,
    "admin": "admin-2",
    "sku": "GC10",
    "category": "small",
    "program_id": "higgins-vbrt",
    "target": "stimulant-negative",
    "give": "small",
    "get_": "large",
    "key": "LAB-0100",
    "name": "Clinic mug",
    "reason": "typo at the front desk",
    "note": "card ending 4417",
    "cost": "15",
    "stock": "4",
    "low_stock": "1",
    # --cost-cents is the older spelling of --cost: plausible lines give only --cost.
    "cost_dollars": "12.50",
    "quantity": "2",
    "points": "5",
    "transfer_id": "1",
    "outcome_id": "1",
    "visit": "V-10",
    "specimen": "ACC-0100",
    "met": "stimulant-negative",
    "not_met": "stimulant-negative",
    "missed": "stimulant-negative",
    "excused": "stimulant-negative",
    "invalid": "stimulant-negative",
    "redemption_id": "1",
    "prize_id": "1",
    "chunk_size": "100",
    "participants": "5",
    "seed": "7",
    "p_met": "0.5",
    "persistence": "0.2",
    "start": str(START),
    "since": str(START),
    "until": str(TODAY),
    "at": at_day(10),
    "file_path": "program.toml",
    "csv_file": "outcomes.csv",
    "html_file": "statement.html",
    "out": "export",
    "demo_db": "demo.db",
    "source_file": DB,
    "backup_file": "backup.db",
    "restored_file": "restored.db",
    "database_role": "cm_desk1",
    "schema": "clinic_north",
    "server_url": NO_SERVER,
    "outcome": "met",
    "state": "requested",
    "role": "recorder",
    "preset_name": "va-prize-cm",
    "timezone": "America/Chicago",
    "through": str(TODAY - dt.timedelta(days=1)),
    "on": str(TODAY),  # the day an episode ends: today is after every result
    "session_hours": "8",
    "attempts": "5",
    "lockout_minutes": "15",
    "day": str(START + dt.timedelta(days=10)),  # week 2: nothing recorded, every sample owed
    # Every database extends the checkpoint of an empty one.
    "against": "cmrewards-checkpoint/1 2026-01-01T00:00:00Z"
    + "".join(f" {chain}=0:{'0' * 16}" for chain in ("outcomes", "transfers", "journal"))
    + " digest="
    + hashlib.sha256(
        json.dumps(
            {
                "at": "2026-01-01T00:00:00.000000Z",
                "chains": {c: [0, "0" * 64] for c in ("outcomes", "transfers", "journal")},
                "checkpoint": 1,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest(),
}
"""A value each parameter accepts on the template database (flags stay off)."""
PLAUSIBLE_FOR: dict[tuple[tuple[str, ...], str], str] = {
    (("staff", "deactivate"), "staff_id"): RECORDER,
    (("staff", "passwd"), "staff_id"): RECORDER,
    (("sign-in", "log"), "staff_id"): RECORDER,
    (("catalog", "add"), "sku"): "MUG",
    (("enroll",), "participant"): "P010",
    (("prize", "list"), "participant"): "P002",
    (("prize", "trade"), "participant"): "P002",
    (("prize", "fulfil"), "sku"): "BIG",
    (("redeem", "fulfil"), "redemption_id"): "2",
    (("program", "add"), "program_id"): "va-chicago",
    (("listen",), "map_file"): "lab.toml",
    # Outcome 1 is P001's met on day 1: correcting it takes back what P001 has and writes
    # off the rest (held by redemptions).
    (("correct",), "outcome"): "not_met",
}

READ_ONLY = {
    ("presets",),
    ("checkpoint",),
    ("staff", "list"),
    ("program", "list"),
    ("program", "show"),
    ("participant", "list"),
    ("participant", "show"),
    ("balance",),
    ("preview",),
    ("history",),
    ("results",),
    ("catalog", "list"),
    ("redeem", "list"),
    ("prize", "list"),
    ("report",),
    ("statement",),
    ("export",),
    ("verify",),
    ("simulate",),
    ("demo",),
    ("migrate",),
    ("backup",),
    ("restore",),
    ("postgres-grants",),
    ("sign-in", "status"),
    ("sign-in", "log"),
}
"""Commands that never write to the database (export, statement, demo, backup and restore
write elsewhere; migrate reads the file given with --from and writes only to a server)."""
WRITES = {
    ("init",),
    ("staff", "add"),
    ("staff", "deactivate"),
    ("program", "add"),
    ("enroll",),
    ("withdraw",),
    ("complete",),
    ("record",),
    ("correct",),
    ("void",),
    ("import",),
    ("adjust",),
    ("reverse",),
    ("catalog", "add"),
    ("catalog", "restock"),
    ("redeem", "request"),
    ("redeem", "approve"),
    ("redeem", "fulfil"),
    ("redeem", "cancel"),
    ("expire",),
    ("prize", "fulfil"),
    ("prize", "trade"),
    ("close",),
    ("excuse",),
    ("login",),
    ("logout",),
    ("staff", "passwd"),
    ("sign-in", "on"),
    ("sign-in", "off"),
    ("listen",),
}
BASELINE = {
    ("init",): 1,
    ("prize", "trade"): 1,
    ("migrate",): 3,
    ("login",): 1,
    ("logout",): 1,
    ("listen",): 2,
}
"""Exit codes of the plausible lines that are refused (init again; no five small prizes;
no PostgreSQL server to migrate to: the fuzz runs without one; no login while the
template's sign-in is off, so nobody to log out; listen would serve until stopped, so its
mapping is a lab export's, without the [identity] HL7 needs, and every line is refused
before it listens: tests/cli/test_cli_listen.py runs it as a process)."""
EXCLUSIVE = {
    ("program", "add"): ("preset_name", "file_path"),
    ("simulate",): ("program_id", "preset_name"),
    ("record",): ("target", "met"),
}
"""Pairs of options of which exactly one must be given."""
WITH_CHOICE: dict[tuple[str, ...], dict[str, tuple[set[str], set[str]]]] = {
    # record P --target T --outcome O [--specimen S], or record P --met T ...: a plausible
    # line is one form or the other, one result per target.
    ("record",): {
        "target": ({"outcome"}, {"not_met", "missed", "excused", "invalid"}),
        "met": (set(), {"outcome", "specimen", "not_met", "missed", "excused", "invalid"}),
    },
    # A preset in UTC only by default needs the clinic's zone (a program file names one).
    ("program", "add"): {"preset_name": ({"timezone"}, set())},
}
"""For a choice of an exclusive pair: the options it needs, and those it rules out."""
ALWAYS = {("demo",): "demo_db"}
"""Optional parameters every plausible line gives (a demo without --db would use clinic.db)."""
FLAGS_GIVEN = {"yes": "--yes"}
"""Flags every plausible line gives: a destructive command run without a terminal must say
``--yes`` (tests/cli/test_cli_front_desk.py runs it without)."""


def malformed(kind: str | Ints, param: click.Parameter) -> list[Value]:
    """The catalogue of wrong values for one kind of parameter."""
    if isinstance(kind, Ints):
        values = bad({2}, *NOT_A_NUMBER) + odd({1, 2}, *ODD_NUMBERS, *EDGE)
        values += (odd if kind.huge else bad)(kind.codes | {2}, *HUGE)
        values += (odd if kind.negative else bad)(kind.codes | {1}, "-1", "-5")
        values += (odd if kind.zero else bad)(kind.codes | {1}, "0", "-0")
        return values
    if kind == "id":
        return bad(
            {1, 2},
            *BLANK,
            *UNICODE,
            *CONTROL,
            *LINE_BREAKS,
            *SPACED,
            *OPTION_LIKE,
            LONG,
            "P" * 65,
            ".P001",
            "P001/../x",
            "*",
            "'; DROP TABLE staff; --",
        )
    if kind in ("text", "note", "key"):
        values = bad({2}, *CONTROL, LONG, "é" * 501)
        values += (odd if kind == "note" else bad)({2}, *BLANK)
        return values + odd({1, 2}, *UNICODE, *SPACED, *OPTION_LIKE, *LINE_BREAKS, "é" * 500)
    if kind == "probability":
        return bad({2}, *NOT_A_NUMBER, *HUGE, "inf", "-inf", "1e309", "-0.1", "1.5", "2") + odd(
            {2}, "1", "0", "-0", ".5", "1e-300", "٠.٥"
        )
    if kind == "persistence":
        return bad({2}, *NOT_A_NUMBER, *HUGE, "inf", "1e309", "-0.1", "1", "1.0") + odd(
            {2}, "0", ".5", "0.999999", "1e-300"
        )
    if kind == "date":
        return bad({2}, *INVALID_DATES) + odd(
            {2}, "20261127", "2026-W48-5", f" {START} ", "1970-01-01", "2999-12-31"
        )
    if kind == "day":
        # An excused day: a real day of the enrolment may be refused by a rule (its week is
        # full); one before the enrolment or to come never is accepted.
        return (
            bad({2}, *INVALID_DATES, "1970-01-01", "2999-12-31")
            + bad({2}, str(START - dt.timedelta(days=1)), str(TODAY + dt.timedelta(days=2)))
            + odd({1, 2}, "20261127", "2026-W48-5", f" {START} ")
        )
    if kind == "time":
        return bad({1, 2}, *INVALID_TIMES) + odd(
            {1, 2}, (START + dt.timedelta(days=10)).strftime("%Y%m%dT0930Z"), f"{START}"
        )
    if kind == "toml":
        return bad(
            {2},
            "no-such-file.toml",
            "somedir",
            "garbage.bin",
            "empty.txt",
            "",
            " ",
            LONG,
            DB,
            "program.toml/x",
            "utf16.toml",
            "bad-value.toml",
            "outcomes.csv",
            "/dev/null",
            "/",
            "😀.toml",
        )
    if kind == "csv":
        return bad(
            {2},
            "no-such-file.csv",
            "somedir",
            "garbage.bin",
            "empty.txt",
            "",
            LONG,
            DB,
            "outcomes.csv/x",
            "latin1.csv",
            "wrong-header.csv",
            "program.toml",
            "/dev/null",
            "/",
        ) + bad({1, 2}, "bad-row.csv")
    if kind == "html":
        return bad(
            {2}, "somedir", "full-dir", LONG, "no-such-dir/s.html", "program.toml/x.html"
        ) + odd({1, 2}, "", "garbage.bin", "😀.html", "/dev/null", " ", DB)
    if kind == "out":
        return bad(
            {1, 2}, DB, "full-dir", "", ".", LONG, "garbage.bin", "program.toml/x", "/dev/null"
        ) + odd({1, 2}, "somedir", "new/deep/dir", "😀-export", " ")
    if kind == "checkpoint":
        return bad(
            {2},
            "no-such-file",
            "somedir",
            "garbage.bin",
            "empty.txt",
            "",
            " ",
            LONG,
            DB,
            "/dev/null",
            "/",
            "program.toml",
            "cmrewards-checkpoint/1 junk",
            "{",
            "{}",
        )
    if kind in ("demo-db", "new-file"):
        # DB exists in the template's folder, so a demo (a backup, a restore) may not build
        # there; in the modes that take the database away ("dot", "missing") it is a fresh
        # file and may.
        return bad({1, 2, 3}, "somedir", "", ".", LONG, "no-such-dir/demo.db", "garbage.bin") + odd(
            {1, 2, 3}, DB, "😀.db", " "
        )
    if kind == "migrate-from":
        return bad(
            {1, 2, 3}, "no-such.db", "somedir", "", LONG, "garbage.bin", "empty.txt", NO_SERVER
        ) + odd({1, 2, 3}, "😀.db", " ")
    if kind == "migrate-to":
        return bad(
            {2, 3},
            *BLANK,
            DB,
            LONG,
            "postgresql://host/db?nonsense=1",
            "postgresql://[::1",
            "postgres://",
            "mysql://host/db",
            "😀",
        )
    if kind == "pg-name":
        return bad(
            {2}, *BLANK, "Desk", "desk; DROP TABLE staff", "1desk", "x" * 64, "😀", LONG, "--json"
        )
    if kind == "choice":
        assert isinstance(param.type, click.Choice)
        choice = str(param.type.choices[0])
        return bad(
            {2},
            *BLANK,
            choice.upper(),
            f"{choice} ",
            f" {choice}",
            "negative",
            "😀",
            LONG,
            "--json",
        )
    if kind == "preset":
        return bad(
            {1, 2},
            *BLANK,
            "no-such",
            "HIGGINS-VBRT",
            "higgins-vbrt ",
            "../presets/higgins-vbrt",
            "higgins-vbrt.toml",
            "../../cli/_shell",
            LONG,
            "😀",
            "--actor",
        )
    if kind == "timezone":
        return bad(
            {2},
            *BLANK,
            "Mars/Olympus",
            "America/Chicago ",
            "america/chicago",
            "UTC+5",
            "../../etc/passwd",
            "/etc/localtime",
            "Etc/GMT+99",
            LONG,
            "😀",
            "--actor",
        ) + odd({2}, "Etc/UTC", "UTC")
    if kind == "flag":
        flag = next(o for o in param.opts if o.startswith("--"))
        return bad({2}, f"{flag}=yes", f"{flag}=", f"{flag}=1")
    if kind == "dollars":
        return bad(
            {2},
            *BLANK,
            "ten",
            "1.555",
            "-5",
            "$-1",
            "1e3",
            "0x10",
            "½",
            "٣",
            "+7",
            *HUGE,
            LONG,
            "--json",
        ) + odd({2}, "1,000", "007", "$12", "12.5", "0")
    raise AssertionError(f"no malformed values for kind {kind!r}")


def random_values(slot: Slot) -> st.SearchStrategy[Value]:
    """Whatever Hypothesis makes up: text without NUL or surrogates, any number."""
    kind = slot.kind
    if kind == "flag":
        return st.sampled_from(slot.malformed)
    text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
    made: st.SearchStrategy[str] = text
    if isinstance(kind, Ints):
        made = st.one_of(st.integers().map(str), text)
    elif kind in ("probability", "persistence"):
        made = st.one_of(st.floats().map(repr), st.integers().map(str), text)
    return made.map(lambda t: Value(t, frozenset({1, 2}), maybe_ok=True, spoiled=True))


# --- the commands ------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One parameter of one command."""

    name: str
    positional: bool
    required: bool
    option: str
    is_flag: bool
    kind: str | Ints
    plausible: str | None
    malformed: tuple[Value, ...]


@dataclass(frozen=True)
class Spec:
    """One command (or group) and what it takes."""

    path: tuple[str, ...]
    slots: tuple[Slot, ...]
    group: bool = False

    def slot(self, name: str) -> Slot:
        return next(s for s in self.slots if s.name == name)


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[Spec]:
    """Every group and command under ``group``, depth first."""
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield Spec(path, (), group=True)
            yield from walk(command, path)
        else:
            yield Spec(path, tuple(slot_of(path, p) for p in command.params))


def slot_of(path: tuple[str, ...], param: click.Parameter) -> Slot:
    assert param.name is not None
    name = param.name
    assert name in KIND, f"{' '.join(path)}: parameter {name!r} needs a kind in KIND"
    kind = KIND[name]
    is_flag = isinstance(param, click.Option) and param.is_flag
    plausible = (
        FLAGS_GIVEN.get(name) if is_flag else PLAUSIBLE_FOR.get((path, name), PLAUSIBLE.get(name))
    )
    # --actor is required while a database's sign-in is off, as the template's is; with it
    # on, the signed-in member acts (tests/cli/test_cli_sign_in.py).
    required = param.required or name == "actor"
    if required:
        assert plausible is not None, f"{' '.join(path)}: {name!r} needs a plausible value"
    long_options = [o for o in param.opts if o.startswith("--")]
    return Slot(
        name=name,
        positional=isinstance(param, click.Argument),
        required=required,
        option=long_options[0] if long_options else name,
        is_flag=is_flag,
        kind=kind,
        plausible=plausible,
        malformed=tuple(malformed(kind, param)),
    )


SPECS = list(walk(cli))
COMMANDS = [s for s in SPECS if not s.group]


# --- one run: a command line, a database, and what may come of it --------------------------


MODES = ("template", "random-bytes", "truncated", "empty", "directory", "missing", "long", "dot")
MODE_CODES = {
    "random-bytes": frozenset({3}),
    "truncated": frozenset({3}),
    "empty": frozenset({1, 3}),
    "directory": frozenset({2, 3}),
    "missing": frozenset({1}),
    "long": frozenset({2, 3}),
    "dot": frozenset({2, 3}),
}
"""What a command that needs the database must exit with when it is damaged or absent:
an empty file is not a cmrewards database (3) or no database yet (1), never a new one."""
INIT_CODES = {"template": frozenset({1}), "missing": frozenset({0}), "empty": frozenset({0, 3})}
"""``init`` creates the database where none is: at a missing path or in an empty file."""


@dataclass(frozen=True)
class Run:
    """A command line against one state of the database, and the exit codes it may have."""

    path: tuple[str, ...]
    args: tuple[str, ...]
    json_output: bool = True
    json_first: bool = False
    mode: str = "template"
    damage: bytes | int | None = None
    codes: frozenset[int] = frozenset({1, 2, 3})
    writes: bool = False
    via_env: bool = False
    """Name the database in CMREWARDS_DB rather than with --db."""
    why: tuple[str, ...] = field(default=(), compare=False)

    @property
    def db_argument(self) -> str:
        return {"long": LONG, "dot": ""}.get(self.mode, DB)

    def argv(self) -> list[str]:
        top = [] if self.via_env else ["--db", self.db_argument]
        top = (
            (["--json", *top] if self.json_first else [*top, "--json"]) if self.json_output else top
        )
        return [*top, *self.path, *self.args]

    def __repr__(self) -> str:
        def show(t: str) -> str:
            return f"{t[0]!r} * {len(t)}" if len(t) > 60 and len(set(t)) == 1 else repr(t)

        shown = [show(t) for t in self.argv()]
        shown_db = show(self.db_argument)
        damage = ""
        if self.mode == "random-bytes":
            assert isinstance(self.damage, bytes)
            damage = f" on {len(self.damage)} random bytes {self.damage[:16]!r}..."
        elif self.mode == "truncated":
            damage = f" on the template cut to {self.damage!r} bytes"
        elif self.mode != "template":
            damage = f" with the database {self.mode}"
        env = f"CMREWARDS_DB={shown_db} " if self.via_env else ""
        return (
            f"{env}cmrewards [{', '.join(shown)}]{damage}; may exit {sorted(self.codes)}"
            f" ({'; '.join(self.why)})"
        )


def needs_db(spec: Spec, values: dict[str, Value]) -> bool:
    """Whether the command opens the database (a group alone, presets, demo and
    postgres-grants never do)."""
    # migrate and restore open no --db, but their plausible --from is the same file.
    if spec.group or spec.path in {("presets",), ("demo",), ("postgres-grants",)}:
        return False
    return not (spec.path == ("simulate",) and "program_id" not in values)


def render(spec: Spec, values: dict[str, Value], equals: bool, options_first: bool) -> list[str]:
    positionals = [values[s.name].text for s in spec.slots if s.positional and s.name in values]
    options: list[str] = []
    for s in spec.slots:
        if s.positional or s.name not in values:
            continue
        text = values[s.name].text
        if s.is_flag:
            options.append(text)
        elif equals:
            options.append(f"{s.option}={text}")
        else:
            options += [s.option, text]
    if options_first:
        # After "--" every word is an argument, even one that looks like an option.
        return [*options, *(["--"] if positionals else []), *positionals]
    return [*positionals, *options]


def plausible_values(spec: Spec, optional: Iterable[str], choose: str | None) -> dict[str, Value]:
    """The plausible fill: required slots, the ``optional`` ones, one of an exclusive pair."""
    wanted = set(optional)
    pair = EXCLUSIVE.get(spec.path)
    if pair:
        wanted -= set(pair)
        wanted.add(choose or pair[0])
        needs, rules_out = WITH_CHOICE.get(spec.path, {}).get(choose or pair[0], (set(), set()))
        wanted = (wanted | needs) - rules_out
    if spec.path in ALWAYS:
        wanted.add(ALWAYS[spec.path])
    wanted |= set(FLAGS_GIVEN)
    return {
        s.name: Value(s.plausible)
        for s in spec.slots
        if s.plausible is not None and (s.required or s.name in wanted)
    }


MUTATIONS = ("replace", "replace", "replace", "replace", "drop", "unknown-option", "extra-argument")


@st.composite
def runs(draw: st.DrawFn) -> Run:
    spec = draw(st.sampled_from(SPECS))
    optional = [s.name for s in spec.slots if not s.required and s.plausible is not None]
    pair = EXCLUSIVE.get(spec.path)
    values = plausible_values(
        spec,
        draw(st.lists(st.sampled_from(optional), unique=True)) if optional else [],
        draw(st.sampled_from(pair)) if pair else None,
    )
    mode = draw(st.sampled_from(("template",) * 7 + MODES[1:]))
    damage: bytes | int | None = None
    if mode == "random-bytes":
        damage = draw(st.binary(min_size=1, max_size=8192))
    elif mode == "truncated":
        damage = draw(st.integers(min_value=1, max_value=2**18))

    kinds = [m for m in MUTATIONS if m != "replace" or spec.slots]
    kinds = [m for m in kinds if m != "drop" or any(s.required for s in spec.slots)]
    if pair:
        kinds += ["exclusive-both", "exclusive-neither"]
    count = draw(st.integers(1 if mode == "template" else 0, 3))
    extra: list[str] = []
    why: list[str] = []
    codes: set[int] = set()
    maybe_ok = True
    for _ in range(count):
        kind = draw(st.sampled_from(kinds))
        if kind == "replace":
            slot = draw(st.sampled_from(spec.slots))
            values[slot.name] = draw(
                st.one_of(st.sampled_from(slot.malformed), random_values(slot))
            )
        elif kind == "drop":
            slot = draw(st.sampled_from([s for s in spec.slots if s.required]))
            values.pop(slot.name, None)
        elif kind == "unknown-option":
            extra.append(draw(st.sampled_from(["--colour", "--colour=red", "-z"])))
        elif kind == "extra-argument":
            # Never a valid value: it may take the place of a dropped argument.
            extra.append(draw(st.sampled_from(["Jane Doe", "two words", "1 2"])))
        elif kind == "exclusive-both":
            assert pair is not None
            values.update({name: Value(str(spec.slot(name).plausible)) for name in pair})
        elif kind == "exclusive-neither":
            assert pair is not None
            for name in pair:
                values.pop(name, None)

    for name, value in values.items():
        if value.spoiled:
            codes |= value.codes
            maybe_ok = maybe_ok and value.maybe_ok
            why.append(f"{name}: {'may be acceptable' if value.maybe_ok else 'always wrong'}")
    missing = [s.name for s in spec.slots if s.required and s.name not in values]
    chosen = sum(n in values for n in pair) if pair else 1
    # record with neither --target nor --met takes the program's one target (the template's
    # programs have one) when --outcome is given, and is a usage error when it is not.
    one_target = spec.path == ("record",) and chosen == 0 and not (missing or extra)
    if missing or extra or spec.group or chosen != 1:
        codes.add(2)
        maybe_ok = maybe_ok and one_target
        why.append("the program's one target, or a usage error" if one_target else "usage error")
    if extra and any(s.positional for s in spec.slots if s.name in missing):
        codes.add(1)  # the extra argument stands where the dropped one was: not found

    if spec.path == ("init",) and mode in INIT_CODES:
        baseline = INIT_CODES[mode]
    elif mode != "template" and needs_db(spec, values):
        # migrate and restore read their --from file (here the database's own, removed in
        # these modes), never --db: an over-long --db is not what they refuse. An empty --db
        # is refused before any command runs (a usage error), migrate's included.
        from_file = spec.path in {("migrate",), ("restore",)}
        reads = "missing" if from_file and mode == "long" else mode
        baseline = MODE_CODES[reads]
        why.append(f"database {reads}")
    elif mode == "dot":
        baseline = frozenset({2})  # even a command that opens no database refuses --db ''
        why.append("empty --db")
    else:
        baseline = frozenset({BASELINE.get(spec.path, 0)})
    codes |= baseline - {0}
    if maybe_ok and 0 in baseline:
        codes.add(0)

    args = render(spec, values, draw(st.booleans()), draw(st.booleans())) + extra
    return Run(
        path=spec.path,
        args=tuple(args),
        json_output=draw(st.booleans()),
        json_first=draw(st.booleans()),
        mode=mode,
        damage=damage,
        codes=frozenset(codes),
        writes=spec.path in WRITES,
        via_env=mode != "dot" and draw(st.booleans()),  # an empty CMREWARDS_DB is unset
        why=tuple(why),
    )


# --- the template database ------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with the clinic and the support files, built once.

    Staff admin-1, rec-01, clin-01; programs higgins-vbrt and petry-fishbowl. P001
    (Higgins) has three negatives (transfers 1-3, 85 points) and two GC10 redemptions:
    1 requested, 2 approved. P002 (Petry) owes prize 1 (large). P003 is withdrawn.
    Catalog: GC10 (20 points, 3 units), BIG (large prize, 2), TOY (small prize, 2).
    """
    folder = tmp_path_factory.mktemp("template")
    db = folder / DB
    for line in (
        f"init --admin {ADMIN} --no-sign-in",
        f"staff add {RECORDER} --role recorder --actor {ADMIN}",
        f"staff add {CLINICIAN} --role clinician --actor {ADMIN}",
        f"program add --preset higgins-vbrt --timezone UTC --actor {ADMIN}",
        f"program add --preset petry-fishbowl --timezone UTC --actor {ADMIN}",
        f"enroll P001 --program higgins-vbrt --start {START} --actor {ADMIN}",
        f"enroll P002 --program petry-fishbowl --start {START} --actor {ADMIN}",
        f"enroll P003 --program higgins-vbrt --start {START} --actor {ADMIN}",
        *(
            f"record P001 --target stimulant-negative --outcome met --at {at_day(day)}"
            f" --key LAB-{day} --actor {RECORDER}"
            for day in (1, 3, 5)
        ),
    ):
        ok(db, line)
    with cmrewards.open(db, seeds=iter(range(1, 1000)).__next__) as clinic:
        for day in (1, 3, 5, 8):
            when = dt.datetime.fromisoformat(at_day(day))
            clinic.record("P002", "stimulant-negative", "met", at=when, actor=RECORDER)
    assert [(p["id"], p["category"]) for p in ok(db, "prize list P002")] == [(1, "large")]
    for line in (
        f"catalog add GC10 --name '$10 card' --cost 20 --stock 3 --actor {ADMIN}",
        f"catalog add BIG --name 'large prize' --cost 0 --stock 2 --category large --actor {ADMIN}",
        f"catalog add TOY --name 'small prize' --cost 0 --stock 2 --category small --actor {ADMIN}",
        f"redeem request P001 GC10 --actor {RECORDER}",
        f"redeem request P001 GC10 --actor {RECORDER}",
        f"redeem approve 2 --actor {CLINICIAN}",
        f"withdraw P003 --actor {ADMIN} --yes",
    ):
        ok(db, line)
    assert ok(db, "balance P001")["available_points"] == 45
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    for name in DIRECTORIES:
        (folder / name).mkdir(exist_ok=True)
    return folder


@contextmanager
def workdir(template: Path, run: Run) -> Iterator[Path]:
    """A fresh copy of the template, with the database as ``run.mode`` says."""
    scratch = Path(tempfile.mkdtemp(prefix="cmrewards-fuzz-"))
    folder = scratch / "clinic"
    shutil.copytree(template, folder)
    db = folder / DB
    if run.mode == "random-bytes":
        assert isinstance(run.damage, bytes)
        db.write_bytes(run.damage)
    elif run.mode == "truncated":
        assert isinstance(run.damage, int)
        data = db.read_bytes()
        db.write_bytes(data[: min(run.damage, len(data) - 1)])
    elif run.mode == "empty":
        db.write_bytes(b"")
    elif run.mode == "directory":
        db.unlink()
        db.mkdir()
    elif run.mode in ("missing", "long", "dot"):
        db.unlink()
    try:
        yield folder
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def database_state(folder: Path, mode: str) -> Any:
    """What must not change: every row, or the damaged file's bytes, or its absence."""
    db = folder / DB
    if mode == "template":
        try:
            return snapshot(db)
        except sqlite3.DatabaseError as error:
            return ("no longer a database", str(error), db.read_bytes()[:40])
    if db.is_dir():
        return ("directory", sorted(p.name for p in db.iterdir()))
    if db.exists():
        data = db.read_bytes()
        return ("file", len(data), hashlib.sha256(data).hexdigest())
    return ("absent",)


# --- the checks --------------------------------------------------------------------------------


def check(template: Path, run: Run) -> None:
    """Run one command line and hold it to the contract of docs/design.md section 7."""
    with workdir(template, run) as folder:
        before = database_state(folder, run.mode)
        files_before = listing(folder)
        with inside(folder):
            result = invoke(run.argv(), run.db_argument if run.via_env else None)
        after = database_state(folder, run.mode)
        files_after = listing(folder)
    code = result.exit_code
    seen = (
        f"{run!r}\n  exit {code}, exception {result.exception!r}\n"
        f"  stdout {result.stdout[:500]!r}\n  stderr {result.stderr[:500]!r}"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught exception: {seen}"
    )
    assert "Traceback" not in result.stdout + result.stderr, f"a traceback: {seen}"
    assert code in run.codes, f"wrong exit code: {seen}"
    # A spoiled value "--json" where a positional argument stands is the flag, as the CLI
    # reads it: then the error is a JSON document too.
    json_output = run.json_output or _asks_for_json(run.argv())
    document = None
    if json_output:
        try:
            document = json.loads(result.stdout, parse_constant=no_constants)
        except ValueError as problem:
            raise AssertionError(f"stdout is not one JSON document ({problem}): {seen}") from None
    if code == 0:
        assert not (isinstance(document, dict) and list(document) == ["error"]), seen
    else:
        lines = result.stderr.splitlines()
        assert len(lines) == 1, f"stderr is not one line: {seen}"
        line = lines[0]
        message = line.removeprefix("cmrewards: ")
        assert line.startswith("cmrewards: "), f"no cmrewards: prefix: {seen}"
        assert message.strip(), f"an empty message: {seen}"
        assert not any(ord(c) < 32 for c in line), f"control characters: {seen}"
        stopped_import = (
            run.path == ("import",) and isinstance(document, dict) and "failed_line" in document
        )
        if stopped_import:
            assert isinstance(document, dict)
            assert document["exit_code"] == code, seen
            assert document["failed_line"] is not None, seen
        elif json_output:
            assert isinstance(document, dict), f"no error document: {seen}"
            assert list(document) == ["error"], f"no error document: {seen}"
            reported = document["error"]
            assert reported["exit_code"] == code, seen
            assert reported["message"] == message, seen
            assert isinstance(reported["type"], str), seen
            assert reported["type"], seen
        elif run.path != ("import",):
            assert result.stdout == "", f"a refused command printed on stdout: {seen}"
    if code != 0 or not run.writes:
        assert after == before, f"the database changed: {seen}"
    if code != 0:
        assert files_after == files_before, (
            f"a refused command left files behind: {sorted(set(files_after) ^ set(files_before))}"
            f" {seen}"
        )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(run=runs())
def test_bad_input_is_refused_cleanly(template: Path, run: Run) -> None:
    check(template, run)


# --- the plausible lines are accepted, so what the fuzz spoils is what is refused ---------------


def plausible_runs() -> Iterator[Any]:
    for spec in SPECS:
        optional = [s.name for s in spec.slots if not s.required and s.plausible is not None]
        choices: Sequence[str | None] = EXCLUSIVE.get(spec.path, (None,))
        for choose in choices:
            for label, fill in (("fewest", []), ("most", optional)):
                values = plausible_values(spec, fill, choose)
                code = 2 if spec.group else BASELINE.get(spec.path, 0)
                run = Run(
                    spec.path,
                    tuple(render(spec, values, equals=False, options_first=False)),
                    codes=frozenset({code}),
                    writes=spec.path in WRITES,
                )
                name = "-".join([*spec.path, label, *([choose] if choose else [])])
                yield pytest.param(run, id=name)


@pytest.mark.parametrize("run", list(plausible_runs()))
def test_plausible_command_lines(template: Path, run: Run) -> None:
    check(template, run)


def test_every_command_is_covered() -> None:
    """Each command is known to write or not; each group and command is fuzzed."""
    paths = {s.path for s in COMMANDS}
    assert paths == READ_ONLY | WRITES
    assert not READ_ONLY & WRITES
    assert len(SPECS) > len(COMMANDS) > 30


# --- what the fuzz found: each line fails until the CLI is fixed -------------------------------

FOUND = [
    # An over-long path escapes as OSError "File name too long" (exit 1, a traceback).
    pytest.param(
        Run(("balance",), ("P001",), mode="long", codes=frozenset({2, 3})),
        id="db-path-too-long",
    ),
    pytest.param(
        Run(("staff", "list"), (), mode="long", via_env=True, codes=frozenset({2, 3})),
        id="db-path-too-long-from-the-environment",
    ),
    pytest.param(Run(("demo",), ("--db", LONG), codes=frozenset({2, 3})), id="demo-db-too-long"),
    pytest.param(Run(("export",), ("--out", LONG), codes=frozenset({2})), id="export-out-too-long"),
    pytest.param(
        Run(
            ("program", "add"),
            ("--preset", "va-prize-cm", "--timezone", LONG, "--actor", ADMIN),
            codes=frozenset({2}),
            writes=True,
        ),
        id="timezone-too-long",
    ),
    # A CSV that is not UTF-8 escapes as UnicodeDecodeError (exit 1, a traceback).
    pytest.param(
        Run(("import",), ("latin1.csv", "--actor", ADMIN), codes=frozenset({2}), writes=True),
        id="import-a-latin1-csv",
    ),
    pytest.param(
        Run(("import",), ("garbage.bin", "--actor", ADMIN), codes=frozenset({2}), writes=True),
        id="import-binary-garbage",
    ),
    # The demo's failed first step escapes as RuntimeError, after printing half a tour.
    pytest.param(
        Run(("demo",), ("--db", "no-such-dir/demo.db"), codes=frozenset({2, 3})),
        id="demo-db-in-a-missing-folder",
    ),
    # An empty file at --db becomes a new, empty clinic: reads succeed, refusals write.
    pytest.param(
        Run(("staff", "list"), (), mode="empty", codes=frozenset({1, 3})), id="empty-db-read"
    ),
    pytest.param(
        Run(("balance",), ("P001",), mode="empty", codes=frozenset({1, 3})), id="empty-db-refused"
    ),
    # statement --html writes its page over the database it was read from (exit 0).
    pytest.param(
        Run(("statement",), ("P001", "--html", DB), codes=frozenset({1, 2})),
        id="statement-html-over-the-database",
    ),
    # Typed values are echoed raw: a control character reaches the terminal.
    pytest.param(
        Run(("import",), ("a\x15b.csv", "--actor", ADMIN), codes=frozenset({2}), writes=True),
        id="control-character-in-a-file-name",
    ),
    pytest.param(
        Run(
            ("prize", "trade"),
            ("P002", "--give", "small", "--get", "a\x15b", "--actor", ADMIN),
            codes=frozenset({1, 2}),
            writes=True,
        ),
        id="control-character-in-a-prize-category",
    ),
    pytest.param(
        Run(("balance",), ("P001", "a\x15b"), codes=frozenset({2})),
        id="control-character-in-an-extra-argument",
    ),
]
"""Minimal command lines the fuzz found that break the contract, kept as fixed examples."""


@pytest.mark.parametrize("run", FOUND)
def test_found_by_the_fuzz(template: Path, run: Run) -> None:
    check(template, run)
