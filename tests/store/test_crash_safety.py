"""Crash safety: a writer killed with SIGKILL at any moment loses nothing it reported and
leaves nothing half-written (docs/design.md sections 3, 4 and 6), on a SQLite file and on a
PostgreSQL database.

A child process (a staff terminal, or the ``import`` command) opens the clinic with
``cmrewards.open(location)`` and writes; it reports each committed write as one JSON line on
its stdout, which goes to a plain file, so a line written before the kill survives it. The
parent kills the child with SIGKILL after a random delay, many times over on the same
database, and after each kill (on PostgreSQL, once the server has finished with the dead
connection) opens the database itself and checks what the next terminal would find:
``verify`` passes, every write the child reported is stored exactly once, nothing else is
stored but the one write that was in flight (and then the retry of its key replays it), and no
unit is half-written (an outcome without its transfers, a balance that is not the sum of its
transfers, an idempotency record without its outcome, a partial import chunk).

What differs between the stores (where the database is, how the child finds it, how the parent
reads the stored rows, what to wait for after a kill, how many rounds and how long a child
takes) is a ``Backend``: ``SQLITE`` or ``POSTGRES``; each scenario runs once on each.
test_postgres_crash_safety.py adds what only PostgreSQL has: a writer killed while holding the
writers' lock, and one killed after its COMMIT went out.

The default run is bounded (``CMREWARDS_SOAK_ROUNDS`` rounds of the recording test, 20 on
SQLite and 10 on PostgreSQL unless set) so that ``make test`` stays quick; ``make soak`` runs
the same tests with many more rounds. ``CMREWARDS_CRASH_SEED`` changes the seed of the kill
schedule.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import cmrewards
from cmrewards import VerifyReport
from cmrewards.app.lab_file import ImportRow, read_rows
from support.clinics import database_location

SEED = int(os.environ.get("CMREWARDS_CRASH_SEED", "20261127"))

PROGRAM = "higgins-vbrt"
TARGET = "stimulant-negative"
ADMIN = "admin-1"
OUTCOMES = ["met", "met", "met", "not_met", "met", "missed", "met", "met", "excused", "invalid"]

RECORDERS = ["P001", "P002", "P003", "P004"]
IMPORT_DAYS = 35
"""An import's rows of one participant are a day apart (one result per visit), within the
enrolment: its participants are as many as that takes."""


def imported(rows: int) -> list[str]:
    """The participants of an import of ``rows`` rows."""
    return [f"P{101 + n}" for n in range(max(5, -(-rows // IMPORT_DAYS)))]


MAX_DELAY = 0.35
"""Seconds a recorder may run before its kill: a few dozen to a hundred writes (3 ms each)."""
WRITES_PER_ROUND = 2000
"""Writes handed to a recorder per round: more than it can make before its kill."""
CHUNK_SIZE = 8
"""Rows per import transaction: small, so that a kill lands inside some chunk."""
CHILD_TIMEOUT = 120.0
BACKEND_TIMEOUT = 30.0
"""Seconds the PostgreSQL server may take to end a killed child's connection."""

CHILD = r"""
import datetime as dt, json, sys
import cmrewards
from cmrewards.app.lab_file import read_rows

mode, location, spec_file = sys.argv[1], sys.argv[2], sys.argv[3]
with open(spec_file, encoding="utf-8") as file:
    spec = json.load(file)


def say(**fields):
    # One whole line per event, flushed at once: the parent trusts only whole lines.
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


clinic = cmrewards.open(location)
say(event="ready")
if mode == "record":
    for key, participant, outcome, at in spec["writes"]:
        # Each write is its own visit, however close in time (one result per visit).
        result = clinic.record(
            participant, spec["target"], outcome, at=dt.datetime.fromisoformat(at),
            actor=spec["actor"], key=key, visit=key,
        )
        # record() has returned, so its transaction is committed.
        say(
            event="committed", key=key, id=result.outcome_id, points=result.award.points,
            bonus=result.award.bonus_points, replayed=result.replayed,
        )
else:
    with open(spec["csv"], newline="", encoding="utf-8") as file:
        report = clinic.import_outcomes(
            read_rows(file, spec["csv"]), actor=spec["actor"], chunk_size=spec["chunk_size"],
            # Called after each chunk's transaction has committed.
            progress=lambda rows: say(event="chunk", rows=rows),
        )
    say(
        event="done", rows=report.rows, applied=report.applied, replayed=report.replayed,
        failed_line=report.failed_line, error=report.error,
    )
clinic.close()
"""


# --- the clinic -----------------------------------------------------------------------------


def enrolment_start() -> dt.date:
    """Well in the past, so every clinical time used lies after it and before now."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).date()


def first_visit() -> dt.datetime:
    start = enrolment_start()
    return dt.datetime(start.year, start.month, start.day, 9, tzinfo=dt.UTC) + dt.timedelta(days=1)


def set_up(location: str, participants: list[str]) -> None:
    with cmrewards.open(location) as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
        for participant in participants:
            clinic.enroll(participant, PROGRAM, start=enrolment_start(), actor=ADMIN)


# --- the child ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Child:
    process: subprocess.Popen[bytes]
    out: Path
    err: Path


def start(script: str, argv: list[str], work: Path, name: str) -> Child:
    """Run ``script`` in a new Python process, its stdout and stderr in files of ``work``."""
    out, err = work / f"{name}.out", work / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", script, *argv], stdout=stdout, stderr=stderr
        )
    return Child(process, out, err)


def events(child: Child) -> list[dict[str, Any]]:
    """The child's whole lines; a last line cut short by the kill is not trusted."""
    text = child.out.read_bytes().decode("utf-8")
    *whole, _partial = text.split("\n")
    return [json.loads(line) for line in whole]


def wait_until(child: Child, ready: Callable[[list[dict[str, Any]]], bool]) -> None:
    """Poll the child's report until ``ready`` says so or the child has exited."""
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not ready(events(child)) and child.process.poll() is None:
        if time.monotonic() > deadline:
            child.process.kill()
            pytest.fail(f"the child made no progress in {CHILD_TIMEOUT} s")
        time.sleep(0.001)


def finish(child: Child, *, kill: bool) -> list[dict[str, Any]]:
    """SIGKILL the child (unless it has finished already), or wait for it; its events."""
    if kill and child.process.poll() is None:
        child.process.send_signal(signal.SIGKILL)
    try:
        code = child.process.wait(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.process.kill()
        raise
    allowed = (0, -signal.SIGKILL) if kill else (0,)
    if code not in allowed:
        pytest.fail(f"the child failed (exit {code}):\n{child.err.read_text(errors='replace')}")
    return events(child)


# --- the database, as the parent finds it -------------------------------------------------------


Row = tuple[Any, ...]
Query = Callable[[str], list[Row]]
"""Runs one SELECT on a plain connection of the parent's own; its rows."""


@dataclass(frozen=True)
class Snapshot:
    report: VerifyReport
    outcomes: list[Row]
    """(id, participant, target, outcome, occurred_at, key, note) in id order."""
    transfers: list[Row]
    """(id, kind, from_account, to_account, amount, participant, cause, occurred_at)."""
    balances: dict[tuple[str, str], int]
    states: list[Row]
    keys: list[Row]
    """Idempotency records: (scope, key, fingerprint)."""

    def keys_in_order(self) -> list[str]:
        return [row[5] for row in self.outcomes]

    def paid(self) -> dict[int, tuple[int, int]]:
        """(award, bonus) points paid for each outcome id that paid anything."""
        paid: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for _id, kind, _src, _dst, amount, _who, cause, _at in self.transfers:
            paid[int(cause.removeprefix("outcome:"))][kind == "bonus"] += amount
        return {outcome_id: (a, b) for outcome_id, (a, b) in paid.items()}


def check_whole(snap: Snapshot) -> None:
    """What must hold after any kill, whatever was reported: no write is half there."""
    assert snap.report.problems == ()
    assert snap.report.ok
    assert snap.report.outcomes == len(snap.outcomes)
    assert snap.report.transfers == len(snap.transfers)
    # One writer, so ids have no gaps; every write has a key (given or derived), once.
    assert [row[0] for row in snap.outcomes] == list(range(1, len(snap.outcomes) + 1))
    keys = snap.keys_in_order()
    assert None not in keys
    assert [k for k, n in Counter(keys).items() if n > 1] == []
    # Each outcome's idempotency record is there with it, and no other.
    assert sorted(key for _scope, key, _fp in snap.keys) == sorted(keys)
    assert {scope for scope, _key, _fp in snap.keys} <= {PROGRAM}
    # Transfers: only awards and bonuses, each caused by a stored outcome.
    ids = {row[0] for row in snap.outcomes}
    for _id, kind, _src, _dst, amount, _who, cause, _at in snap.transfers:
        assert kind in ("award", "bonus")
        assert amount > 0
        assert cause.startswith("outcome:")
        assert int(cause.removeprefix("outcome:")) in ids
    # Every cached balance is the sum of its transfers, and the ledger sums to zero.
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for _id, _kind, src, dst, amount, _who, _cause, _at in snap.transfers:
        summed[PROGRAM, src] -= amount
        summed[PROGRAM, dst] += amount
    assert snap.balances == dict(summed)
    assert sum(snap.balances.values()) == 0


def utc_text(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- the stores -------------------------------------------------------------------------------


def soak_rounds(default: int) -> int:
    return int(os.environ.get("CMREWARDS_SOAK_ROUNDS", str(default)))


class Backend(ABC):
    """What the scenarios need of one kind of store; everything else is the same on both."""

    kind: str
    rounds: int
    """Kill rounds of the recording test."""
    import_kills: int
    """Kills of the import test."""
    start_window: float
    """Seconds after its start within which an import child killed at a random time dies:
    while it starts, replays what is done, or imports."""
    chunk_window: float
    """Seconds after a chunk's progress line within which an import child's kill lands."""

    @abstractmethod
    def child_location(self, location: str, name: str) -> str:
        """Where the child called ``name`` opens the clinic at ``location``."""

    @abstractmethod
    def settle(self, location: str, name: str) -> None:
        """After the kill of the child called ``name``: until its writes are as it left them."""

    @abstractmethod
    def query(self, location: str) -> AbstractContextManager[Query]:
        """A plain connection of the parent's own, past the library."""

    @contextmanager
    def database(self, directory: Path) -> Iterator[str]:
        """A new, empty database in (or named for) ``directory``, which is made."""
        directory.mkdir()
        with database_location(self.kind, directory) as location:
            assert location is not None
            yield location

    def spawn(self, mode: str, location: str, spec: dict[str, Any], work: Path, name: str) -> Child:
        """``CHILD`` (``record`` or ``import``) on the clinic at ``location``."""
        spec_file = work / f"{name}.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        argv = [mode, self.child_location(location, name), str(spec_file)]
        return start(CHILD, argv, work, name)

    def inspect(self, location: str) -> Snapshot:
        """Open the clinic as the next terminal would, verify it, and read what it holds."""
        with cmrewards.open(location) as clinic:
            report = clinic.verify()
        with self.query(location) as query:
            return Snapshot(
                report=report,
                outcomes=query(
                    "SELECT id, participant, target, outcome, occurred_at, key, note"
                    " FROM outcomes ORDER BY id"
                ),
                transfers=query(
                    "SELECT id, kind, from_account, to_account, amount, participant, cause,"
                    " occurred_at FROM transfers ORDER BY id"
                ),
                balances={
                    (program, account): points
                    for program, account, points in query(
                        "SELECT program_id, account, points FROM balances"
                    )
                },
                states=query(
                    "SELECT participant, target, pos, run, saved, last_week FROM schedule_states"
                    " ORDER BY participant, target"
                ),
                keys=query("SELECT scope, key, fingerprint FROM idempotency ORDER BY scope, key"),
            )


class SQLiteBackend(Backend):
    """A file, which the child opens by its path."""

    kind = "sqlite"
    rounds = soak_rounds(20)
    import_kills = max(6, rounds // 4)
    start_window = 0.4
    chunk_window = 0.03
    """A chunk takes about 10 ms with its fsync."""

    def child_location(self, location: str, name: str) -> str:
        return location

    def settle(self, location: str, name: str) -> None:
        # Nothing to wait for: the dead child's writes are in the file as it left them. A kill
        # between a commit reaching the WAL (its fsync may still be running) and the report
        # line being written leaves exactly that one write committed but unreported; a
        # transaction not yet committed is not there for the next opener.
        pass

    @contextmanager
    def query(self, location: str) -> Iterator[Query]:
        conn = sqlite3.connect(location)
        try:
            yield lambda sql: conn.execute(sql).fetchall()
        finally:
            conn.close()


class PostgresBackend(Backend):
    """A schema of the test cluster's database, which the child opens by a URL carrying an
    ``application_name`` of its own: after a kill the parent waits until the server has
    finished with the dead connection (committed the transaction whose COMMIT it had already
    received, or rolled back the one in flight) before it looks."""

    kind = "postgres"
    rounds = soak_rounds(10)
    """Fewer than SQLite's 20, as a child takes longer to start (it imports psycopg and
    connects); ``make soak`` raises it."""
    import_kills = max(4, rounds // 3)
    start_window = 0.5
    chunk_window = 0.02

    def child_location(self, location: str, name: str) -> str:
        return named(location, name)

    def settle(self, location: str, name: str) -> None:
        # A write whose COMMIT the server received is committed there even when its child died
        # before writing the report line: that one write is committed but unreported.
        wait_until_gone(location, name)

    @contextmanager
    def query(self, location: str) -> Iterator[Query]:
        import psycopg

        with psycopg.connect(location) as conn:
            yield lambda sql: conn.execute(sql).fetchall()


SQLITE = SQLiteBackend()
POSTGRES = PostgresBackend()


@pytest.fixture(params=[SQLITE, POSTGRES], ids=lambda backend: backend.kind)
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    return chosen


@pytest.fixture
def new_database(backend: Backend, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Makes new, empty databases of the store (each in ``tmp_path / name``) for the test."""
    with ExitStack() as made:
        yield lambda name: made.enter_context(backend.database(tmp_path / name))


# --- the PostgreSQL server's side of a child ---------------------------------------------------


def application(name: str) -> str:
    """An ``application_name`` no other test run on the cluster uses."""
    return f"cmrw-{os.getpid()}-{name}"


def named(url: str, name: str) -> str:
    """The clinic's URL with ``application_name`` set: the child's backend, findable."""
    return f"{url}&application_name={application(name)}"


def backends(url: str, name: str) -> list[dict[str, Any]]:
    """The server's live backends of the child called ``name`` (state, wait, locks held)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.pid, a.state, a.wait_event_type, a.wait_event,"
            " (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory'"
            "  AND l.granted) AS advisory_held"
            " FROM pg_stat_activity a WHERE a.application_name = %s",
            [application(name)],
        ).fetchall()
    return [
        dict(zip(("pid", "state", "wait_type", "wait", "advisory_held"), row, strict=True))
        for row in rows
    ]


def wait_until_gone(url: str, name: str) -> None:
    """Until the server has ended the killed child's connection (and so its transaction):
    ``pg_stat_activity`` drops a backend only after its transaction has ended and its locks
    are released."""
    deadline = time.monotonic() + BACKEND_TIMEOUT
    while backends(url, name):
        if time.monotonic() > deadline:
            pytest.fail(f"the server kept {application(name)}'s connection {BACKEND_TIMEOUT} s")
        time.sleep(0.005)


# --- single records, killed at random -------------------------------------------------------


@dataclass(frozen=True)
class Write:
    key: str
    participant: str
    outcome: str
    at: dt.datetime


def planned(index: int, base: dt.datetime) -> Write:
    """The recorder's ``index``-th write: the same in every round and in the reference."""
    participant = RECORDERS[index % len(RECORDERS)]
    outcome = OUTCOMES[(index // len(RECORDERS)) % len(OUTCOMES)]
    at = base + dt.timedelta(seconds=5 * index)
    assert at < dt.datetime.now(dt.UTC), "the plan ran into the future; shorten it"
    return Write(f"lab-{index:07d}", participant, outcome, at)


@dataclass(frozen=True)
class Reported:
    key: str
    outcome_id: int
    points: int
    bonus: int


@pytest.mark.slow
def test_killed_recorder_loses_no_reported_write_and_half_writes_none(
    backend: Backend, new_database: Callable[[str], str], tmp_path: Path
) -> None:
    db = new_database("clinic")
    rng = random.Random(SEED)
    set_up(db, RECORDERS)
    base = first_visit()
    reported: list[Reported] = []
    unreported_commit = False
    early_kills = unreported_commits = replays = 0

    for round_no in range(backend.rounds):
        first = len(reported)
        # The child starts at the first write it never reported: a terminal retrying the
        # request it got no answer for. If that write did commit, the retry is a replay.
        writes = [planned(i, base) for i in range(first, first + WRITES_PER_ROUND)]
        spec = {
            "target": TARGET,
            "actor": ADMIN,
            "writes": [[w.key, w.participant, w.outcome, w.at.isoformat()] for w in writes],
        }
        name = f"record-{round_no}"
        child = backend.spawn("record", db, spec, tmp_path, name)
        if rng.random() < 0.15:
            # Now and then while it starts up (about half a second; on PostgreSQL it also
            # connects), opens the clinic (a write transaction of its own, on PostgreSQL under
            # the writers' lock) or makes its first writes.
            early_kills += 1
            time.sleep(rng.uniform(0.0, 0.6))
        else:
            wait_until(child, lambda lines: bool(lines))
            time.sleep(rng.uniform(0.0, MAX_DELAY))
        lines = finish(child, kill=True)
        backend.settle(db, name)

        committed = [e for e in lines if e["event"] == "committed"]
        for j, event in enumerate(committed):
            # In plan order; only a retry of the write in flight at the last kill is a replay.
            assert event["key"] == writes[j].key
            assert event["replayed"] == (j == 0 and unreported_commit), (round_no, event)
            replays += event["replayed"]
            reported.append(Reported(event["key"], event["id"], event["points"], event["bonus"]))

        snap = backend.inspect(db)
        check_whole(snap)
        stored = len(snap.outcomes)
        # What may be stored: every write the child reported (all rounds), in plan order, and
        # at most one more, the next one in the plan. The child writes one record at a time,
        # each one transaction, and reports it only after record() returns; a kill after the
        # commit but before the report line (``Backend.settle`` says how on each store) leaves
        # exactly that one write committed but unreported. Any other extra write, a missing
        # reported one, or a gap would be a durability bug.
        assert stored in (len(reported), len(reported) + 1), (round_no, stored, len(reported))
        assert snap.keys_in_order() == [planned(i, base).key for i in range(stored)]
        for i, (_id, participant, target, outcome, occurred_at, _key, note) in enumerate(
            snap.outcomes
        ):
            write = planned(i, base)
            assert (participant, target, outcome, occurred_at, note) == (
                write.participant,
                TARGET,
                write.outcome,
                utc_text(write.at),
                None,
            )
        paid = snap.paid()
        ids = {row[5]: row[0] for row in snap.outcomes}
        for report in reported:
            outcome_id = ids[report.key]
            assert outcome_id == report.outcome_id
            assert paid.get(outcome_id, (0, 0)) == (report.points, report.bonus)
        unreported_commit = stored == len(reported) + 1
        unreported_commits += unreported_commit

    # The kills did land among writes (not only before the first one).
    assert len(reported) >= backend.rounds, len(reported)
    # The database ends equal to the same writes made once, uninterrupted (in memory).
    snap = backend.inspect(db)
    with cmrewards.open() as reference:
        reference.init(ADMIN)
        reference.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
        for participant in RECORDERS:
            reference.enroll(participant, PROGRAM, start=enrolment_start(), actor=ADMIN)
        awards: dict[int, tuple[int, int]] = {}
        for i in range(len(snap.outcomes)):
            write = planned(i, base)
            result = reference.record(
                write.participant,
                TARGET,
                write.outcome,
                at=write.at,
                actor=ADMIN,
                key=write.key,
                visit=write.key,
            )
            if result.award.points or result.award.bonus_points:
                awards[result.outcome_id] = (result.award.points, result.award.bonus_points)
        assert snap.paid() == awards
        with cmrewards.open(db) as clinic:
            for participant in RECORDERS:
                assert clinic.balance(participant) == reference.balance(participant)
                assert clinic.preview(participant) == reference.preview(participant)
            # A terminal retrying any reported write now gets the stored answer back.
            last = planned(len(snap.outcomes) - 1, base)
            again = clinic.record(
                last.participant,
                TARGET,
                last.outcome,
                at=last.at,
                actor=ADMIN,
                key=last.key,
                visit=last.key,
            )
            assert again.replayed
            assert again.outcome_id == len(snap.outcomes)
            assert backend.inspect(db).outcomes == snap.outcomes
    print(
        f"recorder on {backend.kind}: {backend.rounds} kills ({early_kills} timed from its start),"
        f" {len(snap.outcomes)} writes, {unreported_commits} committed but unreported at the"
        f" kill, {replays} replayed by the retry"
    )


# --- bulk import, killed at random and resumed ----------------------------------------------------


def write_lab_file(path: Path, rows: int, base: dt.datetime) -> list[tuple[Any, ...]]:
    """A lab file of ``rows`` rows; returns what each row must store: (participant, target,
    outcome, occurred_at, key or None for a derived one, note)."""
    expected: list[tuple[Any, ...]] = []
    people = imported(rows)
    minus_seven = dt.timezone(dt.timedelta(hours=-7))
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["participant", "target", "outcome", "at", "key", "note"])
        for i in range(rows):
            participant = people[i % len(people)]
            outcome = OUTCOMES[(i // len(people)) % len(OUTCOMES)]
            at = base + dt.timedelta(days=i // len(people), minutes=2 * (i % len(people)))
            assert at < dt.datetime.now(dt.UTC)
            # The same instant written the ways lab exports write it (the program is in UTC).
            text = [
                at.isoformat().replace("+00:00", "Z"),
                at.isoformat(),
                at.astimezone(minus_seven).isoformat(),
                at.replace(tzinfo=None).isoformat(timespec="minutes"),
            ][i % 4]
            key = "" if i % 4 == 3 else f"acc-{i:06d}"
            note = ["", "batch 7, rerun", 'said "fine"', ""][i % 4] if i % 5 == 0 else ""
            writer.writerow([participant, TARGET, outcome, text, key, note])
            expected.append((participant, TARGET, outcome, utc_text(at), key or None, note or None))
    return expected


def check_prefix(snap: Snapshot, expected: list[tuple[Any, ...]], rows: list[ImportRow]) -> None:
    """The stored outcomes are the file's first rows, in order, each as the file says."""
    assert len(snap.outcomes) <= len(expected)
    for stored, want, row in zip(snap.outcomes, expected, rows, strict=False):
        participant, target, outcome, at, key, note = want
        # A row without a key is stored under the key derived from its contents.
        assert stored[1:] == (participant, target, outcome, at, key or row.key, note)
        assert row.key.startswith("row:") if key is None else row.key == key


@pytest.mark.slow
def test_import_killed_mid_way_and_resumed_ends_equal_to_a_clean_import(
    backend: Backend, new_database: Callable[[str], str], tmp_path: Path
) -> None:
    resumed, clean = new_database("resumed"), new_database("clean")
    rng = random.Random(SEED + 1)
    kills = backend.import_kills
    # About eight chunks of progress per kill; the last chunk is short.
    total = kills * 8 * CHUNK_SIZE - 3
    lab = tmp_path / "lab.csv"
    expected = write_lab_file(lab, total, first_visit())
    with lab.open(newline="", encoding="utf-8") as file:
        parsed = list(read_rows(file, str(lab)))
    rows = [r for r in parsed if isinstance(r, ImportRow)]
    assert len(rows) == len(parsed) == total
    set_up(resumed, imported(total))
    set_up(clean, imported(total))
    spec = {"csv": str(lab), "actor": ADMIN, "chunk_size": CHUNK_SIZE}
    step = total // (kills + 2)

    committed = 0
    for round_no in range(kills):
        name = f"import-{round_no}"
        child = backend.spawn("import", resumed, spec, tmp_path, name)
        style = rng.random()
        ahead = min(total - 1, committed + 2 * step)
        goal = None
        if 0.2 <= style < 0.35 and committed:
            # While it skips the rows the killed runs committed (those chunks still commit).
            goal = rng.randint(1, committed)
        elif style >= 0.35 and committed < ahead:
            # Past them, importing new rows.
            goal = rng.randint(committed + 1, ahead)
        if goal is None:
            # At a random time: while it starts, replays what is done, or imports.
            time.sleep(rng.uniform(0.0, backend.start_window))
        else:

            def reached(lines: list[dict[str, Any]], goal: int = goal) -> bool:
                seen: int = sum(e["rows"] for e in lines if e["event"] == "chunk")
                return seen >= goal

            wait_until(child, reached)
            # Somewhere inside the next chunk's transaction, or between chunks.
            time.sleep(rng.uniform(0.0, backend.chunk_window))
        lines = finish(child, kill=True)
        backend.settle(resumed, name)

        chunks = [e["rows"] for e in lines if e["event"] == "chunk"]
        assert all(n == CHUNK_SIZE for n in chunks[:-1])
        done = [e for e in lines if e["event"] == "done"]
        reported = sum(chunks)
        snap = backend.inspect(resumed)
        check_whole(snap)
        check_prefix(snap, expected, rows)
        stored = len(snap.outcomes)
        # What may be stored: whole chunks only, at least every row reported (in this run or
        # committed by an earlier one), and beyond that at most the one chunk in flight at the
        # kill, committed before its progress line was written. A chunk committed by an
        # earlier run is replayed, not written again, so it adds nothing.
        allowed = {max(committed, reported)}
        if reported + CHUNK_SIZE > committed:
            allowed.add(min(total, reported + CHUNK_SIZE))
        if done:
            allowed = {total}
        assert stored in allowed, (round_no, stored, sorted(allowed), reported, committed)
        committed = stored

    # Run it to the end: it skips what is there and applies the rest.
    child = backend.spawn("import", resumed, spec, tmp_path, "import-final")
    lines = finish(child, kill=False)
    assert sum(e["rows"] for e in lines if e["event"] == "chunk") == total
    (final,) = [e for e in lines if e["event"] == "done"]
    assert (final["rows"], final["applied"], final["replayed"]) == (
        total,
        total - committed,
        committed,
    )
    assert (final["failed_line"], final["error"]) == (None, None)

    # The same file imported once, uninterrupted, in one chunk per 500 rows.
    with cmrewards.open(clean) as clinic, lab.open(newline="", encoding="utf-8") as file:
        report = clinic.import_outcomes(read_rows(file, str(lab)), actor=ADMIN)
    assert (report.complete, report.applied, report.replayed) == (True, total, 0)

    after_kills, uninterrupted = backend.inspect(resumed), backend.inspect(clean)
    for snap in (after_kills, uninterrupted):
        check_whole(snap)
        check_prefix(snap, expected, rows)
        assert len(snap.outcomes) == total
    assert after_kills.outcomes == uninterrupted.outcomes
    assert after_kills.transfers == uninterrupted.transfers
    assert after_kills.balances == uninterrupted.balances
    assert after_kills.states == uninterrupted.states
    assert after_kills.keys == uninterrupted.keys
    print(
        f"import on {backend.kind}: {kills} kills, {total} rows,"
        f" {committed} committed before the final run"
    )
