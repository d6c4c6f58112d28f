"""Crash safety on PostgreSQL: a terminal killed with SIGKILL at any moment loses nothing it
reported and leaves nothing half-written (the PostgreSQL counterpart of test_crash_safety.py).

The child processes are test_crash_safety.py's (``CHILD``): they open the clinic with
``cmrewards.open(url)``, write, and report each committed write as one JSON line on stdout,
which goes to a plain file. Each child's URL carries an ``application_name`` of its own, so
after a kill the parent can wait until the server has finished with the dead connection
(committed the transaction whose COMMIT it had already received, or rolled back the one in
flight) before it looks: ``pg_stat_activity`` drops a backend only after its transaction has
ended and its locks are released.

After each kill the parent checks what the next terminal would find: ``verify`` passes,
every write the child reported is stored exactly once, nothing else is stored but the one
write that was in flight (and then the retry of its key replays it), and no unit is
half-written (an outcome without its transfers, a balance that is not the sum of its
transfers, an idempotency record without its outcome, a partial import chunk).

Two tests make certain what random kills hit only by chance (``WRITER``, a child with one
hook patched in): a writer stopped inside its transaction, holding the writers' advisory lock
with an outcome, its schedule state and its award inserted, is killed there; the writer
queued behind it goes on at once (the server releases the lock with the dead connection) and
none of the dead write remains. And a writer killed after its COMMIT went out but before the
answer came back: the write is there once, and the retry of its key replays it.

``CMREWARDS_SOAK_ROUNDS`` sets the recorder's kill rounds (10 unless set; the import test
kills ``max(4, ROUNDS // 3)`` times); ``CMREWARDS_CRASH_SEED`` changes the kill schedule.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cmrewards
import postgres_support
from cmrewards.importer import ImportRow, read_rows
from cmrewards.results import RecordResult
from cmrewards.store.postgres import PostgresStore
from test_crash_safety import (
    ADMIN,
    CHILD,
    CHILD_TIMEOUT,
    CHUNK_SIZE,
    IMPORTED,
    MAX_DELAY,
    PROGRAM,
    RECORDERS,
    SEED,
    TARGET,
    WRITES_PER_ROUND,
    Child,
    Reported,
    Snapshot,
    check_prefix,
    check_whole,
    enrolment_start,
    events,
    finish,
    first_visit,
    planned,
    utc_text,
    wait_until,
    write_lab_file,
)

ROUNDS = int(os.environ.get("CMREWARDS_SOAK_ROUNDS", "10"))
"""Kill rounds of the recording test: fewer than SQLite's 20, as a child takes longer to
start (it imports psycopg and connects); ``make soak`` raises it."""
BACKEND_TIMEOUT = 30.0
"""Seconds the server may take to end a killed child's connection."""

WRITER = r"""
import datetime as dt, json, os, signal, sys, time
import psycopg
import cmrewards
from cmrewards.store.sql_tx import SQLTx

url, spec = sys.argv[1], json.loads(sys.argv[2])


def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


if spec["mode"] == "stall":
    real_append = SQLTx.append_transfers

    def stalled(self, transfers):
        # Inside record()'s transaction, the writers' lock held: the outcome, its schedule
        # state and now its award are inserted, nothing is committed. Stop here for good.
        real_append(self, transfers)
        say(event="holding", transfers=[t.id for t in transfers])
        time.sleep(600)

    SQLTx.append_transfers = stalled
else:
    real_execute = psycopg.Connection.execute
    armed = False

    def execute(self, query, *args, **kwargs):
        if armed and query == "COMMIT":
            # The COMMIT goes out on the wire; the process dies before reading the answer.
            self.pgconn.send_query(b"COMMIT")
            while self.pgconn.flush():
                pass
            os.kill(os.getpid(), signal.SIGKILL)
        return real_execute(self, query, *args, **kwargs)

    psycopg.Connection.execute = execute

clinic = cmrewards.open(url)
say(event="ready")
armed = True
clinic.record(
    spec["participant"], spec["target"], "met", at=dt.datetime.fromisoformat(spec["at"]),
    actor=spec["actor"], key=spec["key"],
)
say(event="committed")
"""


# --- the server's side of a child ---------------------------------------------------------


def application(name: str) -> str:
    """An ``application_name`` no other test run on the cluster uses."""
    return f"cmrw-{os.getpid()}-{name}"


def named(url: str, name: str) -> str:
    """The clinic's URL with ``application_name`` set: the child's backend, findable."""
    return f"{url}&application_name={application(name)}"


def backends(url: str, name: str) -> list[dict[str, Any]]:
    """The server's live backends of the child called ``name`` (state, wait, locks held)."""
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


def written_by(url: str, pid: int) -> set[str]:
    """The tables a backend's open transaction has written to (holds ROW EXCLUSIVE on)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'",
            [pid],
        ).fetchall()
    return {name for (name,) in rows}


def wait_until_gone(url: str, name: str) -> None:
    """Until the server has ended the killed child's connection (and so its transaction)."""
    deadline = time.monotonic() + BACKEND_TIMEOUT
    while backends(url, name):
        if time.monotonic() > deadline:
            pytest.fail(f"the server kept {application(name)}'s connection {BACKEND_TIMEOUT} s")
        time.sleep(0.005)


def spawn(script: str, argv: list[str], work: Path, name: str) -> Child:
    out, err = work / f"{name}.out", work / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", script, *argv], stdout=stdout, stderr=stderr
        )
    return Child(process, out, err)


def spawn_crash_child(mode: str, url: str, spec: dict[str, Any], work: Path, name: str) -> Child:
    """test_crash_safety's child (``record`` or ``import``) on the clinic at ``url``."""
    spec_file = work / f"{name}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    return spawn(CHILD, [mode, named(url, name), str(spec_file)], work, name)


# --- the clinic -------------------------------------------------------------------------


@pytest.fixture
def clinic_url() -> Iterator[str]:
    with postgres_support.database() as url:
        yield url


def set_up(url: str, participants: list[str]) -> None:
    with cmrewards.open(url) as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
        for participant in participants:
            clinic.enroll(participant, PROGRAM, start=enrolment_start(), actor=ADMIN)


def inspect(url: str) -> Snapshot:
    """Open the clinic as the next terminal would, verify it, and read what it holds."""
    with cmrewards.open(url) as clinic:
        report = clinic.verify()
    with psycopg.connect(url) as conn:
        return Snapshot(
            report=report,
            outcomes=conn.execute(
                "SELECT id, participant, target, outcome, occurred_at, key, note"
                " FROM outcomes ORDER BY id"
            ).fetchall(),
            transfers=conn.execute(
                "SELECT id, kind, from_account, to_account, amount, participant, cause,"
                " occurred_at FROM transfers ORDER BY id"
            ).fetchall(),
            balances={
                (program, account): points
                for program, account, points in conn.execute(
                    "SELECT program_id, account, points FROM balances"
                ).fetchall()
            },
            states=conn.execute(
                "SELECT participant, target, pos, run, saved, last_week FROM schedule_states"
                " ORDER BY participant, target"
            ).fetchall(),
            keys=conn.execute(
                "SELECT scope, key, fingerprint FROM idempotency ORDER BY scope, key"
            ).fetchall(),
        )


# --- single records, killed at random -----------------------------------------------------


@pytest.mark.slow
def test_killed_recorder_loses_no_reported_write_and_half_writes_none(
    clinic_url: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    set_up(clinic_url, RECORDERS)
    base = first_visit()
    reported: list[Reported] = []
    unreported_commit = False
    early_kills = unreported_commits = replays = 0

    for round_no in range(ROUNDS):
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
        child = spawn_crash_child("record", clinic_url, spec, tmp_path, name)
        if rng.random() < 0.15:
            # Now and then while it starts, connects, opens the clinic (a write transaction
            # of its own, under the writers' lock) or makes its first writes.
            early_kills += 1
            time.sleep(rng.uniform(0.0, 0.6))
        else:
            wait_until(child, lambda lines: bool(lines))
            time.sleep(rng.uniform(0.0, MAX_DELAY))
        lines = finish(child, kill=True)
        wait_until_gone(clinic_url, name)

        committed = [e for e in lines if e["event"] == "committed"]
        for j, event in enumerate(committed):
            # In plan order; only a retry of the write in flight at the last kill is a replay.
            assert event["key"] == writes[j].key
            assert event["replayed"] == (j == 0 and unreported_commit), (round_no, event)
            replays += event["replayed"]
            reported.append(Reported(event["key"], event["id"], event["points"], event["bonus"]))

        snap = inspect(clinic_url)
        check_whole(snap)
        stored = len(snap.outcomes)
        # Every reported write, in plan order, and at most the next one: committed on the
        # server (COMMIT received) while its child died before writing the report line.
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
    assert len(reported) >= ROUNDS, len(reported)
    # The database ends equal to the same writes made once, uninterrupted (in memory).
    snap = inspect(clinic_url)
    with cmrewards.open() as reference:
        reference.init(ADMIN)
        reference.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
        for participant in RECORDERS:
            reference.enroll(participant, PROGRAM, start=enrolment_start(), actor=ADMIN)
        awards: dict[int, tuple[int, int]] = {}
        for i in range(len(snap.outcomes)):
            write = planned(i, base)
            result = reference.record(
                write.participant, TARGET, write.outcome, at=write.at, actor=ADMIN, key=write.key
            )
            if result.award.points or result.award.bonus_points:
                awards[result.outcome_id] = (result.award.points, result.award.bonus_points)
        assert snap.paid() == awards
        with cmrewards.open(clinic_url) as clinic:
            for participant in RECORDERS:
                assert clinic.balance(participant) == reference.balance(participant)
                assert clinic.preview(participant) == reference.preview(participant)
            # A terminal retrying any reported write now gets the stored answer back.
            last = planned(len(snap.outcomes) - 1, base)
            again = clinic.record(
                last.participant, TARGET, last.outcome, at=last.at, actor=ADMIN, key=last.key
            )
            assert again.replayed
            assert again.outcome_id == len(snap.outcomes)
            assert inspect(clinic_url).outcomes == snap.outcomes
    print(
        f"recorder: {ROUNDS} kills ({early_kills} timed from its start),"
        f" {len(snap.outcomes)} writes, {unreported_commits} committed but unreported at the"
        f" kill, {replays} replayed by the retry"
    )


# --- bulk import, killed at random and resumed ----------------------------------------------


@pytest.mark.slow
def test_import_killed_mid_way_and_resumed_ends_equal_to_a_clean_import(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED + 1)
    kills = max(4, ROUNDS // 3)
    total = kills * 8 * CHUNK_SIZE - 3
    lab = tmp_path / "lab.csv"
    expected = write_lab_file(lab, total, first_visit())
    with lab.open(newline="", encoding="utf-8") as file:
        rows = [r for r in read_rows(file, str(lab)) if isinstance(r, ImportRow)]
    assert len(rows) == total
    spec = {"csv": str(lab), "actor": ADMIN, "chunk_size": CHUNK_SIZE}
    step = total // (kills + 2)

    with postgres_support.database() as resumed, postgres_support.database() as clean:
        set_up(resumed, IMPORTED)
        set_up(clean, IMPORTED)
        committed = 0
        for round_no in range(kills):
            name = f"import-{round_no}"
            child = spawn_crash_child("import", resumed, spec, tmp_path, name)
            ahead = min(total - 1, committed + 2 * step)
            if rng.random() < 0.25 or committed >= ahead:
                # At a random time: while it starts, replays what is done, or imports.
                time.sleep(rng.uniform(0.0, 0.5))
            else:
                goal = rng.randint(committed + 1, ahead)

                def reached(lines: list[dict[str, Any]], goal: int = goal) -> bool:
                    seen: int = sum(e["rows"] for e in lines if e["event"] == "chunk")
                    return seen >= goal

                wait_until(child, reached)
                # Inside the next chunk's transaction, or between two chunks.
                time.sleep(rng.uniform(0.0, 0.02))
            lines = finish(child, kill=True)
            wait_until_gone(resumed, name)

            chunks = [e["rows"] for e in lines if e["event"] == "chunk"]
            assert all(n == CHUNK_SIZE for n in chunks[:-1])
            reported = sum(chunks)
            snap = inspect(resumed)
            check_whole(snap)
            check_prefix(snap, expected, rows)
            stored = len(snap.outcomes)
            # Whole chunks only: every row reported (now or by an earlier run) and at most
            # the one chunk in flight, committed before its progress line was written.
            allowed = {max(committed, reported)}
            if reported + CHUNK_SIZE > committed:
                allowed.add(min(total, reported + CHUNK_SIZE))
            if any(e["event"] == "done" for e in lines):
                allowed = {total}
            assert stored in allowed, (round_no, stored, sorted(allowed), reported, committed)
            committed = stored

        child = spawn_crash_child("import", resumed, spec, tmp_path, "import-final")
        lines = finish(child, kill=False)
        (final,) = [e for e in lines if e["event"] == "done"]
        assert (final["rows"], final["applied"], final["replayed"]) == (
            total,
            total - committed,
            committed,
        )
        assert (final["failed_line"], final["error"]) == (None, None)

        with cmrewards.open(clean) as clinic, lab.open(newline="", encoding="utf-8") as file:
            report = clinic.import_outcomes(read_rows(file, str(lab)), actor=ADMIN)
        assert (report.complete, report.applied, report.replayed) == (True, total, 0)

        after_kills, uninterrupted = inspect(resumed), inspect(clean)
    for snap in (after_kills, uninterrupted):
        check_whole(snap)
        check_prefix(snap, expected, rows)
        assert len(snap.outcomes) == total
    assert after_kills.outcomes == uninterrupted.outcomes
    assert after_kills.transfers == uninterrupted.transfers
    assert after_kills.balances == uninterrupted.balances
    assert after_kills.states == uninterrupted.states
    assert after_kills.keys == uninterrupted.keys
    print(f"import: {kills} kills, {total} rows, {committed} committed before the final run")


# --- a writer killed holding the writers' lock ----------------------------------------------


@pytest.mark.slow
def test_a_writer_killed_inside_its_transaction_frees_the_lock_and_leaves_nothing(
    clinic_url: str, tmp_path: Path
) -> None:
    set_up(clinic_url, RECORDERS)
    at = first_visit()
    with cmrewards.open(clinic_url) as clinic:
        clinic.record("P002", TARGET, "met", at=at, actor=ADMIN, key="lab-before")
    before = inspect(clinic_url)
    check_whole(before)
    dump = postgres_support.table_dump(clinic_url)

    # The next terminal is open already (opening takes the writers' lock too).
    waiting = cmrewards.open(named(clinic_url, "next"))
    spec = {"participant": "P001", "target": TARGET, "at": at.isoformat(), "actor": ADMIN}
    spec |= {"key": "lab-stalled", "mode": "stall"}
    holder = spawn(WRITER, [named(clinic_url, "holder"), json.dumps(spec)], tmp_path, "holder")
    outcome: list[RecordResult | BaseException] = []

    def write() -> None:
        # The same sample, same key: the front desk retrying what the dead terminal sent.
        try:
            outcome.append(
                waiting.record("P001", TARGET, "met", at=at, actor=ADMIN, key="lab-stalled")
            )
        except BaseException as error:  # reported below, not lost in the thread
            outcome.append(error)

    writer = threading.Thread(target=write)
    try:
        wait_until(holder, lambda lines: any(e["event"] == "holding" for e in lines))
        assert holder.process.poll() is None, holder.err.read_text(errors="replace")
        # It is inside its transaction, holding the writers' lock, with rows written to the
        # outcome, transfer and balance tables that nobody else can see.
        (backend,) = backends(clinic_url, "holder")
        assert backend["state"] == "idle in transaction", backend
        assert backend["advisory_held"] == 1, backend
        assert {"outcomes", "transfers", "balances", "schedule_states"} <= written_by(
            clinic_url, backend["pid"]
        )
        assert postgres_support.table_dump(clinic_url) == dump

        # A writer that will not wait long is turned away: the lock really is held.
        with pytest.raises(cmrewards.Busy):
            PostgresStore(clinic_url, busy_timeout_ms=200)

        writer.start()
        deadline = time.monotonic() + 10
        while [b["wait"] for b in backends(clinic_url, "next")] != ["advisory"]:
            assert writer.is_alive(), outcome
            assert time.monotonic() < deadline, "the next writer never queued on the lock"
            time.sleep(0.005)

        killed_at = time.monotonic()
        lines = finish(holder, kill=True)
        writer.join(timeout=CHILD_TIMEOUT)
        waited = time.monotonic() - killed_at
    finally:
        if holder.process.poll() is None:
            holder.process.send_signal(signal.SIGKILL)
            holder.process.wait()
        if not writer.is_alive():
            waiting.close()
    assert not writer.is_alive()
    assert [e["event"] for e in lines] == ["ready", "holding"]
    # Well within the queued writer's 10 s lock timeout: the lock went with the connection.
    assert waited < 5, waited
    (result,) = outcome
    assert isinstance(result, RecordResult), result
    # The dead write left nothing: the retry is a first write, in the id it had taken.
    assert not result.replayed
    assert result.outcome_id == len(before.outcomes) + 1
    assert result.award.points > 0
    with cmrewards.open(clinic_url) as clinic:
        again = clinic.record("P001", TARGET, "met", at=at, actor=ADMIN, key="lab-stalled")
    assert again.replayed
    assert again.outcome_id == result.outcome_id

    after = inspect(clinic_url)
    check_whole(after)
    assert after.outcomes[: len(before.outcomes)] == before.outcomes
    assert [row[5] for row in after.outcomes] == ["lab-before", "lab-stalled"]
    assert after.transfers[: len(before.transfers)] == before.transfers
    assert len(after.transfers) == len(before.transfers) + 1
    assert after.paid()[result.outcome_id] == (result.award.points, 0)


@pytest.mark.slow
def test_a_write_committed_but_never_answered_is_there_once_and_its_retry_replays(
    clinic_url: str, tmp_path: Path
) -> None:
    """The window the random kills rarely hit, made certain: the server has the COMMIT, the
    terminal dies before its answer arrives, so the front desk never saw the result."""
    set_up(clinic_url, RECORDERS)
    at = first_visit()
    with cmrewards.open(clinic_url) as clinic:
        clinic.record("P002", TARGET, "met", at=at, actor=ADMIN, key="lab-before")
    before = inspect(clinic_url)

    spec = {"participant": "P001", "target": TARGET, "at": at.isoformat(), "actor": ADMIN}
    spec |= {"key": "lab-unanswered", "mode": "die-after-commit"}
    child = spawn(WRITER, [named(clinic_url, "dying"), json.dumps(spec)], tmp_path, "dying")
    assert child.process.wait(timeout=CHILD_TIMEOUT) == -signal.SIGKILL, child.err.read_text()
    assert [e["event"] for e in events(child)] == ["ready"]
    wait_until_gone(clinic_url, "dying")

    after = inspect(clinic_url)
    check_whole(after)
    assert after.outcomes[:-1] == before.outcomes
    assert after.keys_in_order()[-1] == "lab-unanswered"
    stored_id = after.outcomes[-1][0]
    paid = after.paid()[stored_id]
    with cmrewards.open(clinic_url) as clinic:
        retry = clinic.record("P001", TARGET, "met", at=at, actor=ADMIN, key="lab-unanswered")
        assert retry.replayed
        assert (retry.outcome_id, (retry.award.points, retry.award.bonus_points)) == (
            stored_id,
            paid,
        )
    assert inspect(clinic_url).outcomes == after.outcomes
