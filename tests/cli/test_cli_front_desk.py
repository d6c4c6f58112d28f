"""The front desk's day (issue 14), one class of fix at a time, through the real commands.

Each section holds one promise for every command it applies to, not for the example that
showed it: times in the program's zone with the zone's name; lists with a header row,
aligned, and ``--json`` / ``--csv`` that parse; counts that agree with their noun; money
rounded half to even and typed in dollars; destructive commands that ask on a terminal and
take ``--yes``; the nearest id for a mistyped one; ``CMREWARDS_ACTOR``; ``--json`` after the
command; ``--target`` left out for a one-target program; prize programs that say what was
won and what is owed; owner-only files. docs/decisions.md ("The front desk") has the rules.
"""

from __future__ import annotations

import contextvars
import csv
import datetime as dt
import io
import json
import os
import pty
import re
import select
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner, Result

from cmrewards.cli import cli
from support.cli import assert_error, snapshot

cli.load_every_command()  # the command line imports each module on first use

ADMIN, RECORDER, CLINICIAN = "admin-1", "rec-01", "clin-01"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)
"""Every enrolment starts four weeks ago: every visit below is in the past."""
CHICAGO = "America/Chicago"
CHICAGO_ZONE = ZoneInfo(CHICAGO)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SURE_WIN = """\
id = "chi-prizes"
name = "Prize draws at the Chicago clinic"
description = "Every slip wins a small prize (up to about $400, says the flyer)."
timezone = "America/Chicago"
require_approval = false
separate_duties = true
hold_days = 14

[[targets]]
id = "stimulant-negative"
schedule = { kind = "escalating", award = "draws", start = 1, step = 1, max = 4 }

[[bowl]]
category = "small"
slips = 1
value_cents = 100
"""
"""A bowl where every slip is a small prize: what a draw wins is known in advance."""


def day(n: int, clock: str = "09:05") -> str:
    """A clinical time typed at the desk, without an offset: ``n`` days after START, read in
    the program's zone (Chicago)."""
    return f"{START + dt.timedelta(days=n)}T{clock}"


def shown(n: int, clock: str = "09:05") -> str:
    """How the CLI shows ``day(n, clock)``: ``2026-11-02 09:05 CST`` (or CDT)."""
    local = dt.datetime.fromisoformat(day(n, clock)).replace(tzinfo=CHICAGO_ZONE)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


# --- running the CLI ----------------------------------------------------------------------


def invoke(
    db: Path | None,
    command: str,
    *,
    json_output: bool = False,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """``cmrewards [--db DB] [--json] COMMAND`` in a fresh context, as a new process runs."""
    top = [*(["--db", str(db)] if db is not None else []), *(["--json"] if json_output else [])]
    environment = {"CMREWARDS_ACTOR": None, "CMREWARDS_DB": None, **(env or {})}
    run = CliRunner().invoke
    return contextvars.Context().run(
        run, cli, [*top, *shlex.split(command)], env=environment, prog_name="cmrewards"
    )


def ok(db: Path, command: str, **env: str) -> Any:
    """A command that must succeed, with ``--json``: its document."""
    result = invoke(db, command, json_output=True, env=env)
    assert result.exit_code == 0, (command, result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def text(db: Path, command: str, **env: str) -> str:
    """A command that must succeed, as a person sees it."""
    result = invoke(db, command, env=env)
    assert result.exit_code == 0, (command, result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    return result.stdout


def refused(db: Path, command: str, code: int, **env: str) -> str:
    """A command that must be refused: one line, nothing written; the message."""
    before = snapshot(db)
    result = invoke(db, command, json_output=True, env=env)
    message: str = assert_error(result, code)["message"]
    assert snapshot(db) == before
    return message


def cells(line: str) -> list[str]:
    """A table row's cells: columns stand two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


# --- the clinic ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Chicago clinic: higgins-vbrt (points) with P-1001 and P-1002, chi-prizes (every
    slip a small prize) with P-2001, petry-fishbowl (two targets) with P-3001, the CTN lab
    program with P-4001; staff admin-1, rec-01, clin-01. P-1001 has two negatives (10 + 15
    points) and a +5 adjustment; P-2001 two negatives (1 + 2 draws: three small prizes
    owed); P-4001 one lab specimen (two analyte results). Catalog: BUS (10 points, on
    demand), SNACK (small prize, 10 units)."""
    folder = tmp_path_factory.mktemp("front-desk")
    db = folder / "clinic.db"
    (folder / "chi-prizes.toml").write_text(SURE_WIN, encoding="utf-8")
    collected = f"{START + dt.timedelta(days=1):%m/%d/%Y} 10:00"
    (folder / "lab.csv").write_text(
        "Specimen ID,Patient ID,Collected,Analyte,Result\n"
        f"S-4001-1,P-4001,{collected},Cocaine,NEG\nS-4001-1,P-4001,{collected},Amphetamine,NEG\n",
        encoding="utf-8",
    )
    for line in (
        f"init --admin {ADMIN} --no-sign-in",
        f"staff add {RECORDER} --role recorder",
        f"staff add {CLINICIAN} --role clinician",
        f"program add --preset higgins-vbrt --timezone {CHICAGO}",
        f"program add --preset petry-fishbowl --timezone {CHICAGO}",
        f"program add --file {folder / 'chi-prizes.toml'}",
        f"enroll P-1001 --program higgins-vbrt --start {START}",
        f"enroll P-1002 --program higgins-vbrt --start {START}",
        f"enroll P-2001 --program chi-prizes --start {START}",
        f"enroll P-3001 --program petry-fishbowl --start {START}",
        "catalog add BUS --name 'Bus pass' --cost 10",
        "catalog add SNACK --name 'Snack box' --cost 0 --stock 10 --category small",
        f"record P-1001 --outcome met --at {day(1)} --key LAB-0031 --actor {RECORDER}",
        f"record P-1001 --outcome met --at {day(3)} --actor {RECORDER}",
        "adjust P-1001 --points 5 --reason 'lab delay'",
        f"record P-2001 --outcome met --at {day(1)} --actor {RECORDER}",
        f"record P-2001 --outcome met --at {day(3)} --actor {RECORDER}",
        f"program add --file {EXAMPLES / 'ctn0094-program.toml'}",
        f"enroll P-4001 --program ctn-stimulant --start {START}",
        f"import {folder / 'lab.csv'} --map {EXAMPLES / 'ctn0094-map.toml'} --actor {RECORDER}",
    ):
        ok(db, line, CMREWARDS_ACTOR=ADMIN)
    return folder


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template clinic for one test."""
    folder = tmp_path / "clinic"
    shutil.copytree(template, folder)
    return folder / "clinic.db"


# --- 1. times in the program's zone ---------------------------------------------------------


def test_history_shows_times_in_the_programs_zone_with_its_name(db: Path) -> None:
    lines = text(db, "history P-1001").splitlines()
    assert cells(lines[0]) == ["when", "what", "points", "balance", "detail", "ref", "by"]
    assert cells(lines[1])[:2] == [shown(1), "outcome"]
    assert cells(lines[2])[:4] == [shown(1), "award", "+10", "10"]
    assert "UTC" not in "\n".join(lines)


def test_history_as_csv_carries_the_offset(db: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(text(db, "history P-1001 --csv"))))
    first = dt.datetime.fromisoformat(rows[0]["when"])
    assert first == dt.datetime.fromisoformat(day(1)).replace(tzinfo=CHICAGO_ZONE)
    assert first.utcoffset() in (dt.timedelta(hours=-6), dt.timedelta(hours=-5))


def test_lists_across_participants_show_each_in_their_zone(db: Path) -> None:
    lines = text(db, "prize list P-2001").splitlines()
    assert [cells(line)[2] for line in lines[1:]] == [shown(1), shown(3), shown(3)]


def test_refusals_that_carry_a_time_show_it_in_the_programs_zone(db: Path) -> None:
    early = f"{START - dt.timedelta(days=2)}T09:05"
    message = refused(db, f"record P-1001 --outcome met --at {early} --actor {RECORDER}", 2)
    local = dt.datetime.fromisoformat(early).replace(tzinfo=CHICAGO_ZONE)
    assert message == (
        f"at {local:%Y-%m-%d %H:%M} {local.tzname()} is before P-1001's enrolment on {START}"
    )
    ahead = dt.datetime.now(CHICAGO_ZONE) + dt.timedelta(days=1)
    message = refused(
        db, f"record P-1001 --outcome met --at {ahead:%Y-%m-%dT%H:%M} --actor {RECORDER}", 2
    )
    assert message.startswith(f"at {ahead:%Y-%m-%d %H:%M} {ahead.tzname()} is in the future")


def test_json_keeps_utc_instants(db: Path) -> None:
    entries = ok(db, "history P-1001")
    utc = dt.datetime.fromisoformat(day(1)).replace(tzinfo=CHICAGO_ZONE).astimezone(dt.UTC)
    assert entries[0]["occurred_at"] == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- 2. every list: a header, aligned columns, --json and --csv ------------------------------

LISTS = [
    "staff list",
    "program list",
    "presets",
    "catalog list",
    "redeem list",
    "redeem list --state requested",
    "prize list",
    "prize list P-2001 --owed",
    "history P-1001",
    "results P-4001",
    "expire --actor admin-1",
    "participant list",
    "sign-in log",
]


def list_commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Every command that takes ``--csv``: what the tests below must cover."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from list_commands(command, (*path, name))
        elif any(p.name == "csv" for p in command.params):
            yield " ".join((*path, name))


def command_of(line: str) -> str:
    """``redeem list`` of ``redeem list --state requested``: the words naming the command."""
    words: list[str] = []
    group: click.Command = cli
    for word in line.split():
        if not isinstance(group, click.Group) or word not in group.commands:
            break
        words.append(word)
        group = group.commands[word]
    return " ".join(words)


def test_every_list_command_is_covered() -> None:
    assert set(list_commands()) == {command_of(line) for line in LISTS}


@pytest.fixture
def busy_db(db: Path) -> Path:
    """``db`` with a redemption waiting for approval and a passphrase set (a sign-in
    event), so that every list has rows."""
    ok(db, "redeem request P-1001 BUS", CMREWARDS_ACTOR=RECORDER)
    passphrase = {"CMREWARDS_NEW_PASSPHRASE": "front desk passphrase"}
    ok(db, f"staff passwd {RECORDER} --actor {ADMIN}", **passphrase)
    return db


@pytest.mark.parametrize("command", LISTS)
def test_a_list_as_text_has_a_header_row_and_aligned_columns(busy_db: Path, command: str) -> None:
    lines = text(busy_db, command).splitlines()
    if command.startswith("expire"):
        assert lines == ["no holds were overdue"]
        return
    assert len(lines) >= 2, lines
    header = spans(lines[0])
    words = re.sub(r"\b[A-Z]{2,}\b", "", lines[0])  # acronyms stay: "at (UTC)", "OS user"
    assert words == words.lower()
    # Each cell starts where its column's header starts (left-aligned) or ends where it
    # ends (right-aligned numbers).
    starts, ends = {start for start, _ in header}, {end for _, end in header}
    for line in lines[1:]:
        for start, end in spans(line):
            assert start in starts or end in ends, (lines[0], line, line[start:end])


def spans(line: str) -> list[tuple[int, int]]:
    """Where each cell of a row starts and ends (cells are two or more spaces apart)."""
    return [m.span() for m in re.finditer(r"\S+(?: \S+)*", line)]


@pytest.mark.parametrize("command", LISTS)
def test_a_list_as_csv_has_the_tables_header_and_one_row_per_record(
    busy_db: Path, command: str
) -> None:
    records = ok(busy_db, command)
    rows = list(csv.reader(io.StringIO(text(busy_db, f"{command} --csv"))))
    assert len(rows) == 1 + len(records)
    if records:
        assert rows[0] == cells(text(busy_db, command).splitlines()[0])


INTEGERS = {"id", "episode", "points", "draws", "balance", "stock", "weeks", "rows", "cost"}
"""Headers of the counts lists show: a plain integer in CSV (empty when none)."""
DOLLARS = {"value", "expected", "with the cap"}
"""Headers of money: plain dollars in CSV (``1074.00``)."""


@pytest.mark.parametrize("command", LISTS)
def test_a_list_s_numbers_are_plain_numbers_in_csv(busy_db: Path, command: str) -> None:
    rows = list(csv.reader(io.StringIO(text(busy_db, f"{command} --csv"))))
    header, body = rows[0], rows[1:]
    for index, name in enumerate(header):
        cells_of = [row[index] for row in body]
        if name in INTEGERS:
            assert all(cell == "" or str(int(cell)) == cell for cell in cells_of), (name, cells_of)
        elif name in DOLLARS:
            assert all(re.fullmatch(r"-?\d+\.\d\d", cell) for cell in cells_of), (name, cells_of)
    # Whatever the column: no number as display text (``+1,150``, ``48,300``, ``$5.00``),
    # nor a count with its unit (``"60,000 points"``, ``204 draws``: newcomer finding 5).
    display = re.compile(r"[+-]?\d{1,3}(,\d{3})+|\+\d+|\$.*|[+-]?[\d,]+ (points?|draws?)")
    for row in body:
        for cell in row:
            assert not display.fullmatch(cell), (header, row)


@pytest.mark.parametrize("command", LISTS)
def test_json_after_the_command_is_the_same_document(busy_db: Path, command: str) -> None:
    after = invoke(busy_db, f"{command} --json")
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == ok(busy_db, command)


def test_csv_and_json_together_are_a_usage_error(db: Path) -> None:
    message = refused(db, "history P-1001 --csv", 2)
    assert message.startswith("give --csv or --json, not both")


def test_a_usage_error_after_the_command_with_json_is_a_json_document(db: Path) -> None:
    result = invoke(db, "history P-1001 --json --colour")
    assert_error(result, 2)
    # --json as the value of an option is that value, not the flag.
    result = invoke(db, f"record P-1001 --outcome met --note --json --at nonsense --actor {ADMIN}")
    assert_error(result, 2, json_output=False)


# --- 3. counts agree with their noun ---------------------------------------------------------


def test_one_of_anything_is_singular(db: Path, tmp_path: Path) -> None:
    ok(db, f"record P-2001 --outcome not_met --at {day(7)} --actor {RECORDER}")
    after_reset = text(db, f"record P-2001 --outcome met --at {day(8)} --actor {RECORDER}")
    assert after_reset.startswith("P-2001 stimulant-negative: met — 1 draw: won prize #4 small")
    ok(db, "adjust P-1002 --points 1 --reason 'one for the road'", CMREWARDS_ACTOR=ADMIN)
    assert "adjustment-up +1 point on" in text(db, "statement P-1002")
    assert text(db, "balance P-1002") == "P-1002: 1 point ($0.25), 1 available; no cap\n"
    lab = tmp_path / "one.csv"
    lab.write_text(
        f"participant,target,outcome,at,key,note\nP-1002,stimulant-negative,met,{day(2)},IMP-1,\n",
        encoding="utf-8",
    )
    assert text(db, f"import {lab} --actor {RECORDER}").startswith("imported 1 row, skipped 0")
    assert "1 participant, p(met)" in text(
        db, "simulate --preset va-prize-cm --participants 1 --p-met 0.5"
    )


def test_verify_counts_agree(tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    ok(db, f"init --admin {ADMIN} --no-sign-in")
    ok(db, f"program add --preset higgins-vbrt --timezone UTC --actor {ADMIN}")
    ok(db, f"enroll P-1 --program higgins-vbrt --start {START} --actor {ADMIN}")
    ok(db, f"record P-1 --outcome met --at {START}T09:00 --actor {ADMIN}")
    assert text(db, "verify").startswith("OK: 1 outcome, 1 transfer, 1 participant checked")


# --- 4. money: rounded half to even, typed in dollars -----------------------------------------

A_DOLLAR_A_POINT = """\
id = "dollars"
name = "A dollar a point"
point_value_cents = 100

[[targets]]
id = "attendance"
schedule = { kind = "fixed", award = "points", amount = 185 }
"""


def test_a_cost_per_participant_is_rounded_half_to_even(tmp_path: Path) -> None:
    db = tmp_path / "money.db"
    program = tmp_path / "dollars.toml"
    program.write_text(A_DOLLAR_A_POINT, encoding="utf-8")
    ok(db, f"init --admin {ADMIN} --no-sign-in")
    ok(db, f"program add --file {program} --timezone UTC --actor {ADMIN}")
    for participant in ("A", "B", "C"):
        ok(db, f"enroll {participant} --program dollars --start {START} --actor {ADMIN}")
    ok(db, f"record A --outcome met --at {START}T10:00 --actor {ADMIN}")
    report = ok(db, "report")[0]
    assert (report["awarded_cents"], report["cost_per_participant_cents"]) == (18_500, 6_167)
    said = "$185.00 awarded, $0.00 adjusted, $185.00 outstanding; $61.67 awarded per participant"
    assert said in text(db, "report")


def test_the_cost_of_a_hand_over_is_typed_in_dollars(db: Path) -> None:
    ok(db, "redeem request P-1001 BUS", CMREWARDS_ACTOR=RECORDER)
    ok(db, "redeem approve 1", CMREWARDS_ACTOR=CLINICIAN)
    refused(db, "redeem fulfil 1 --cost 2.505", 2, CMREWARDS_ACTOR=CLINICIAN)
    refused(db, "redeem fulfil 1 --cost 2.50 --cost-cents 250", 2, CMREWARDS_ACTOR=CLINICIAN)
    done = ok(db, "redeem fulfil 1 --cost 2.50", CMREWARDS_ACTOR=CLINICIAN)
    assert done["redemption"]["actual_cost_cents"] == 250
    ok(db, "redeem request P-1001 BUS", CMREWARDS_ACTOR=RECORDER)
    ok(db, "redeem approve 2", CMREWARDS_ACTOR=CLINICIAN)
    older = ok(db, "redeem fulfil 2 --cost-cents 1075", CMREWARDS_ACTOR=CLINICIAN)
    assert older["redemption"]["actual_cost_cents"] == 1075  # the older spelling still works


# --- 5. destructive commands ask, or take --yes -----------------------------------------------

DESTRUCTIVE = {
    "withdraw": "withdraw P-1002",
    "complete": "complete P-1002",
    "staff deactivate": f"staff deactivate {CLINICIAN}",
    "correct": "correct 1 --outcome not_met --reason 'lab confirmation'",
    "void": "void 1 --reason 'wrong chart'",
    "reverse": "reverse 1 --reason 'entered twice'",
    "redeem cancel": "redeem cancel 1 --reason 'changed their mind'",
    "prize trade": "prize trade P-3001 --give small --get large",
    "sign-in off": "sign-in off",
}
"""Every command that asks first, with a line it accepts (``prize trade`` is then refused
by its rule: P-3001 owes no five small prizes)."""


def test_the_destructive_commands_are_the_ones_that_take_yes() -> None:
    def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[str]:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from walk(command, (*path, name))
            elif any(p.name == "yes" for p in command.params):
                yield " ".join((*path, name))

    assert set(walk(cli)) == set(DESTRUCTIVE)


@pytest.mark.parametrize("name", sorted(DESTRUCTIVE))
def test_without_a_terminal_or_yes_it_refuses_before_anything(busy_db: Path, name: str) -> None:
    message = refused(busy_db, DESTRUCTIVE[name], 2, CMREWARDS_ACTOR=ADMIN)
    assert message.startswith(f"'cmrewards {name}' cannot be undone at the desk: confirm with")


@pytest.mark.parametrize("name", sorted(DESTRUCTIVE))
def test_with_yes_it_goes_ahead(busy_db: Path, name: str) -> None:
    result = invoke(busy_db, f"{DESTRUCTIVE[name]} --yes", env={"CMREWARDS_ACTOR": ADMIN})
    expected = 1 if name == "prize trade" else 0
    assert result.exit_code == expected, (result.stdout, result.stderr)


def on_a_terminal(db: Path, command: str, answer: str) -> tuple[int, str]:
    """Run ``cmrewards --db DB COMMAND`` on a pseudo-terminal, answer its question; the exit
    code and everything the terminal showed."""
    main, side = pty.openpty()
    env = {**os.environ, "CMREWARDS_ACTOR": ADMIN, "CMREWARDS_DB": str(db), "TERM": "dumb"}
    child = subprocess.Popen(
        [sys.executable, "-m", "cmrewards", *shlex.split(command)],
        stdin=side,
        stdout=side,
        stderr=side,
        env=env,
        close_fds=True,
    )
    os.close(side)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Go ahead?" in seen:
            os.write(main, answer.encode() + b"\r")
            answered = True
        if child.poll() is not None and not ready:
            break
    code = child.wait(timeout=60)
    os.close(main)
    return code, seen.decode(errors="replace").replace("\r\n", "\n")


def test_on_a_terminal_it_says_what_it_will_do_and_no_writes_nothing(db: Path) -> None:
    before = snapshot(db)
    code, shown_there = on_a_terminal(db, "withdraw P-1002", "n")
    assert (
        "mark P-1002 withdrawn in higgins-vbrt: no more outcomes can be recorded until they"
        " are enrolled again (a new episode)"
    ) in " ".join(shown_there.split())
    assert "for good" not in shown_there
    assert code == 1
    assert "'cmrewards withdraw' not confirmed; nothing was written" in shown_there
    assert snapshot(db) == before


def test_on_a_terminal_yes_goes_ahead(db: Path) -> None:
    code, shown_there = on_a_terminal(db, "withdraw P-1002", "y")
    assert code == 0, shown_there
    assert "P-1002 withdrawn" in shown_there
    assert ok(db, "statement P-1002")["status"] == "withdrawn"


# --- 6. a mistyped id: the nearest one ---------------------------------------------------------

TYPOS = [
    ("balance P-1O01", "no participant 'P-1O01'; did you mean P-1001?"),
    ("history p-1001", "no participant 'p-1001'; did you mean P-1001?"),
    # A lookalike is the character it looks like: P-1001 is nearer than P-1002.
    ("balance P-100l", "no participant 'P-100l'; did you mean P-1001?"),
    ("balance P-1OO2", "no participant 'P-1OO2'; did you mean P-1002?"),
    # Equally near: every one is said.
    ("balance P-100", "no participant 'P-100'; did you mean P-1001 or P-1002?"),
    (f"record P-1001 --outcome met --at {day(5)} --actor rec-1", "did you mean rec-01?"),
    ("staff deactivate clin-1 --yes", "no staff member 'clin-1'; did you mean clin-01?"),
    ("enroll P-9 --program higins-vbrt", "no program 'higins-vbrt'; did you mean higgins-vbrt?"),
    ("report --program chi-prize", "did you mean chi-prizes?"),
    ("redeem request P-1001 BUSS", "no catalog item 'BUSS'; did you mean BUS?"),
    ("catalog restock snack --quantity 1", "did you mean SNACK?"),
    (
        f"record P-1001 --target stimulant-negativ --outcome met --at {day(5)}",
        "did you mean stimulant-negative?",
    ),
    (f"record P-3001 --met secondary --at {day(5)}", "did you mean secondary-negative?"),
    ("program add --preset va-prize", "did you mean va-prize-cm?"),
]


@pytest.mark.parametrize(("command", "suggested"), TYPOS, ids=[c for c, _ in TYPOS])
def test_a_mistyped_id_gets_the_nearest_one(db: Path, command: str, suggested: str) -> None:
    message = refused(db, command, 1, CMREWARDS_ACTOR=ADMIN)
    assert message.endswith(suggested), message


def test_nothing_near_means_no_guess(db: Path) -> None:
    assert refused(db, "balance X-77", 1) == "no participant 'X-77'"


def test_an_id_that_exists_is_not_corrected(db: Path) -> None:
    message = refused(db, "adjust P-1001 --points 5 --reason x", 1, CMREWARDS_ACTOR=RECORDER)
    assert message == "'rec-01' is a recorder; a recorder may not adjust balances"
    message = refused(db, "record P-1001 --target far-off --outcome met", 1, CMREWARDS_ACTOR=ADMIN)
    assert message == "program higgins-vbrt has no target 'far-off' (targets: stimulant-negative)"


@pytest.mark.parametrize(
    "command",
    [
        "balance 'Jane Doe'",
        "staff passwd 'Jane Doe'",
        "redeem request P-1001 'GIFT CARD'",
        "enroll 'Jane Doe' --program higgins-vbrt",  # a new id is checked as much
        "staff add 'Jane Doe' --role recorder",
        "participant show 'Jane Doe'",
    ],
)
def test_a_name_typed_where_an_id_belongs_is_a_usage_error(db: Path, command: str) -> None:
    """Not "no participant": a name is never an id, so nothing is opened to look for it."""
    message = refused(db, command, 2, CMREWARDS_ACTOR=ADMIN)
    assert "must be 1-64 letters, digits" in message, message


def test_a_preset_is_suggested_without_a_database(tmp_path: Path) -> None:
    result = invoke(tmp_path / "none.db", "simulate --preset va-prize --participants 1 --p-met 1")
    assert assert_error(result, 1, json_output=False)["message"].endswith(
        "did you mean va-prize-cm?"
    )


# --- 7. CMREWARDS_ACTOR, --target, key conflicts ----------------------------------------------


def test_the_actor_comes_from_the_environment_unless_given(db: Path) -> None:
    done = ok(db, f"record P-1002 --outcome met --at {day(1)}", CMREWARDS_ACTOR=RECORDER)
    assert ok(db, "history P-1002")[0]["actor"] == RECORDER
    assert done["participant"] == "P-1002"
    ok(db, f"record P-1002 --outcome met --at {day(3)} --actor {ADMIN}", CMREWARDS_ACTOR=RECORDER)
    assert ok(db, "history P-1002")[-1]["actor"] == ADMIN
    message = refused(db, f"record P-1002 --outcome met --at {day(5)}", 2)
    assert "Missing option '--actor'" in message
    assert "CMREWARDS_ACTOR" in message


def test_target_may_be_left_out_only_for_a_one_target_program(db: Path) -> None:
    done = ok(db, f"record P-1002 --outcome met --at {day(1)}", CMREWARDS_ACTOR=RECORDER)
    assert done["target"] == "stimulant-negative"
    message = refused(db, f"record P-3001 --outcome met --at {day(1)}", 2, CMREWARDS_ACTOR=ADMIN)
    assert message == (
        "give --target: program petry-fishbowl has targets stimulant-negative, secondary-negative"
    )


def test_a_key_conflict_names_the_participant_and_result_it_belongs_to(db: Path) -> None:
    message = refused(
        db, f"record P-1002 --outcome met --at {day(1)} --key LAB-0031", 1, CMREWARDS_ACTOR=ADMIN
    )
    assert message == (
        "key 'LAB-0031' belongs to outcome 1 of P-1001 (stimulant-negative: met), a different"
        " request; nothing was written"
    )


# --- 8. prize programs say what was won and what is owed ---------------------------------------


def test_record_says_what_each_draw_won(db: Path) -> None:
    out = text(db, f"record P-2001 --outcome met --at {day(8)} --actor {RECORDER}").splitlines()
    assert out == [
        "P-2001 stimulant-negative: met — 3 draws: won prize #4 small ($1.00),"
        " prize #5 small ($1.00), prize #6 small ($1.00)",
        "balance 6 prizes owed (6 small; $6.00); no points",
    ]


NO_LUCK = SURE_WIN.replace('"chi-prizes"', '"no-luck"').replace(
    'category = "small"\nslips = 1\nvalue_cents = 100',
    'category = "good-job"\nslips = 1\nvalue_cents = 0',
)
"""The same program with a bowl of good-job slips only: every draw wins nothing."""


def test_record_names_the_slips_that_won_nothing(tmp_path: Path) -> None:
    db = tmp_path / "no-luck.db"
    program = tmp_path / "no-luck.toml"
    program.write_text(NO_LUCK, encoding="utf-8")
    for line in (
        f"init --admin {ADMIN} --no-sign-in",
        f"program add --file {program}",
        f"enroll P-4001 --program no-luck --start {START}",
        f"record P-4001 --outcome met --at {day(1)}",
    ):
        ok(db, line, CMREWARDS_ACTOR=ADMIN)
    said = text(db, f"record P-4001 --outcome met --at {day(3)}", CMREWARDS_ACTOR=ADMIN)
    assert said.splitlines() == [
        "P-4001 stimulant-negative: met — 2 draws: 2 good-job",
        "balance 0 points ($0.00), 0 available",
    ]


def test_balance_shows_prizes_owed_beside_points(db: Path) -> None:
    assert (
        text(db, "balance P-2001") == "P-2001: 3 prizes owed (3 small; $3.00); no points; no cap\n"
    )
    shown_json = ok(db, "balance P-2001")
    assert [p["category"] for p in shown_json["prizes_owed"]] == ["small"] * 3
    assert text(db, "balance P-1001") == "P-1001: 30 points ($7.50), 30 available; no cap\n"


def test_prize_list_for_everyone_and_only_what_is_owed(db: Path) -> None:
    ok(db, f"prize fulfil 1 --sku SNACK --actor {CLINICIAN}")
    everyone = ok(db, "prize list")
    assert [(p["id"], p["participant"], p["status"]) for p in everyone] == [
        (1, "P-2001", "fulfilled"),
        (2, "P-2001", "owed"),
        (3, "P-2001", "owed"),
    ]
    assert [p["id"] for p in ok(db, "prize list --owed")] == [2, 3]
    assert text(db, "prize list P-1001 --owed") == "P-1001 is owed no prizes\n"


def test_a_hand_over_names_the_item(db: Path) -> None:
    said = text(db, f"prize fulfil 1 --sku SNACK --actor {CLINICIAN}")
    assert said == "prize #1 (small) handed over as Snack box (SNACK)\n"


def test_the_text_statement_lists_prizes_adjustments_and_redemptions(db: Path) -> None:
    ok(db, "redeem request P-1001 BUS", CMREWARDS_ACTOR=RECORDER)
    lines = text(db, "statement P-1001").splitlines()
    assert any(
        re.fullmatch(rf"adjustment-up \+5 points on .* CS?D?T by {ADMIN}: lab delay", line)
        for line in lines
    ), lines
    assert any(line.startswith("redemption #1: Bus pass (BUS) for 10 points") for line in lines)
    prizes = [line for line in text(db, "statement P-2001").splitlines() if "prize #" in line]
    assert prizes == [
        f"prize #1: small ($1.00) won {shown(1)}, owed",
        f"prize #2: small ($1.00) won {shown(3)}, owed",
        f"prize #3: small ($1.00) won {shown(3)}, owed",
    ]


def test_the_approval_queue_has_dates_and_item_names(db: Path) -> None:
    ok(db, "redeem request P-1001 BUS", CMREWARDS_ACTOR=RECORDER)
    lines = text(db, "redeem list --state requested").splitlines()
    assert cells(lines[0]) == [
        "id", "requested", "participant", "item", "sku", "points", "state", "since"
    ]  # fmt: skip
    row = cells(lines[1])
    assert (row[0], row[2:7]) == ("1", ["P-1001", "Bus pass", "BUS", "10", "requested"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d C[SD]T", row[1])
    assert text(db, "redeem list --state approved") == "no approved redemptions\n"


def test_program_show_gives_the_rules_staff_meet(db: Path) -> None:
    shown_text = text(db, "program show chi-prizes")
    assert "no approval step; holds expire after 14 days" in shown_text
    assert "whoever requested or approved may not hand it over" in shown_text
    assert "bowl of 1 slip: 1 small ($1.00)" in shown_text
    assert "$400" not in shown_text  # the file's description, not a figure computed here
    petry = text(db, "program show petry-fishbowl")
    assert "pays only with stimulant-negative met at the visit" in petry
    assert "trade 5 small for 1 large" in petry
    assert "a clinician approves each request; holds expire after 30 days" in petry
    assert ok(db, "program show chi-prizes")["description"].endswith("says the flyer).")


# --- 9. owner-only files, and what a newcomer tripped over --------------------------------------


def test_the_statement_page_and_the_export_are_owner_only(db: Path, tmp_path: Path) -> None:
    page = tmp_path / "P-1001.html"
    page.write_text("an older page", encoding="utf-8")
    page.chmod(0o644)
    text(db, f"statement P-1001 --html {page}")
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert "<svg" in page.read_text(encoding="utf-8")
    out = tmp_path / "export"
    text(db, f"export --out {out}")
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in out.iterdir()} == {0o600}


def test_an_empty_db_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(None, "--db '' staff list", json_output=True)
    assert "--db" in assert_error(result, 2)["message"]


def test_an_item_nobody_could_receive_is_refused(db: Path) -> None:
    message = refused(db, f"catalog add FREE --name Free --cost 0 --actor {ADMIN}", 2)
    assert message == (
        "catalog item 'FREE' costs 0 points and fulfils no prize category:"
        " give it a cost in points or a prize category"
    )


def test_the_demo_says_what_it_walks_through() -> None:
    demo = cli.commands["demo"]
    assert "three weeks" in (demo.help or "")
    assert "a day" not in (demo.help or "")
