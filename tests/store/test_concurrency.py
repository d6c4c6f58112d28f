"""Several processes writing one database at once lose nothing (docs/design.md section 6).

Each test runs on a SQLite file and on a PostgreSQL database (the ``shared_database``
fixture). Each writer is a separate Python process (a staff terminal) that opens the
database with ``cmrewards.open(location)`` and reports, as JSON on stdout, every write
it committed. The processes wait on a start file so that their writes really overlap.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import stat
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

import cmrewards
from cmrewards import Clinic
from cmrewards.store.migrations import KNOWN, MIGRATIONS
from support import postgres as postgres_support

PROGRAM = "higgins-vbrt"
TARGET = "stimulant-negative"
ADMIN = "admin-1"
OUTCOMES = ["met", "met", "met", "not_met", "met", "missed", "met", "met", "excused", "invalid"]

WORKER = r"""
import datetime as dt, json, pathlib, random, sys, time
import cmrewards

location, go, spec = sys.argv[1], pathlib.Path(sys.argv[2]), json.loads(sys.argv[3])
clinic = cmrewards.open(location)
pathlib.Path(sys.argv[4]).touch()
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("the start file never appeared")
    time.sleep(0.002)
base = dt.datetime.fromisoformat(spec["base"])
records, adjustments = [], []
pause = random.Random()


def think():
    # A terminal does something between writes; without it the writer that holds
    # the lock takes it again at once and the others only wait (no interleaving).
    time.sleep(pause.uniform(0, spec["pause"]))


for step in range(spec["steps"]):
    at = base + dt.timedelta(hours=step)
    for participant in spec["own"]:
        think()
        outcome = spec["outcomes"][step % len(spec["outcomes"])]
        key = None if spec["keys"] is None else f"{spec['keys']}-{step}"
        # Each step is its own visit, an hour apart (one result per visit).
        result = clinic.record(
            participant, spec["target"], outcome, at=at, actor=spec["actor"], key=key,
            visit=f"step-{step}",
        )
        records.append({
            "outcome_id": result.outcome_id,
            "participant": result.participant,
            "outcome": str(result.outcome),
            "at": result.occurred_at.isoformat(),
            "points": result.award.points,
            "bonus_points": result.award.bonus_points,
            "balance": result.balance.points,
            "key": key,
            "replayed": result.replayed,
        })
    for participant in spec["shared"]:
        think()
        points = 7 if step % 2 == 0 else -3
        result = clinic.adjust(
            participant, points, reason=f"terminal {spec['actor']} step {step}",
            actor=spec["actor"],
        )
        adjustments.append({
            "transfer_id": result.transfer.id,
            "participant": participant,
            "points": points,
            "kind": str(result.transfer.kind),
        })
clinic.close()
print(json.dumps({"records": records, "adjustments": adjustments}))
"""


OPENER = r"""
import json, pathlib, sys, time
import cmrewards

location, go = sys.argv[1], pathlib.Path(sys.argv[2])
pathlib.Path(sys.argv[4]).touch()
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("the start file never appeared")
    time.sleep(0.001)
try:
    with cmrewards.open(location) as clinic:
        clinic.init("admin-1")
        outcome = "created"
except cmrewards.AlreadyExists:
    outcome = "exists"
except cmrewards.CMRewardsError as error:
    outcome = f"{type(error).__name__}: {error}"
print(json.dumps(outcome))
"""


def start_date() -> dt.date:
    """An enrolment date far enough back that every clinical time used is in the past."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).date()


def base_time() -> dt.datetime:
    start = start_date()
    return dt.datetime(start.year, start.month, start.day, 9, tzinfo=dt.UTC)


def set_up(location: str, staff: list[str], participants: list[str]) -> None:
    with cmrewards.open(location) as clinic:
        clinic.init(ADMIN)
        for member in staff:
            clinic.add_staff(member, "admin", actor=ADMIN)
        clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
        for participant in participants:
            clinic.enroll(participant, PROGRAM, start=start_date(), actor=ADMIN)


def run_terminals(
    location: str, directory: Path, specs: list[dict[str, Any]], script: str = WORKER
) -> list[Any]:
    """Start one process per spec on the database at ``location``, let them go at once,
    and collect what each committed; the start and ready files go in ``directory``."""
    go = directory / "go"
    ready = [directory / f"ready-{i}" for i in range(len(specs))]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, location, str(go), json.dumps(spec), str(flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec, flag in zip(specs, ready, strict=True)
    ]
    # Start everyone at once, after each has imported cmrewards and opened the database.
    deadline = time.monotonic() + 30
    while not all(flag.exists() for flag in ready):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            break
        time.sleep(0.01)
    go.touch()
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def expected_awards(outcomes: list[str], times: list[dt.datetime]) -> list[tuple[int, int]]:
    """(points, bonus) of each outcome, recorded alone on a fresh in-memory clinic."""
    with cmrewards.open() as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
        clinic.enroll("P999", PROGRAM, start=start_date(), actor=ADMIN)
        results = [
            clinic.record("P999", TARGET, outcome, at=at, actor=ADMIN, visit=f"step-{step}")
            for step, (outcome, at) in enumerate(zip(outcomes, times, strict=True))
        ]
    return [(r.award.points, r.award.bonus_points) for r in results]


def switches(reports: list[dict[str, Any]]) -> int:
    """How often, in outcome id order, the writing terminal changed."""
    owner = {r["outcome_id"]: i for i, report in enumerate(reports) for r in report["records"]}
    order = [owner[outcome_id] for outcome_id in sorted(owner)]
    return sum(1 for a, b in itertools.pairwise(order) if a != b)


def transfers_made(record: dict[str, Any]) -> int:
    return int(record["points"] > 0) + int(record["bonus_points"] > 0)


@pytest.mark.slow
def test_several_processes_writing_one_database_lose_nothing(
    shared_database: str, tmp_path: Path
) -> None:
    terminals = 3
    steps = 20
    own = {i: [f"P{2 * i + 1:03d}", f"P{2 * i + 2:03d}"] for i in range(terminals)}
    shared = ["P101", "P102"]
    staff = [f"term-{i}" for i in range(terminals)]
    set_up(shared_database, staff, [p for ps in own.values() for p in ps] + shared)
    specs = [
        {
            "actor": staff[i],
            "own": own[i],
            "shared": shared,
            "steps": steps,
            "base": base_time().isoformat(),
            "outcomes": OUTCOMES,
            "target": TARGET,
            "keys": None,
            "pause": 0.004,
        }
        for i in range(terminals)
    ]

    started = time.monotonic()
    reports = run_terminals(shared_database, tmp_path, specs)
    assert time.monotonic() - started < 30

    records = [r for report in reports for r in report["records"]]
    adjustments = [a for report in reports for a in report["adjustments"]]
    assert len(records) == terminals * 2 * steps
    assert len(adjustments) == terminals * len(shared) * steps
    assert not any(r["replayed"] for r in records)
    # The terminals' writes really interleaved (else this test proves little).
    assert switches(reports) >= 2 * terminals

    with cmrewards.open(shared_database) as clinic:
        report = clinic.verify()
        assert report.problems == ()
        assert report.ok
        assert report.outcomes == len(records)
        assert report.transfers == sum(map(transfers_made, records)) + len(adjustments)
        check_outcomes(clinic, records)
        check_adjustments(clinic, adjustments)
        # Each terminal adds 7 and removes 3 on alternate steps for each shared participant.
        shared_total = terminals * (steps // 2) * (7 - 3)
        check_balances(clinic, records, adjustments, dict.fromkeys(shared, shared_total))

    # Each participant's awards are exactly those of the same outcomes recorded alone.
    times = [base_time() + dt.timedelta(hours=step) for step in range(steps)]
    outcomes = [OUTCOMES[step % len(OUTCOMES)] for step in range(steps)]
    alone = expected_awards(outcomes, times)
    by_participant: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r["outcome_id"]):
        by_participant[record["participant"]].append((record["points"], record["bonus_points"]))
    assert sorted(by_participant) == sorted(p for ps in own.values() for p in ps)
    for participant, awards in by_participant.items():
        assert (participant, awards) == (participant, alone)


def check_outcomes(clinic: Clinic, records: list[dict[str, Any]]) -> None:
    """Every reported outcome is stored exactly once, as reported."""
    ids = Counter(r["outcome_id"] for r in records)
    assert [i for i, n in ids.items() if n > 1] == []
    stored = {}
    for participant in {r["participant"] for r in records}:
        for entry in clinic.history(participant):
            if entry.kind == "outcome":
                # The line may end with a note: the steps are an hour apart, so most of
                # them are extra samples of their program week (docs/design.md 3.8).
                stored[int(entry.ref.split(":")[1])] = (
                    participant,
                    entry.detail.split(" (extra sample:")[0],
                    entry.occurred_at,
                )
    assert sorted(stored) == sorted(ids)
    for record in records:
        assert stored[record["outcome_id"]] == (
            record["participant"],
            f"{TARGET}: {record['outcome']}",
            dt.datetime.fromisoformat(record["at"]),
        )


def check_adjustments(clinic: Clinic, adjustments: list[dict[str, Any]]) -> None:
    """Every reported adjustment is one stored transfer of that amount and direction."""
    ids = Counter(a["transfer_id"] for a in adjustments)
    assert [i for i, n in ids.items() if n > 1] == []
    stored: dict[int, tuple[str, str, int]] = {}
    for participant in {a["participant"] for a in adjustments}:
        for entry in clinic.history(participant):
            if entry.kind.startswith("adjustment"):
                stored[int(entry.ref.split(":")[1])] = (participant, entry.kind, entry.points)
    assert sorted(stored) == sorted(ids)
    for adjustment in adjustments:
        kind = "adjustment-up" if adjustment["points"] > 0 else "adjustment-down"
        assert stored[adjustment["transfer_id"]] == (
            adjustment["participant"],
            kind,
            adjustment["points"],
        )


def check_balances(
    clinic: Clinic,
    records: list[dict[str, Any]],
    adjustments: list[dict[str, Any]],
    shared: dict[str, int],
) -> None:
    """Each balance is the sum of what the terminals reported writing for it."""
    expected: dict[str, int] = defaultdict(int)
    for record in records:
        expected[record["participant"]] += record["points"] + record["bonus_points"]
    for adjustment in adjustments:
        expected[adjustment["participant"]] += adjustment["points"]
    assert {p: expected[p] for p in shared} == shared
    actual = {p: clinic.balance(p).points for p in expected}
    assert actual == dict(expected)
    # A participant's last reported balance (from their own terminal) is their final one.
    last: dict[str, int] = {}
    for record in sorted(records, key=lambda r: r["outcome_id"]):
        last[record["participant"]] = record["balance"]
    assert {p: actual[p] for p in last} == last


@pytest.mark.slow
def test_one_key_from_two_processes_at_once_writes_once(
    shared_database: str, tmp_path: Path
) -> None:
    steps = 15
    set_up(shared_database, ["term-0", "term-1"], ["P001"])
    specs = [
        {
            "actor": actor,
            "own": ["P001"],
            "shared": [],
            "steps": steps,
            "base": base_time().isoformat(),
            "outcomes": OUTCOMES,
            "target": TARGET,
            "keys": "lab-2027",
            "pause": 0.006,
        }
        # Two terminals, one lab result: the key, not the actor, names the request.
        for actor in ("term-0", "term-1")
    ]
    first, second = (
        report["records"] for report in run_terminals(shared_database, tmp_path, specs)
    )
    assert len(first) == len(second) == steps
    for mine, theirs in zip(first, second, strict=True):
        assert mine["key"] == theirs["key"]
        # Exactly one of the two wrote; the other got the stored result back.
        assert sorted([mine["replayed"], theirs["replayed"]]) == [False, True]
        original = {k: v for k, v in mine.items() if k != "replayed"}
        replay = {k: v for k, v in theirs.items() if k != "replayed"}
        assert replay == original
    with cmrewards.open(shared_database) as clinic:
        report = clinic.verify()
        assert report.problems == ()
        assert report.outcomes == steps
        outcomes = [e for e in clinic.history("P001") if e.kind == "outcome"]
        assert len(outcomes) == steps
        written = [r for r in first + second if not r["replayed"]]
        assert sorted(r["outcome_id"] for r in written) == list(range(1, steps + 1))
        balance = sum(r["points"] + r["bonus_points"] for r in written)
        assert clinic.balance("P001").points == balance


@pytest.mark.slow
def test_processes_creating_one_new_file_at_once_all_open_it(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert not path.exists()
    outcomes = run_terminals(str(path), tmp_path, [{} for _ in range(4)], script=OPENER)
    assert sorted(outcomes) == ["created", "exists", "exists", "exists"]
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    assert names == KNOWN
    assert mode == "wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with cmrewards.open(path) as clinic:
        assert [s.id for s in clinic.staff()] == [ADMIN]
        assert clinic.verify().ok


@pytest.mark.slow
def test_processes_opening_one_new_postgres_database_at_once_all_open_it(
    tmp_path: Path,
) -> None:
    """The server's counterpart of one new file: an empty database (its schema has no
    tables yet) that several terminals open at once. All of them open it, the tables are
    created once, by one of them, and exactly one ``init`` wins."""
    with postgres_support.database() as url:
        assert postgres_support.table_dump(url) == []
        outcomes = run_terminals(url, tmp_path, [{} for _ in range(4)], script=OPENER)
        assert sorted(outcomes) == ["created", "exists", "exists", "exists"]
        dump = postgres_support.table_dump(url)
        # Rows of (name, applied_at), in name order: applied_at is the transaction's start,
        # so one value for all of them means one terminal's transaction created the schema.
        migrations = [
            line.removeprefix("cmrewards_migrations: ").split(", ", 1)
            for line in dump
            if line.startswith("cmrewards_migrations: ")
        ]
        names = [name.strip("('") for name, _ in migrations]
        assert names == [m.name for m in MIGRATIONS]
        assert names == KNOWN
        assert len({applied_at for _, applied_at in migrations}) == 1, migrations
        staff = [line for line in dump if line.startswith("staff: ")]
        assert len(staff) == 1, staff
        assert staff[0].startswith(f"staff: ('{ADMIN}', 'admin', 1, "), staff
        with cmrewards.open(url) as clinic:
            assert [s.id for s in clinic.staff()] == [ADMIN]
            assert clinic.verify().ok
