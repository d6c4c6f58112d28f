"""Crash safety on PostgreSQL only: what random kills hit only by chance, made certain.

The random-kill scenarios (a recorder killed at random, an import killed and resumed) run on
PostgreSQL as on SQLite in test_crash_safety.py; its helpers serve here too. These tests use
``WRITER``, a child with one hook patched in, opening the clinic by a URL that carries an
``application_name`` of its own, so that the parent can find its backend on the server.

A writer stopped inside its transaction, holding the writers' advisory lock with an outcome,
its schedule state and its award inserted, is killed there; the writer queued behind it goes
on at once (the server releases the lock with the dead connection) and none of the dead write
remains. And a writer killed after its COMMIT went out but before the answer came back: the
write is there once, and the retry of its key replays it.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from test_crash_safety import (
    ADMIN,
    CHILD_TIMEOUT,
    POSTGRES,
    RECORDERS,
    TARGET,
    backends,
    check_whole,
    events,
    finish,
    first_visit,
    named,
    set_up,
    start,
    wait_until,
    wait_until_gone,
)

import cmrewards
from cmrewards.domain.results import RecordResult
from cmrewards.store.postgres import PostgresStore
from support import postgres as postgres_support

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
        with self._conn._conn.pipeline() as pipeline:  # the write waits in the pipeline:
            pipeline.sync()  # send it, and end the server's batch (idle in transaction)
        say(event="holding", transfers=[t.id for t in transfers])
        time.sleep(600)

    SQLTx.append_transfers = stalled
else:
    real_execute = psycopg.Connection.execute
    armed = False

    def execute(self, query, *args, **kwargs):
        if armed and query == "COMMIT":
            # The COMMIT goes out on the wire, after what the write's pipeline queued before
            # it; the process dies before reading the answer.
            self.pgconn.send_query_params(b"COMMIT", None)
            self.pgconn.pipeline_sync()
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


def written_by(url: str, pid: int) -> set[str]:
    """The tables a backend's open transaction has written to (holds ROW EXCLUSIVE on)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'",
            [pid],
        ).fetchall()
    return {name for (name,) in rows}


# --- the clinic -------------------------------------------------------------------------


@pytest.fixture
def clinic_url() -> Iterator[str]:
    with postgres_support.database() as url:
        yield url


# --- a writer killed holding the writers' lock ----------------------------------------------


@pytest.mark.slow
def test_a_writer_killed_inside_its_transaction_frees_the_lock_and_leaves_nothing(
    clinic_url: str, tmp_path: Path
) -> None:
    set_up(clinic_url, RECORDERS)
    at = first_visit()
    with cmrewards.open(clinic_url) as clinic:
        clinic.record("P002", TARGET, "met", at=at, actor=ADMIN, key="lab-before")
    before = POSTGRES.inspect(clinic_url)
    check_whole(before)
    dump = postgres_support.table_dump(clinic_url)

    outcome: list[RecordResult | BaseException] = []
    opened, go = threading.Event(), threading.Event()

    def write() -> None:
        # The next terminal is open already (opening takes the writers' lock too). A Clinic
        # belongs to the thread that opened it, so the writer's thread opens its own.
        with cmrewards.open(named(clinic_url, "next")) as waiting:
            opened.set()
            go.wait()
            # The same sample, same key: the front desk retrying what the dead terminal sent.
            try:
                outcome.append(
                    waiting.record("P001", TARGET, "met", at=at, actor=ADMIN, key="lab-stalled")
                )
            except BaseException as error:  # reported below, not lost in the thread
                outcome.append(error)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert opened.wait(CHILD_TIMEOUT), "the next terminal could not open"
    spec = {"participant": "P001", "target": TARGET, "at": at.isoformat(), "actor": ADMIN}
    spec |= {"key": "lab-stalled", "mode": "stall"}
    holder = start(WRITER, [named(clinic_url, "holder"), json.dumps(spec)], tmp_path, "holder")
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

        go.set()
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
        go.set()  # never leave the writer waiting
        writer.join(timeout=CHILD_TIMEOUT)
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

    after = POSTGRES.inspect(clinic_url)
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
    before = POSTGRES.inspect(clinic_url)

    spec = {"participant": "P001", "target": TARGET, "at": at.isoformat(), "actor": ADMIN}
    spec |= {"key": "lab-unanswered", "mode": "die-after-commit"}
    child = start(WRITER, [named(clinic_url, "dying"), json.dumps(spec)], tmp_path, "dying")
    assert child.process.wait(timeout=CHILD_TIMEOUT) == -signal.SIGKILL, child.err.read_text()
    assert [e["event"] for e in events(child)] == ["ready"]
    wait_until_gone(clinic_url, "dying")

    after = POSTGRES.inspect(clinic_url)
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
    assert POSTGRES.inspect(clinic_url).outcomes == after.outcomes
