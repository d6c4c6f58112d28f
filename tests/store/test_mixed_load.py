"""Several terminals mixing every kind of write on shared participants lose nothing.

Four worker processes (staff terminals) open one database (a SQLite file, and in a second
run a PostgreSQL database: the ``shared_database`` fixture) and, for a bounded time
(``CMREWARDS_SOAK_SECONDS``, 8 unless set), pick random operations with a seeded RNG
each: record an outcome, adjust points up or down, request a redemption, approve /
fulfil / cancel an open one, hand over an owed prize, trade prizes, restock an item,
reverse a transfer, or run ``verify`` mid-load. Every participant is shared by every
worker for everything but recording: each (participant, target) pair is recorded by one
worker in time order, except one contested participant that every worker records at
the wall-clock time, each record its own visit (so the one that read the clock first may
reach the database last: a late result, whose settlement of the awards after it the
worker reports too).

Each worker writes one JSON line per completed operation (with the ids it got back
and the points moved) and one per refusal (the error class), flushing each line.
Afterwards the parent checks ``verify`` and, independently of it, that the database
holds exactly what the workers reported: every outcome, transfer, redemption step,
prize hand-over, restock and reversal once, balances and held points and stock that
follow from the reports, the balance each write returned equal to the ledger right
after that write, and every refusal justified by the final state (e.g. an
``InvalidTransition`` only when another terminal moved the redemption first).

A short summary of operations and refusals per kind (``Busy`` counted) is printed and
is part of every assertion message.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cmrewards
from cmrewards.domain.ledger import Transfer
from cmrewards.domain.records import OutcomeRecord, Prize
from cmrewards.domain.redemption import CatalogItem, Redemption, StockMovement
from cmrewards.store import open_store
from support.clinics import check_history_balances

SECONDS = float(os.environ.get("CMREWARDS_SOAK_SECONDS", "8"))
WORKERS = 4
SEED = 2027

ADMIN = "admin-1"
RECORDERS = [f"rec-{i}" for i in range(WORKERS)]
CLINICIANS = ["clin-0", "clin-1"]
HIGGINS = "higgins-vbrt"
PETRY = "petry-fishbowl"
STIMULANT = "stimulant-negative"
SECONDARY = "secondary-negative"

# Each worker records its own (participant, target) pairs; CONTESTED is recorded by all.
OWNED: dict[str, list[tuple[str, list[str]]]] = {
    "0": [("H1", [STIMULANT]), ("F2", [STIMULANT, SECONDARY])],
    "1": [("H2", [STIMULANT])],
    "2": [("H3", [STIMULANT])],
    "3": [("F1", [STIMULANT, SECONDARY])],
}
CONTESTED = "H4"
PROGRAM_OF = {"H1": HIGGINS, "H2": HIGGINS, "H3": HIGGINS, "H4": HIGGINS}
PROGRAM_OF |= {"F1": PETRY, "F2": PETRY}
PARTICIPANTS = sorted(PROGRAM_OF)

# sku: (cost in points, initial stock or None for bought on demand, prize category)
CATALOG: dict[str, tuple[int, int | None, str | None]] = {
    "VOUCHER-5": (20, 6, None),
    "VOUCHER-10": (40, 4, None),
    "GIFT-25": (100, 2, None),
    "BUS-PASS": (15, None, None),
    "PRIZE-SMALL": (0, 20, "small"),
    "PRIZE-LARGE": (0, 5, "large"),
    "PRIZE-JUMBO": (0, 1, "jumbo"),
}
FOR_POINTS = [sku for sku, (cost, _, _) in CATALOG.items() if cost]
STOCKED = [sku for sku, (_, stock, _) in CATALOG.items() if stock is not None]
CABINET = {category: sku for sku, (_, _, category) in CATALOG.items() if category}

VISIT_EVERY = dt.timedelta(hours=3)
"""Clinical time between one owned pair's visits: 300 days hold 2,400 of them."""

ALLOWED_REFUSALS: dict[str, set[str]] = {
    "record": set(),
    "adjust": {"InsufficientPoints"},
    "request": {"InsufficientPoints", "OutOfStock"},
    "approve": {"InvalidTransition"},
    "fulfil": {"InvalidTransition"},
    "cancel": {"InvalidTransition"},
    "prize": {"InvalidTransition", "OutOfStock"},
    "restock": set(),
    "reverse": {"InsufficientPoints", "InvalidTransition"},
    "trade": {"InvalidTransition"},
}
"""What each operation may be refused with; ``Busy`` is allowed anywhere but counted."""

WORKER = r"""
import datetime as dt, json, pathlib, random, sys, time, traceback
import cmrewards

location, go, ready, log_path = sys.argv[1:5]
spec = json.loads(sys.argv[5])
rng = random.Random(spec["seed"])
clinic = cmrewards.open(location)
log = open(log_path, "w", encoding="utf-8")
counts = {"completed": 0, "refused": 0, "skipped": 0, "contested": 0}
recorder, clinician, admin = spec["recorder"], spec["clinician"], spec["admin"]
base = dt.datetime.fromisoformat(spec["base"])
every = dt.timedelta(seconds=spec["visit_every_seconds"])
visits = {participant: 0 for participant, _ in spec["own"]}


def write(entry):
    log.write(json.dumps(entry) + "\n")
    log.flush()


def attempt(op, context, perform):
    # Run one write; log it as done (with what it returned) or refused (the class).
    try:
        result = perform()
    except cmrewards.CMRewardsError as error:
        counts["refused"] += 1
        write({"op": op, "ok": False, "error": type(error).__name__, "message": str(error),
               **context})
        return None
    counts["completed"] += 1
    write({"op": op, "ok": True, **context, **result})
    return result


def recorded(result):
    return {
        "outcome_id": result.outcome_id,
        "participant": result.participant,
        "target": result.target,
        "outcome": str(result.outcome),
        "at": result.occurred_at.isoformat(),
        "points": result.award.points,
        "bonus_points": result.award.bonus_points,
        "prizes": [[p.id, p.category, p.value_cents] for p in result.prizes],
        "replayed": result.replayed,
        "balance": held_and_total(result.balance),
        "settled_paid": 0 if result.settlement is None else result.settlement.paid_points,
        "settled_taken": (
            0 if result.settlement is None else result.settlement.taken_back_points
        ),
    }


def held_and_total(balance):
    return [balance.points, balance.held_points]


def outcome():
    return rng.choices(["met", "not_met", "missed", "excused", "invalid"], [14, 2, 2, 1, 1])[0]


def record():
    if rng.random() < 0.25:
        # The contested participant: every terminal records it "now", so the one that
        # read the clock first may reach the database last.
        at = dt.datetime.now(dt.UTC)
        time.sleep(rng.uniform(0, 0.002))
        what = outcome()
        counts["contested"] += 1
        visit = f"{recorder}-{counts['contested']}"
        attempt("record", {"contested": True}, lambda: recorded(
            clinic.record(
                spec["contested"], "stimulant-negative", what, at=at, actor=recorder, visit=visit
            )))
        return
    participant, targets = rng.choice(spec["own"])
    at = base + visits[participant] * every
    if at > dt.datetime.now(dt.UTC):
        counts["skipped"] += 1
        return
    visits[participant] += 1
    for target in targets:
        what = outcome()
        visit = f"visit-{visits[participant]}"
        attempt("record", {"contested": False}, lambda: recorded(
            clinic.record(participant, target, what, at=at, actor=recorder, visit=visit)))


def adjust():
    participant = rng.choice(spec["participants"])
    points = rng.randint(1, 60) * (1 if rng.random() < 0.65 else -1)

    def perform():
        result = clinic.adjust(participant, points, reason="mixed load", actor=admin)
        return {"transfer_id": result.transfer.id, "kind": str(result.transfer.kind),
                "amount": result.transfer.amount, "balance": held_and_total(result.balance)}

    attempt("adjust", {"participant": participant, "points": points}, perform)


def redeemed(result):
    r = result.redemption
    return {"redemption": r.id, "participant": r.participant, "sku": r.sku, "cost": r.cost,
            "status": str(r.status), "balance": held_and_total(result.balance)}


def request():
    participant = rng.choice(spec["participants"])
    sku = rng.choice(spec["for_points"])
    attempt("request", {"participant": participant, "sku": sku}, lambda: redeemed(
        clinic.request_redemption(participant, sku, actor=recorder)))


def step(op, seen):
    candidates = [r for r in clinic.redemptions() if str(r.status) in seen]
    if not candidates:
        counts["skipped"] += 1
        return
    chosen = rng.choice(candidates)
    context = {"redemption": chosen.id, "seen": str(chosen.status)}
    if op == "approve":
        perform = lambda: clinic.approve_redemption(chosen.id, actor=clinician)
    elif op == "fulfil":
        perform = lambda: clinic.fulfil_redemption(
            chosen.id, actor=clinician, note="receipt", cost_cents=rng.randint(100, 2500))
    else:
        perform = lambda: clinic.cancel_redemption(chosen.id, reason="changed mind",
                                                   actor=clinician)
    attempt(op, context, lambda: redeemed(perform()))


def prize():
    participant = rng.choice(spec["petry"])
    owed = [p for p in clinic.prizes(participant) if str(p.status) == "owed"]
    if not owed:
        counts["skipped"] += 1
        return
    chosen = rng.choice(owed)
    sku = spec["cabinet"][chosen.category]

    def perform():
        handed = clinic.fulfil_prize(chosen.id, sku=sku, actor=clinician)
        return {"status": str(handed.status)}

    context = {"prize": chosen.id, "participant": participant, "category": chosen.category,
               "sku": sku}
    attempt("prize", context, perform)


def trade():
    participant = rng.choice(spec["petry"])

    def perform():
        received = clinic.trade_prizes(participant, give="small", get="large", actor=clinician)
        return {"prize": received.id, "category": received.category,
                "status": str(received.status)}

    attempt("trade", {"participant": participant}, perform)


def restock():
    sku = rng.choice(spec["stocked"])
    quantity = rng.randint(1, 4)
    attempt("restock", {"sku": sku, "quantity": quantity},
            lambda: {"stock": clinic.restock(sku, quantity, actor=admin).stock})


def reverse():
    participant = rng.choice(spec["participants"])
    kinds = {"award", "bonus", "adjustment-up", "adjustment-down", "spend"}
    entries = [e for e in clinic.history(participant) if e.kind in kinds][-30:]
    if not entries:
        counts["skipped"] += 1
        return
    chosen = rng.choice(entries)
    original = int(chosen.ref.removeprefix("transfer:"))
    returned = rng.random() < 0.5

    def perform():
        result = clinic.reverse(original, reason="mixed load", actor=admin, returned=returned)
        return {"transfer_id": result.transfer.id, "amount": result.transfer.amount,
                "balance": held_and_total(result.balance)}

    context = {"participant": participant, "reverses": original, "kind": chosen.kind,
               "returned": returned}
    attempt("reverse", context, perform)


def verify():
    # A staff member checks the database while the others write: one consistent snapshot.
    report = clinic.verify()
    write({"op": "verify", "ok": True, "problems": [p.message for p in report.problems],
           "outcomes": report.outcomes, "transfers": report.transfers})


OPERATIONS = {
    "record": (record, 30), "adjust": (adjust, 10), "request": (request, 18),
    "approve": (lambda: step("approve", {"requested"}), 10),
    "fulfil": (lambda: step("fulfil", {"approved"}), 10),
    "cancel": (lambda: step("cancel", {"requested", "approved"}), 4),
    "prize": (prize, 10), "restock": (restock, 4), "reverse": (reverse, 4), "trade": (trade, 2),
    "verify": (verify, 1),
}
names = list(OPERATIONS)
weights = [OPERATIONS[n][1] for n in names]

pathlib.Path(ready).touch()
deadline = time.monotonic() + 60
while not pathlib.Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("the start file never appeared")
    time.sleep(0.001)
stop = time.monotonic() + spec["seconds"]
try:
    while time.monotonic() < stop:
        OPERATIONS[rng.choices(names, weights)[0]][0]()
        # A terminal does something between writes, so that the writers interleave.
        time.sleep(rng.uniform(0, 0.003))
except BaseException as error:
    write({"op": "crash", "ok": False, "error": type(error).__name__,
           "traceback": traceback.format_exc()})
    raise
write({"op": "done", "ok": True, **counts})
log.close()
clinic.close()
"""


def start_date() -> dt.date:
    """Enrolment 300 days ago: room for every owned pair's visits before now."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=300)).date()


def set_up(location: str) -> None:
    with cmrewards.open(location) as clinic:
        clinic.init(ADMIN)
        for recorder in RECORDERS:
            clinic.add_staff(recorder, "recorder", actor=ADMIN)
        for clinician in CLINICIANS:
            clinic.add_staff(clinician, "clinician", actor=ADMIN)
        for preset in (HIGGINS, PETRY):
            program = cmrewards.load_preset(preset)
            assert program.require_approval
            clinic.add_program(program, actor=ADMIN)
        for participant in PARTICIPANTS:
            clinic.enroll(participant, PROGRAM_OF[participant], start=start_date(), actor=ADMIN)
        for sku, (cost, stock, category) in CATALOG.items():
            clinic.add_item(
                sku, name=sku.lower(), cost=cost, stock=stock, category=category, actor=ADMIN
            )
        assert clinic.verify().ok


def worker_spec(index: int) -> dict[str, Any]:
    start = start_date()
    return {
        "seed": SEED * 100 + index,
        "seconds": SECONDS,
        "recorder": RECORDERS[index],
        "clinician": CLINICIANS[index % len(CLINICIANS)],
        "admin": ADMIN,
        "base": dt.datetime(start.year, start.month, start.day, 9, tzinfo=dt.UTC).isoformat(),
        "visit_every_seconds": VISIT_EVERY.total_seconds(),
        "own": OWNED[str(index)],
        "contested": CONTESTED,
        "participants": PARTICIPANTS,
        "petry": [p for p in PARTICIPANTS if PROGRAM_OF[p] == PETRY],
        "for_points": FOR_POINTS,
        "stocked": STOCKED,
        "cabinet": CABINET,
    }


@dataclass
class Run:
    """What the workers reported, one list of log entries per worker."""

    logs: list[list[dict[str, Any]]]
    returncodes: list[int]
    stderr: list[str]
    seconds: float

    def entries(self, op: str | None = None, *, ok: bool | None = None) -> list[dict[str, Any]]:
        return [
            dict(entry, worker=index)
            for index, log in enumerate(self.logs)
            for entry in log
            if (op is None or entry["op"] == op) and (ok is None or entry["ok"] is ok)
        ]

    def summary(self) -> str:
        """Operations and refusals per kind, for the assertion messages."""
        done = Counter(e["op"] for e in self.entries(ok=True) if e["op"] != "done")
        refused: dict[str, Counter[str]] = defaultdict(Counter)
        for entry in self.entries(ok=False):
            refused[entry["op"]][entry.get("error", "?")] += 1
        lines = [f"{WORKERS} workers, {self.seconds:.1f} s, exit codes {self.returncodes}"]
        for op in [*ALLOWED_REFUSALS, "verify", "crash"]:
            if done[op] or refused[op]:
                why = ", ".join(f"{k} {v}" for k, v in sorted(refused[op].items()))
                lines.append(
                    f"  {op:8} done {done[op]:5}  refused {sum(refused[op].values()):4}"
                    f"{'  (' + why + ')' if why else ''}"
                )
        busy = sum(1 for e in self.entries(ok=False) if e.get("error") == "Busy")
        lines.append(
            f"  total done {sum(done.values())}, refused {len(self.entries(ok=False))}"
            f" (Busy {busy})"
        )
        return "\n".join(lines)


def run_workers(location: str, directory: Path) -> Run:
    """Start the workers on the database at ``location``, release them at once, wait for
    them and read their logs; the start, ready and log files go in ``directory``."""
    go = directory / "go"
    ready = [directory / f"ready-{i}" for i in range(WORKERS)]
    logs = [directory / f"worker-{i}.jsonl" for i in range(WORKERS)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                location,
                str(go),
                str(ready[i]),
                str(logs[i]),
                json.dumps(worker_spec(i)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    deadline = time.monotonic() + 30
    while not all(flag.exists() for flag in ready):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            break
        time.sleep(0.01)
    started = time.monotonic()
    go.touch()
    codes, errors = [], []
    try:
        for process in processes:
            _, err = process.communicate(timeout=SECONDS + 60)
            codes.append(process.returncode)
            errors.append(err)
    finally:
        for process in processes:
            if process.poll() is None:  # a worker that hangs fails the test, not the session
                process.kill()
                process.wait()
    seconds = time.monotonic() - started
    parsed = [
        [json.loads(line) for line in log.read_text("utf-8").splitlines()] if log.exists() else []
        for log in logs
    ]
    return Run(parsed, codes, errors, seconds)


@dataclass
class Database:
    """Everything the database holds, read in one snapshot through the storage port."""

    outcomes: list[OutcomeRecord]
    transfers: list[Transfer]
    balances: dict[tuple[str, str], int]
    redemptions: dict[int, Redemption]
    prizes: dict[int, Prize]
    fulfilments: list[tuple[int, str, str]]
    items: dict[str, CatalogItem]
    movements: list[StockMovement]
    by_cause: dict[str, list[Transfer]] = field(default_factory=dict)


def read_database(location: str) -> Database:
    store = open_store(location, create=False)
    try:
        with store.read() as tx:
            db = Database(
                outcomes=tx.outcomes(),
                transfers=tx.transfers(),
                balances=tx.balances(),
                redemptions={r.id: r for r in tx.redemptions()},
                prizes={p.id: p for p in tx.prizes()},
                fulfilments=[(f.prize_id, f.sku, f.actor) for f in tx.prize_fulfilments()],
                items={i.sku: i for i in tx.items()},
                movements=tx.stock_movements(),
            )
    finally:
        store.close()
    causes: dict[str, list[Transfer]] = defaultdict(list)
    for transfer in db.transfers:
        if transfer.cause is not None:
            causes[transfer.cause].append(transfer)
    db.by_cause = dict(causes)
    return db


def duplicates(values: Iterable[Any]) -> list[Any]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


@pytest.mark.slow
def test_mixed_operations_from_several_processes_lose_nothing(
    shared_database: str, tmp_path: Path
) -> None:
    set_up(shared_database)
    run = run_workers(shared_database, tmp_path)
    summary = run.summary()
    print(summary)

    check_workers(run, summary)
    db = read_database(shared_database)
    with cmrewards.open(shared_database) as clinic:
        report = clinic.verify()
        assert report.problems == (), summary
        assert report.ok, summary
        assert (report.outcomes, report.transfers) == (len(db.outcomes), len(db.transfers))
        check_history(clinic, db, summary)
    check_outcomes(run, db, summary)
    check_adjustments_and_reversals(run, db, summary)
    check_redemptions(run, db, summary)
    check_prizes(run, db, summary)
    check_stock(run, db, summary)
    check_balances(run, db, summary)
    check_refusals(run, db, summary)
    check_reported_balances(run, db, summary)
    assert run.seconds < SECONDS + 20, summary


def check_workers(run: Run, summary: str) -> None:
    """Every worker ran to the end, refused only by rules, and did a bit of everything."""
    for index, (code, err, log) in enumerate(
        zip(run.returncodes, run.stderr, run.logs, strict=True)
    ):
        assert (index, code) == (index, 0), f"{summary}\nworker {index} stderr:\n{err}"
        assert [e for e in log if e["op"] == "crash"] == [], summary
        assert log, f"worker {index} wrote no log\n{summary}"
        *operations, done = log
        assert done["op"] == "done", f"worker {index}'s log does not end with its done line"
        completed = sum(1 for e in operations if e["ok"] and e["op"] != "verify")
        refused = sum(1 for e in operations if not e["ok"])
        # The worker counted what it did: a log line that went missing shows here.
        assert (index, done["completed"], done["refused"]) == (index, completed, refused), summary
    for entry in run.entries(ok=False):
        allowed = ALLOWED_REFUSALS.get(entry["op"], set()) | {"Busy"}
        assert entry["error"] in allowed, f"{summary}\nunexpected refusal: {entry}"
    done = Counter(e["op"] for e in run.entries(ok=True))
    # Trades need five owed small prizes at once: too rare to demand of a short run.
    missing = [op for op in [*ALLOWED_REFUSALS, "verify"] if op != "trade" and not done[op]]
    assert missing == [], f"no {missing} completed: the run proves too little\n{summary}"
    # ``verify`` run by a terminal in the middle of the load found nothing either.
    found = [e for e in run.entries("verify") if e["problems"]]
    assert found == [], f"{summary}\nverify during the load: {found[:3]}"
    # The workers' writes really interleaved: changes of writer in outcome id order.
    owner = {e["outcome_id"]: e["worker"] for e in run.entries("record", ok=True)}
    order = [owner[i] for i in sorted(owner)]
    assert sum(1 for a, b in itertools.pairwise(order) if a != b) >= 20, summary


def check_outcomes(run: Run, db: Database, summary: str) -> None:
    """Every reported outcome is stored once, as reported, with the award and prizes it reported."""
    records = run.entries("record", ok=True)
    assert [r for r in records if r["replayed"]] == [], summary
    assert duplicates(r["outcome_id"] for r in records) == [], summary
    stored = {o.id: o for o in db.outcomes}
    reported = {r["outcome_id"]: r for r in records}
    assert sorted(stored) == sorted(reported), f"stored and reported outcomes differ\n{summary}"
    for outcome_id, record in reported.items():
        row = stored[outcome_id]
        assert (
            row.participant,
            row.target,
            str(row.outcome),
            row.occurred_at,
            row.actor,
        ) == (
            record["participant"],
            record["target"],
            record["outcome"],
            dt.datetime.fromisoformat(record["at"]),
            RECORDERS[record["worker"]],
        ), summary
        owned = {p for p, _ in OWNED[str(record["worker"])]}
        assert record["participant"] in (owned if not record["contested"] else {CONTESTED})
        # The award and bonus transfers of this outcome are exactly what the worker was told
        # (a late result's settlements of other outcomes name those in ``settles``).
        paid = sorted(
            (t.kind, t.amount)
            for t in db.by_cause.get(f"outcome:{outcome_id}", [])
            if t.settles is None
        )
        expected = sorted(
            (kind, amount)
            for kind, amount in (("award", record["points"]), ("bonus", record["bonus_points"]))
            if amount
        )
        assert [(str(k), a) for k, a in paid] == expected, f"outcome {outcome_id}\n{summary}"
        won = sorted(
            [p.id, p.category, p.value_cents]
            for p in db.prizes.values()
            if p.outcome_id == outcome_id
        )
        assert won == sorted(record["prizes"]), f"outcome {outcome_id}\n{summary}"
    caused = {t.cause for t in db.transfers if t.cause and t.cause.startswith("outcome:")}
    assert caused <= {f"outcome:{i}" for i in reported}, summary
    drawn = {p.outcome_id for p in db.prizes.values() if p.outcome_id is not None}
    assert drawn <= set(reported), summary
    # Each owned pair's outcomes are in time order; only the contested one has late results.
    times: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for row in db.outcomes:
        times[row.participant, row.target].append(row.occurred_at)
    for pair, seen in times.items():
        if pair[0] != CONTESTED:
            assert seen == sorted(seen), f"{pair} recorded out of time order\n{summary}"
    settled = {t.settles for t in db.transfers if t.settles is not None}
    assert all(stored[i].participant == CONTESTED for i in settled), summary


def check_adjustments_and_reversals(run: Run, db: Database, summary: str) -> None:
    """Every reported adjustment and reversal is one stored transfer, and there are no others."""
    adjustments = run.entries("adjust", ok=True)
    assert duplicates(a["transfer_id"] for a in adjustments) == [], summary
    reported = {a["transfer_id"]: (a["participant"], a["points"]) for a in adjustments}
    stored = {
        t.id: (t.participant, t.amount if t.kind == "adjustment-up" else -t.amount)
        for t in db.transfers
        if t.kind in ("adjustment-up", "adjustment-down") and t.settles is None
    }
    assert stored == reported, f"stored and reported adjustments differ\n{summary}"
    assert all(abs(a["points"]) == a["amount"] for a in adjustments), summary

    reversals = run.entries("reverse", ok=True)
    assert duplicates(r["reverses"] for r in reversals) == [], f"reversed twice\n{summary}"
    by_id = {t.id: t for t in db.transfers}
    stored_reversals = {
        t.id: (t.reverses, t.amount, t.participant) for t in db.transfers if t.kind == "reversal"
    }
    assert stored_reversals == {
        r["transfer_id"]: (r["reverses"], r["amount"], r["participant"]) for r in reversals
    }, f"stored and reported reversals differ\n{summary}"
    for reversal in reversals:
        original = by_id[reversal["reverses"]]
        assert (str(original.kind), original.amount) == (reversal["kind"], reversal["amount"])


def redemption_steps(run: Run, db: Database) -> dict[int, list[tuple[str, str]]]:
    """(status reached, actor) of every step the workers reported, per redemption."""
    steps: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for entry in run.entries("request", ok=True):
        steps[entry["redemption"]].append((entry["status"], RECORDERS[entry["worker"]]))
    for op in ("approve", "fulfil", "cancel"):
        for entry in run.entries(op, ok=True):
            actor = CLINICIANS[entry["worker"] % len(CLINICIANS)]
            steps[entry["redemption"]].append((entry["status"], actor))
    by_id = {t.id: t for t in db.transfers}
    for entry in run.entries("reverse", ok=True):
        if entry["kind"] == "spend":
            cause = by_id[entry["reverses"]].cause
            assert cause is not None
            steps[int(cause.removeprefix("redemption:"))].append(("reversed", ADMIN))
    return steps


PATHS = {
    "requested": [["requested"]],
    "approved": [["requested", "approved"]],
    "fulfilled": [["requested", "approved", "fulfilled"]],
    "cancelled": [["requested", "cancelled"], ["requested", "approved", "cancelled"]],
    "reversed": [["requested", "approved", "fulfilled", "reversed"]],
}
"""The steps that lead to each final status (the programs require approval)."""

MOVEMENTS = {
    "requested": ["hold"],
    "approved": ["hold"],
    "fulfilled": ["hold", "spend"],
    "cancelled": ["hold", "release"],
    "reversed": ["hold", "spend", "release"],
}


def check_redemptions(run: Run, db: Database, summary: str) -> None:
    """Each redemption went through exactly the steps reported, once each, by their actors."""
    requests = run.entries("request", ok=True)
    assert duplicates(r["redemption"] for r in requests) == [], summary
    assert sorted(db.redemptions) == sorted(r["redemption"] for r in requests), summary
    for request in requests:
        row = db.redemptions[request["redemption"]]
        assert (row.participant, row.sku, row.cost, row.requested_by) == (
            request["participant"],
            request["sku"],
            CATALOG[request["sku"]][0],
            RECORDERS[request["worker"]],
        ), summary
        assert (request["status"], request["cost"]) == ("requested", row.cost), summary
    order = ["requested", "approved", "fulfilled", "cancelled", "reversed"]
    for redemption_id, steps in redemption_steps(run, db).items():
        row = db.redemptions[redemption_id]
        statuses = sorted((s for s, _ in steps), key=order.index)
        where = f"redemption {redemption_id} is {row.status}; reported steps {steps}\n{summary}"
        assert statuses in PATHS[str(row.status)], where
        actors = dict(steps)
        assert row.approved_by == actors.get("approved"), where
        assert row.fulfilled_by == actors.get("fulfilled"), where
        assert row.closed_by == actors.get("cancelled", actors.get("reversed")), where
        moved = db.by_cause.get(f"redemption:{redemption_id}", [])
        assert [str(t.kind) for t in moved] == MOVEMENTS[str(row.status)], where
        assert {t.amount for t in moved} == {row.cost}, where
        assert {t.participant for t in moved} == {row.participant}, where


def check_prizes(run: Run, db: Database, summary: str) -> None:
    """No prize was handed over twice; each hand-over is the one a worker reported."""
    handed = run.entries("prize", ok=True)
    assert duplicates(h["prize"] for h in handed) == [], f"a prize handed over twice\n{summary}"
    assert duplicates(f[0] for f in db.fulfilments) == [], summary
    stored = {prize_id: (sku, actor) for prize_id, sku, actor in db.fulfilments}
    reported = {h["prize"]: (h["sku"], CLINICIANS[h["worker"] % len(CLINICIANS)]) for h in handed}
    assert stored == reported, f"stored and reported prize hand-overs differ\n{summary}"
    for entry in handed:
        prize = db.prizes[entry["prize"]]
        assert (prize.participant, prize.category, entry["status"]) == (
            entry["participant"],
            entry["category"],
            "fulfilled",
        ), summary
        assert CABINET[prize.category] == entry["sku"], summary
    fulfilled = {p.id for p in db.prizes.values() if p.status == "fulfilled"}
    assert fulfilled == set(reported), summary
    assert {str(p.status) for p in db.prizes.values()} <= {"owed", "fulfilled", "traded"}

    # Each trade took five owed small prizes of its participant and made one large one.
    trades = run.entries("trade", ok=True)
    assert duplicates(t["prize"] for t in trades) == [], summary
    received = {p.id: p for p in db.prizes.values() if p.outcome_id is None}
    assert sorted(received) == sorted(t["prize"] for t in trades), summary
    for entry in trades:
        prize = received[entry["prize"]]
        assert (prize.participant, prize.category, entry["status"]) == (
            entry["participant"],
            "large",
            "owed",
        ), summary
    traded = Counter(p.participant for p in db.prizes.values() if p.status == "traded")
    assert traded == Counter(t["participant"] for t in trades for _ in range(5)), summary
    assert {p.category for p in db.prizes.values() if p.status == "traded"} <= {"small"}


def check_stock(run: Run, db: Database, summary: str) -> None:
    """Stock is the initial count plus restocks, less units held or handed over."""
    expected = {sku: CATALOG[sku][1] or 0 for sku in STOCKED}
    for entry in run.entries("restock", ok=True):
        expected[entry["sku"]] += entry["quantity"]
    for row in db.redemptions.values():
        if row.sku in expected and str(row.status) != "cancelled":
            expected[row.sku] -= 1
    by_id = {t.id: t for t in db.transfers}
    for entry in run.entries("reverse", ok=True):
        cause = by_id[entry["reverses"]].cause
        if entry["kind"] == "spend" and entry["returned"]:
            assert cause is not None
            sku = db.redemptions[int(cause.removeprefix("redemption:"))].sku
            if sku in expected:
                expected[sku] += 1
    for entry in run.entries("prize", ok=True):
        expected[entry["sku"]] -= 1
    actual = {sku: db.items[sku].stock for sku in STOCKED}
    assert actual == expected, f"stock differs from the reports\n{summary}"
    counted: dict[str, int] = defaultdict(int)
    for movement in db.movements:
        counted[movement.sku] += movement.change
    assert {sku: counted[sku] for sku in STOCKED} == expected, summary
    on_demand = [sku for sku in CATALOG if sku not in STOCKED]
    assert [db.items[sku].stock for sku in on_demand] == [None] * len(on_demand), summary
    assert not any(m.sku in on_demand for m in db.movements), summary
    assert min(expected.values()) >= 0, summary


def check_balances(run: Run, db: Database, summary: str) -> None:
    """Balances and held points follow from the reports; the ledger sums to zero."""
    total: dict[str, int] = dict.fromkeys(PARTICIPANTS, 0)
    awarded = adjusted_up = adjusted_down = spent = 0
    taken_back = 0
    for record in run.entries("record", ok=True):
        points = record["points"] + record["bonus_points"] + record["settled_paid"]
        total[record["participant"]] += points - record["settled_taken"]
        awarded += points
        taken_back += record["settled_taken"]
    for adjustment in run.entries("adjust", ok=True):
        total[adjustment["participant"]] += adjustment["points"]
        if adjustment["points"] > 0:
            adjusted_up += adjustment["points"]
        else:
            adjusted_down -= adjustment["points"]
    for fulfilment in run.entries("fulfil", ok=True):
        row = db.redemptions[fulfilment["redemption"]]
        assert fulfilment["cost"] == row.cost, summary
        total[row.participant] -= row.cost
        spent += row.cost
    reversed_by_kind: dict[str, int] = defaultdict(int)
    for reversal in run.entries("reverse", ok=True):
        gives_back = reversal["kind"] in ("adjustment-down", "spend")
        total[reversal["participant"]] += reversal["amount"] * (1 if gives_back else -1)
        reversed_by_kind[reversal["kind"]] += reversal["amount"]
    steps = redemption_steps(run, db)
    held = dict.fromkeys(PARTICIPANTS, 0)
    for redemption_id, row in db.redemptions.items():
        if {s for s, _ in steps[redemption_id]} <= {"requested", "approved"}:
            held[row.participant] += row.cost
    actual = {
        p: (
            db.balances.get((PROGRAM_OF[p], f"available:{p}"), 0)
            + db.balances.get((PROGRAM_OF[p], f"held:{p}"), 0),
            db.balances.get((PROGRAM_OF[p], f"held:{p}"), 0),
        )
        for p in PARTICIPANTS
    }
    assert actual == {p: (total[p], held[p]) for p in PARTICIPANTS}, summary
    open_cost = dict.fromkeys(PARTICIPANTS, 0)
    for row in db.redemptions.values():
        if row.status.is_open:
            open_cost[row.participant] += row.cost
    assert {p: actual[p][1] for p in PARTICIPANTS} == open_cost, summary

    # Every account is the sum of its transfers; all of them together sum to zero.
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for transfer in db.transfers:
        summed[transfer.program_id, transfer.from_account] -= transfer.amount
        summed[transfer.program_id, transfer.to_account] += transfer.amount
    assert {k: v for k, v in db.balances.items() if v} == {k: v for k, v in summed.items() if v}
    assert sum(db.balances.values()) == 0, summary
    for program in (HIGGINS, PETRY):
        assert sum(v for (p, _), v in db.balances.items() if p == program) == 0, summary
    assert all(v >= 0 for (_, a), v in db.balances.items() if a != "funding"), summary

    # What the workers say they moved is what the ledger moved.
    moved: dict[str, int] = defaultdict(int)
    for transfer in db.transfers:
        moved[str(transfer.kind)] += transfer.amount
    reported = {
        "awarded": awarded,
        "adjusted up": adjusted_up,
        "adjusted down": adjusted_down + taken_back,
        "spent": spent,
        "reversed": sum(reversed_by_kind.values()),
    }
    assert reported == {
        "awarded": moved["award"] + moved["bonus"],
        "adjusted up": moved["adjustment-up"],
        "adjusted down": moved["adjustment-down"],
        "spent": moved["spend"],
        "reversed": moved["reversal"],
    }, summary
    redeemed = sum(v for (_, a), v in db.balances.items() if a == "redeemed")
    assert redeemed == spent - reversed_by_kind["spend"], summary
    funding = sum(v for (_, a), v in db.balances.items() if a == "funding")
    paid_out = (
        awarded
        + adjusted_up
        - adjusted_down
        - taken_back
        - reversed_by_kind["award"]
        - reversed_by_kind["bonus"]
        - reversed_by_kind["adjustment-up"]
        + reversed_by_kind["adjustment-down"]
    )
    assert funding == -paid_out, summary
    assert paid_out == sum(total.values()) + redeemed, summary


def check_refusals(run: Run, db: Database, summary: str) -> None:
    """Each refusal is explained by the final state: someone else got there first."""
    reversed_ids = {t.reverses for t in db.transfers if t.reverses is not None}
    by_id = {t.id: t for t in db.transfers}
    taken_from = {t.settles for t in db.transfers if t.kind == "adjustment-down" and t.settles}

    def settled_away(transfer_id: int) -> bool:
        """A settlement's take-back, or an award a settlement took some of back: a reversal
        gives back only what the outcome still gives (docs/decisions.md)."""
        t = by_id[transfer_id]
        cause = t.cause or ""
        outcome = t.settles or (int(cause[8:]) if cause.startswith("outcome:") else 0)
        return (t.kind == "adjustment-down" and t.settles is not None) or outcome in taken_from

    for entry in run.entries(ok=False):
        op, error = entry["op"], entry["error"]
        where = f"{summary}\nrefusal not explained by the database: {entry}"
        if error == "Busy":
            continue
        if op == "record":
            assert entry["contested"], where
        elif op in ("approve", "fulfil", "cancel"):
            assert str(db.redemptions[entry["redemption"]].status) != entry["seen"], where
        elif op == "prize" and error == "InvalidTransition":
            assert str(db.prizes[entry["prize"]].status) in ("fulfilled", "traded"), where
        elif op == "reverse" and error == "InvalidTransition":
            assert entry["reverses"] in reversed_ids or settled_away(entry["reverses"]), where
        elif op == "adjust":
            assert entry["points"] < 0, where
        elif error == "OutOfStock":
            assert entry["sku"] in STOCKED, where


def check_reported_balances(run: Run, db: Database, summary: str) -> None:
    """Each write returned the balance as its own last transfer left it, not an older one.

    Replays the ledger in id order; the balance a worker was given must be the
    participant's (points, held) right after the last transfer that write made.
    """
    after: dict[int, tuple[str, list[int]]] = {}
    running: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for transfer in db.transfers:
        for account, sign in ((transfer.from_account, -1), (transfer.to_account, 1)):
            kind, _, owner = account.partition(":")
            if kind in ("available", "held"):
                running[owner][0] += sign * transfer.amount
                if kind == "held":
                    running[owner][1] += sign * transfer.amount
        if transfer.participant is not None:
            after[transfer.id] = (transfer.participant, list(running[transfer.participant]))

    def last_of(cause: str, kind: str | None = None) -> int | None:
        ids = [t.id for t in db.by_cause.get(cause, []) if kind is None or t.kind == kind]
        return max(ids, default=None)

    checked = 0
    for entry in run.entries(ok=True):
        op, last = entry["op"], None
        if op == "record":
            last = last_of(f"outcome:{entry['outcome_id']}")
        elif op in ("adjust", "reverse"):
            last = entry["transfer_id"]
            if op == "reverse" and entry["kind"] == "spend":
                cause = next(t.cause for t in db.transfers if t.id == entry["reverses"])
                assert cause is not None
                last = last_of(cause, "release")
        elif op in ("request", "fulfil", "cancel"):
            movement = {"request": "hold", "fulfil": "spend", "cancel": "release"}[op]
            last = last_of(f"redemption:{entry['redemption']}", movement)
        if last is None:
            continue
        participant, balance = after[last]
        assert (entry["worker"], op, participant, balance) == (
            entry["worker"],
            op,
            entry["participant"],
            entry["balance"],
        ), f"a write returned a balance other than its own transfers left\n{summary}"
        checked += 1
    assert checked > 100, summary


def check_history(clinic: cmrewards.Clinic, db: Database, summary: str) -> None:
    """What staff read back agrees with the ledger: balances, and each history line once."""
    for participant in PARTICIPANTS:
        balance = clinic.balance(participant)
        program = PROGRAM_OF[participant]
        assert (balance.available_points, balance.held_points) == (
            db.balances.get((program, f"available:{participant}"), 0),
            db.balances.get((program, f"held:{participant}"), 0),
        ), summary
        entries = clinic.history(participant)
        refs = [e.ref for e in entries]
        assert duplicates(refs) == [], summary
        expected = [f"outcome:{o.id}" for o in db.outcomes if o.participant == participant]
        expected += [f"transfer:{t.id}" for t in db.transfers if t.participant == participant]
        assert sorted(refs) == sorted(expected), f"{participant}'s history\n{summary}"
        # Each balance shown is the sum of the points listed so far, never below zero, and
        # the last line holds the balance now.
        check_history_balances(entries)
        if entries:
            assert (entries[-1].available_points, entries[-1].held_points) == (
                balance.available_points,
                balance.held_points,
            ), summary
