"""Tamper detection: any single-row change made outside the library is caught by ``verify``.

A realistic SQLite clinic is built once through the public API so that every table has
rows; each test copies the file, edits one row with raw ``sqlite3`` (after dropping that
table's triggers, foreign keys off, as a stray script would), reopens it with
``cmrewards.open`` and requires that ``verify()`` is not ok. A file that is no longer a
cmrewards database may instead be refused by ``open`` (or ``verify``) with
``cmrewards.IntegrityError``. Edits the database's own constraints refuse (CHECK, UNIQUE,
NOT NULL, STRICT types) are skipped, naming the constraint.

What protects each table (docs/design.md section 4, ``verify.py``, ``journal.py``):

- chain -- ``outcomes`` and ``transfers``: each row carries ``hash = sha256(prev_hash +
  canonical row)``; an edit breaks its hash, a deletion or reordering the next
  ``prev_hash``. Outcomes are also replayed (schedule states, awards, prize redraws from
  the stored seed); transfers also feed the ledger invariants.
- chain -- ``journal``: its own chain over (id, kind, key, digest, at).
- journal -- ``staff``, ``programs``, ``participants``, ``past_episodes``, ``prizes``,
  ``prize_fulfilments``, ``prize_trades``, ``catalog`` (all but ``stock``),
  ``stock_movements``, ``redemptions``, ``idempotency``: every write of such a record
  appends a chained journal entry holding the digest of its canonical form; ``verify``
  compares each record with its latest entry, so an edit, an insertion or a deletion shows
  even where rows legitimately change (a redemption's status, a participant's status, a
  staff member's ``active``). Prize statuses are also checked against their hand-overs and
  trades.
- recomputed from sources -- ``balances`` (the sum of each account's transfers),
  ``schedule_states`` (the replay of each target's outcomes), ``cap_usage`` (the awards
  that still stand plus prizes won, per period), ``catalog.stock`` (the sum of the item's
  stock movements).
- identity -- ``cmrewards_meta``: ``open`` refuses a file whose ``application`` row is not
  ``cmrewards`` (``IntegrityError``).
- every table -- the store's ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``
  (which catch a reference edited to a missing row).
- not covered, and left out here -- ``_sqlite_migrations`` (sqlite-utils bookkeeping).

Rows edited: the first, a middle and the last row of each table (by rowid), plus, for a
nullable column those rows leave all NULL or all set, the first row that differs, so
both NULL -> value and value -> NULL are tried.

Kinds of edit, one test each (ids read ``table.column[row]-kind``):

- ``edit``: a type-appropriate change: an integer +1 (NULL -> 0), a timestamp one second
  later in the same format, a date one day later, a text value with one character
  altered (inside a string value for JSON text; NULL -> a plausible value);
- ``number``: the first number of a JSON text +1 (a program's point value, an award);
- ``other``: the value of another row of the same column (another staff member as the
  actor, another status, another participant);
- ``null``: a value -> NULL where the column allows it;
- ``delete``: the row deleted;
- ``swap``: the contents of two rows exchanged (order), for the chained tables;
- ``forge``: a copy of the last row appended with a new id (unique values altered);
- ``forge-chained``: for the chained tables, a copy of the last row appended with a new
  id and a correctly recomputed ``prev_hash`` and ``hash``, as someone with the library's
  source would.

Controls (``test_dropping_triggers_and_rewriting_a_row_unchanged_is_not_tampering``)
show the harness itself does not trip ``verify``, so every detection is the edit's.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import io
import json
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

import cmrewards
from cmrewards import Clinic
from cmrewards.domain.chain import GENESIS, canonical, link
from cmrewards.domain.programs import program_from_toml
from cmrewards.views.chains import CHAINS

ADMIN = "admin-1"
STIM = "stimulant-negative"
START = dt.date(2027, 1, 4)
"""A Monday: every participant's enrolment date."""

EXCLUDED_TABLES = frozenset({"_sqlite_migrations"})
"""sqlite-utils bookkeeping: not part of the clinic's records."""
ORDERED_TABLES = ("outcomes", "transfers", "journal")
"""Chained tables: their order is covered by swaps, so their id column is not edited."""

CAPPED_TOML = """
id = "stim-capped"
name = "Stimulant CM, capped vouchers"
point_value_cents = 25
timezone = "America/Los_Angeles"
cap_cents = 2000
cap_period = "calendar-year"
budget_cents = 500000
require_approval = false
hold_days = 30
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 2

[targets.schedule]
kind = "escalating"
award = "points"
start = 10
step = 5
max = 40
bonus = 10
bonus_every = 3
recovery_after = 2

[[targets]]
id = "attendance"
per_week = 2
schedule = { kind = "fixed", award = "points", amount = 5 }
"""
"""A points program with a $20 calendar-year cap, so ``cap_usage`` has rows and cuts."""


# --- the pristine clinic --------------------------------------------------------------


class TickingClock:
    """A wall clock one second further on at each reading, so every write has its own time."""

    def __init__(self) -> None:
        self.now = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def visit(day: int, hour: int = 9) -> dt.datetime:
    """Clinical time ``day`` days after START, at ``hour`` UTC."""
    return dt.datetime.combine(START, dt.time(hour), tzinfo=dt.UTC) + dt.timedelta(days=day)


def transfer_ids(clinic: Clinic, participant: str, kind: str) -> list[int]:
    """Ids of a participant's transfers of one kind, from their public history."""
    return [
        int(entry.ref.removeprefix("transfer:"))
        for entry in clinic.history(participant)
        if entry.kind == kind and entry.ref.startswith("transfer:")
    ]


def populate(clinic: Clinic) -> None:
    """Fill every table through the public API, as a few weeks of a real clinic would."""
    clinic.init(ADMIN)
    for staff_id, role in (
        ("rec-1", "recorder"),
        ("rec-2", "recorder"),
        ("clin-1", "clinician"),
        ("clin-2", "clinician"),
        ("admin-2", "admin"),
    ):
        clinic.add_staff(staff_id, role, actor=ADMIN)
    # Sign-in: a passphrase set by an admin, a failed attempt, a session.
    clinic.set_passphrase("rec-1", "correct horse battery", actor=ADMIN)
    with pytest.raises(cmrewards.PermissionDenied):
        clinic.sign_in("rec-1", "wrong guess here", os_user="desk", location="tamper.db")
    clinic.sign_in("rec-1", "correct horse battery", os_user="desk", location="tamper.db")
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor="admin-2")
    clinic.add_program(program_from_toml(CAPPED_TOML, "stim-capped.toml"), actor=ADMIN)
    for participant, program in (
        ("H001", "higgins-vbrt"),
        ("H002", "higgins-vbrt"),
        ("H003", "higgins-vbrt"),
        ("F001", "petry-fishbowl"),
        ("C001", "stim-capped"),
        ("C002", "stim-capped"),
    ):
        clinic.enroll(participant, program, start=START, actor=ADMIN)

    # Higgins: every kind of outcome, a reset and a recovery, keys and notes.
    h001 = [(0, "met"), (2, "met"), (4, "met"), (7, "not_met"), (9, "met"), (11, "excused")]
    h001 += [(14, "met"), (16, "missed"), (18, "met"), (21, "invalid"), (23, "met")]
    h001 += [(25, "met"), (28, "met"), (30, "met"), (32, "met")]
    for n, (day, outcome) in enumerate(h001):
        clinic.record(
            "H001",
            STIM,
            outcome,
            actor="rec-1" if n % 2 else "clin-1",
            at=visit(day),
            key=f"LAB-{day:03d}" if n % 3 == 0 else None,
            note="sample looked dilute" if outcome == "invalid" else None,
        )
    for day in (0, 2, 4, 7, 9, 11):
        clinic.record("H002", STIM, "met", actor="rec-2", at=visit(day))
    clinic.record("H003", STIM, "met", actor="rec-1", at=visit(1))
    # Fishbowl (seeds injected): stimulant and secondary negatives at each visit win prizes.
    for day in (0, 3, 7, 10, 14):
        clinic.record("F001", STIM, "met", actor="rec-1", at=visit(day, 10))
        clinic.record("F001", "secondary-negative", "met", actor="clin-1", at=visit(day, 10))
    clinic.record("F001", STIM, "not_met", actor="rec-2", at=visit(17, 10), key="LAB-F17")
    # A lab panel: one specimen complete (met), one waiting for its amphetamine result
    # (before the capped program's outcomes: the last outcome stays one that pays nothing).
    panel = cmrewards.program_from_dict(
        {
            "id": "stim-panel",
            "name": "Stimulant panel",
            "targets": [
                {
                    "id": STIM,
                    "analytes": ["cocaine", "amphetamine"],
                    "schedule": {"kind": "fixed", "amount": 10},
                }
            ],
        },
        "stim-panel",
    )
    clinic.add_program(panel, actor=ADMIN)
    clinic.enroll("L001", "stim-panel", start=START, actor=ADMIN)
    lab = cmrewards.lab_map_from_dict(
        {
            "columns": {
                "participant": "patient",
                "specimen": "accession",
                "collected": "collected",
                "analyte": "test",
                "result": "result",
            }
        },
        "lab-map.toml",
    )
    rows = (
        "accession,patient,collected,test,result\n"
        f"S-1,L001,{visit(0, 11):%Y-%m-%d %H:%M},COC,NEG\n"
        f"S-1,L001,{visit(0, 11):%Y-%m-%d %H:%M},AMP,NEG\n"
        f"S-2,L001,{visit(3, 11):%Y-%m-%d %H:%M},COC,NEG\n"
    )
    imported = clinic.import_lab_results(
        cmrewards.read_lab_file(io.StringIO(rows), lab, "lab.csv"), actor="rec-1"
    )
    assert (imported.outcomes, imported.pending) == (1, 1)
    # A preliminary amphetamine result for S-2: stored and shown, deciding nothing.
    early = cmrewards.LabReport(
        "L001", "S-2", visit(3, 11), (cmrewards.ReportedAnalyte(
            "amphetamine", cmrewards.LabResult.NEGATIVE, cmrewards.ResultStatus.PRELIMINARY
        ),),
    )  # fmt: skip
    shown = clinic.apply_lab_message(cmrewards.LabMessage((early,), "line 1"), actor="rec-1")
    assert (shown.reports[0].preliminary, shown.reports[0].recorded) == (1, ())

    # Capped: C001 reaches the $20 cap (the award that reaches it is cut), C002 does not.
    for day in range(0, 21, 3):
        clinic.record("C001", STIM, "met", actor="rec-1", at=visit(day, 16))
        clinic.record("C001", "attendance", "met", actor="rec-2", at=visit(day, 17))
    clinic.record("C002", STIM, "met", actor="rec-1", at=visit(1, 16), key="LAB-C002-1")
    clinic.record("C002", "attendance", "missed", actor="rec-1", at=visit(1, 17))

    # Corrections: adjustments both ways and reversals (one of a capped award).
    clinic.adjust("H001", 30, reason="attendance bonus", actor=ADMIN, key="ADJ-1")
    clinic.adjust("H002", -10, reason="entered twice", actor="admin-2")
    clinic.reverse(
        transfer_ids(clinic, "H001", "award")[0], reason="lab retest", actor=ADMIN, key="REV-1"
    )
    clinic.reverse(transfer_ids(clinic, "C001", "award")[0], reason="wrong date", actor=ADMIN)
    # Hard limits: adjustments counted toward the cap, one granted over it.
    clinic.adjust("C002", 8, reason="bus fare", actor=ADMIN)
    clinic.adjust("C002", -4, reason="entered twice", actor=ADMIN)
    clinic.adjust("C001", 40, reason="lab outage make-up", actor=ADMIN, over_cap=True)

    # Catalog, stock and the prize cabinet.
    clinic.add_item("GIFT-10", name="$10 grocery card", cost=40, stock=5, low_stock=2, actor=ADMIN)
    clinic.add_item("BUS-PASS", name="Weekly bus pass", cost=30, actor="admin-2")
    clinic.add_item("SNACK", name="Snack box", cost=0, stock=10, category="small", actor=ADMIN)
    clinic.add_item("HEADPHONES", name="Headphones", cost=0, stock=2, category="large", actor=ADMIN)
    clinic.restock("GIFT-10", 5, actor=ADMIN)
    clinic.restock("SNACK", 4, actor="admin-2")

    # Redemptions in every state.
    clinic.request_redemption("H001", "GIFT-10", actor="rec-1", key="RQ-1")  # requested
    approved = clinic.request_redemption("H001", "BUS-PASS", actor="rec-1").redemption.id
    clinic.approve_redemption(approved, actor="clin-1")  # approved
    fulfilled = clinic.request_redemption("H002", "GIFT-10", actor="rec-2").redemption.id
    clinic.approve_redemption(fulfilled, actor="clin-1")
    clinic.fulfil_redemption(fulfilled, actor="clin-2", note="card ...4821", cost_cents=1000)
    cancelled = clinic.request_redemption("H002", "GIFT-10", actor="rec-1").redemption.id
    clinic.cancel_redemption(cancelled, reason="changed their mind", actor="clin-1")
    undone = clinic.request_redemption("H001", "GIFT-10", actor="rec-1").redemption.id
    clinic.approve_redemption(undone, actor="clin-2")
    clinic.fulfil_redemption(undone, actor="clin-1", note="card ...0007")
    clinic.reverse(
        transfer_ids(clinic, "H001", "spend")[-1],
        reason="card did not work",
        actor=ADMIN,
        returned=True,
    )  # reversed, the card back in stock
    direct = clinic.request_redemption("C001", "GIFT-10", actor="rec-1").redemption.id
    clinic.fulfil_redemption(direct, actor="clin-1")  # no approval in this program

    # Prizes: one handed over, five small traded for one large, that large handed over.
    smalls = [p.id for p in clinic.prizes("F001") if p.category == "small"]
    assert len(smalls) >= 6, "the injected seeds no longer win six small prizes"
    clinic.fulfil_prize(smalls[0], sku="SNACK", actor="clin-1", note="granola")
    large = clinic.trade_prizes("F001", give="small", get="large", actor="clin-2")
    clinic.fulfil_prize(large.id, sku="HEADPHONES", actor="clin-1")

    # Visits and corrections: a late result, a correction, a void whose take-back is
    # partly written off, and a correction that withdraws owed prizes.
    clinic.record("H003", STIM, "met", actor="rec-1", at=visit(3), specimen="ACC-3")
    clinic.record("H003", STIM, "met", actor="rec-1", at=visit(0), visit="V-0")  # late
    clinic.correct(outcome_id(clinic, "H003", 1), "not_met", reason="lab retest", actor="clin-1")
    clinic.adjust("H003", -15, reason="spent at the front desk", actor=ADMIN)
    clinic.void(outcome_id(clinic, "H003", 3), reason="wrong chart", actor=ADMIN)
    with clinic._store.read() as tx:
        assert tx.write_offs(), "the void no longer writes anything off"
    clinic.correct(outcome_id(clinic, "F001", 0), "not_met", reason="confirmed", actor=ADMIN)
    assert any(p.status == "withdrawn" for p in clinic.prizes("F001")), clinic.prizes("F001")
    # Episodes: H002 completes, comes back to the same program and meets again (its first
    # episode is kept in past_episodes); it completes again below. It comes back the day it
    # completed (the clock's), as episodes may not overlap.
    clinic.complete("H002", actor=ADMIN)
    back = clinic.enroll("H002", "higgins-vbrt", actor=ADMIN)
    clinic.record(
        "H002",
        STIM,
        "met",
        actor="rec-1",
        at=dt.datetime.combine(back.start, dt.time(0), tzinfo=dt.UTC),
    )
    # The last outcome is a reset whose copy would change nothing (the forge-chained case),
    # but whose removal would.
    clinic.record("C002", STIM, "not_met", actor="rec-1", at=visit(4, 16))

    # Enrolment and staff status changes.
    clinic.complete("H002", actor=ADMIN)
    clinic.withdraw("H003", actor="admin-2")
    clinic.deactivate_staff("rec-2", actor=ADMIN)


def outcome_id(clinic: Clinic, participant: str, day: int) -> int:
    """The id of the participant's primary-target outcome on ``day``."""
    with clinic._store.read() as tx:
        return next(
            o.id
            for o in tx.outcomes(participant)
            if o.target == STIM and o.occurred_at.date() == visit(day).date()
        )


@functools.cache
def pristine() -> Path:
    """The clinic, built once per test session (its cases are collected from it)."""
    folder = Path(tempfile.mkdtemp(prefix="cmrewards-tamper-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "pristine.db"
    clinic = cmrewards.open(path, clock=TickingClock(), seeds=iter(range(1, 10**6)).__next__)
    try:
        populate(clinic)
    finally:
        clinic.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:  # fold the WAL into the file, so copying the one file copies everything
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    return path


# --- reading the schema -----------------------------------------------------------------


@attrs.frozen
class Column:
    name: str
    type: str
    notnull: bool
    pk: int
    """Position in the primary key (1-based), 0 if not part of it."""


@attrs.frozen
class Table:
    name: str
    columns: tuple[Column, ...]
    rowids: tuple[int, ...]
    unique: tuple[tuple[str, ...], ...]
    """Column lists of the primary key and of every UNIQUE constraint."""

    @property
    def integer_pk(self) -> str | None:
        """The INTEGER PRIMARY KEY column (an alias of the rowid), if any."""
        pks = [c for c in self.columns if c.pk]
        if len(pks) == 1 and pks[0].type.upper() == "INTEGER":
            return pks[0].name
        return None

    def representatives(self) -> dict[str, int]:
        """First, middle and last row (by rowid), labelled."""
        ids = self.rowids
        picks = {"first": ids[0], "middle": ids[len(ids) // 2], "last": ids[-1]}
        labelled: dict[str, int] = {}
        for label, rowid in picks.items():
            if rowid not in labelled.values():
                labelled[label] = rowid
        return labelled


def read_tables(conn: sqlite3.Connection) -> list[Table]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY rowid"
        )
    ]
    tables = []
    for name in names:
        if name in EXCLUDED_TABLES:
            continue
        columns = tuple(
            Column(r[1], r[2], bool(r[3]), r[5]) for r in conn.execute(f"PRAGMA table_info({name})")
        )
        unique = []
        for index in conn.execute(f"PRAGMA index_list({name})"):
            if index[2]:  # unique (a primary key or a UNIQUE constraint)
                info = conn.execute(f"PRAGMA index_info({index[1]})").fetchall()
                unique.append(tuple(r[2] for r in sorted(info)))
        pk = tuple(c.name for c in sorted(columns, key=lambda c: c.pk) if c.pk)
        if pk and pk not in unique:
            unique.append(pk)  # an INTEGER PRIMARY KEY has no index of its own
        rowids = tuple(r[0] for r in conn.execute(f"SELECT rowid FROM {name} ORDER BY rowid"))
        tables.append(Table(name, columns, rowids, tuple(unique)))
    return tables


def row_of(conn: sqlite3.Connection, table: str, rowid: int) -> dict[str, Any]:
    cursor = conn.execute(f"SELECT * FROM {table} WHERE rowid = ?", [rowid])
    names = [d[0] for d in cursor.description]
    values = cursor.fetchone()
    assert values is not None
    return dict(zip(names, values, strict=True))


# --- type-appropriate changes -------------------------------------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HEX = re.compile(r"^[0-9a-f]{64}$")
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
JSON_NUMBER = re.compile(r"(?:(?<=: )|(?<=:))-?\d+(?=[,}\]])")


def later_time(text: str) -> str:
    """``text`` one second later, in exactly the same format."""
    moved = dt.datetime.fromisoformat(text) + dt.timedelta(seconds=1)
    spec = "microseconds" if "." in text else "seconds"
    out = moved.isoformat(timespec=spec)
    if text.endswith("Z"):
        out = out.replace("+00:00", "Z")
    assert len(out) == len(text), (text, out)
    return out


def one_char(text: str) -> str:
    """``text`` with its last letter or digit replaced (a hex digest stays hex)."""
    if HEX.match(text):
        return text[:-1] + ("0" if text[-1] != "0" else "1")
    for i in range(len(text) - 1, -1, -1):
        if text[i].isalnum():
            return text[:i] + ("Z" if text[i] != "Z" else "Y") + text[i + 1 :]
    return text + "x"


def json_string_edit(text: str) -> str:
    """One character of a JSON document's ``name`` value (else its last string value)."""
    values = [m for m in JSON_STRING.finditer(text) if not text[m.end() :].lstrip().startswith(":")]
    keyed = [m for m in values if text[: m.start()].rstrip().endswith('"name":')]
    match = (keyed or values)[-1]
    inner = match.group()[1:-1]
    edited = text[: match.start() + 1] + one_char(inner) + text[match.end() - 1 :]
    json.loads(edited)  # still a document: the change is to a value, not to the syntax
    return edited


def json_number_edit(text: str) -> str:
    """The first number of a JSON document +1."""
    match = JSON_NUMBER.search(text)
    assert match is not None
    edited = text[: match.start()] + str(int(match.group()) + 1) + text[match.end() :]
    json.loads(edited)
    return edited


def is_json(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith(("{", "[")):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def changed(value: Any) -> Any:
    """The value a stray script would change ``value`` to (not None)."""
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, str), value
    if TIMESTAMP.match(value):
        return later_time(value)
    if DATE.match(value):
        return (dt.date.fromisoformat(value) + dt.timedelta(days=1)).isoformat()
    if is_json(value):
        return json_string_edit(value)
    return one_char(value)


def filled(column: Column, row: dict[str, Any]) -> Any:
    """A plausible value for a NULL cell."""
    if column.type.upper() == "INTEGER":
        return 0
    if column.name.endswith("_at"):
        times = [v for v in row.values() if isinstance(v, str) and TIMESTAMP.match(v)]
        return later_time(times[-1]) if times else "2027-06-01T12:00:00.000000Z"
    if column.name.endswith("_by"):
        return ADMIN
    if column.name.endswith("_date"):
        return START.isoformat()
    return "tampered"


# --- the cases ----------------------------------------------------------------------------

Statement = tuple[str, tuple[Any, ...]]


@attrs.frozen
class Case:
    id: str
    table: str
    statements: tuple[Statement, ...]


def update(table: str, rowid: int, column: str, value: Any) -> Statement:
    return (f'UPDATE {table} SET "{column}" = ? WHERE rowid = ?', (value, rowid))


def insert(table: str, row: dict[str, Any]) -> Statement:
    names = ", ".join(f'"{n}"' for n in row)
    marks = ", ".join("?" * len(row))
    return (f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))


def cells(conn: sqlite3.Connection, table: Table) -> list[tuple[str, int, list[Column]]]:
    """(label, rowid, columns) to edit: every column of the representative rows, plus, for a
    nullable column those rows leave all NULL or all set, the first row that differs."""
    chosen = table.representatives()
    picked = [(label, rowid, list(table.columns)) for label, rowid in chosen.items()]
    extra: dict[int, list[Column]] = {}
    for column in table.columns:
        if column.notnull or column.pk:
            continue
        seen = {row_of(conn, table.name, r)[column.name] is None for r in chosen.values()}
        if len(seen) == 1:
            found = conn.execute(
                f'SELECT rowid FROM {table.name} WHERE ("{column.name}" IS NULL) = ?'
                " ORDER BY rowid LIMIT 1",
                [not seen.pop()],
            ).fetchone()
            if found is not None:
                extra.setdefault(found[0], []).append(column)
    picked += [(f"rowid-{rowid}", rowid, columns) for rowid, columns in sorted(extra.items())]
    return picked


def value_cases(conn: sqlite3.Connection, table: Table) -> list[Case]:
    cases = []
    solo_unique = {u[0] for u in table.unique if len(u) == 1}
    for label, rowid, columns in cells(conn, table):
        row = row_of(conn, table.name, rowid)
        for column in columns:
            if column.name == table.integer_pk and table.name in ORDERED_TABLES:
                continue  # renumbering a chained row is the "swap" case
            name = f"{table.name}.{column.name}[{label}]"
            value = row[column.name]
            edits: dict[str, Any] = {}
            if value is None:
                edits["edit"] = filled(column, row)
            else:
                edits["edit"] = changed(value)
                if is_json(value):
                    edits["number"] = json_number_edit(value)
                if not column.notnull and not column.pk:
                    edits["null"] = None
            if column.name == table.integer_pk:
                edits["edit"] = max(table.rowids) + 1  # a free id: +1 would hit the next row
            if column.name not in solo_unique:
                others = [
                    r[0]
                    for r in conn.execute(
                        f'SELECT DISTINCT "{column.name}" FROM {table.name}'
                        f' WHERE "{column.name}" IS NOT NULL AND "{column.name}" IS NOT ?'
                        " ORDER BY rowid",
                        [value],
                    )
                ]
                if others and others[0] != edits["edit"]:
                    edits["other"] = others[0]
            for kind, new in edits.items():
                assert new != value, (name, kind)
                statement = update(table.name, rowid, column.name, new)
                cases.append(Case(f"{name}-{kind}", table.name, (statement,)))
    return cases


def delete_cases(table: Table) -> list[Case]:
    return [
        Case(
            f"{table.name}[{label}]-delete",
            table.name,
            ((f"DELETE FROM {table.name} WHERE rowid = ?", (rowid,)),),
        )
        for label, rowid in table.representatives().items()
    ]


def swap_cases(table: Table) -> list[Case]:
    """Exchange the contents of two neighbouring rows (so their order) by swapping ids."""
    ids = table.rowids
    pairs = {"first": (ids[0], ids[1]), "middle": (ids[len(ids) // 2], ids[len(ids) // 2 + 1])}
    pairs["last"] = (ids[-2], ids[-1])
    cases = []
    for label, (a, b) in pairs.items():
        parked = -1
        statements = (
            (f"UPDATE {table.name} SET id = ? WHERE id = ?", (parked, a)),
            (f"UPDATE {table.name} SET id = ? WHERE id = ?", (a, b)),
            (f"UPDATE {table.name} SET id = ? WHERE id = ?", (b, parked)),
        )
        cases.append(Case(f"{table.name}[{label}]-swap", table.name, statements))
    return cases


def forged_copy(conn: sqlite3.Connection, table: Table) -> dict[str, Any]:
    """The last row with a new id and every other unique value made unique again."""
    row = row_of(conn, table.name, table.rowids[-1])
    if table.integer_pk is not None:
        row[table.integer_pk] = max(table.rowids) + 1
    for columns in table.unique:
        if columns == (table.integer_pk,):
            continue
        where = " AND ".join(f'"{c}" IS ?' for c in columns)
        values = [row[c] for c in columns]
        taken = conn.execute(f"SELECT count(*) FROM {table.name} WHERE {where}", values)
        if any(v is None for v in values) or not taken.fetchone()[0]:
            continue  # NULLs are never equal in a UNIQUE constraint
        last = columns[-1]
        if isinstance(row[last], int):
            top = conn.execute(f'SELECT max("{last}") FROM {table.name}').fetchone()[0]
            row[last] = top + 1
        else:
            row[last] = one_char(row[last])
    return row


def forge_cases(conn: sqlite3.Connection, table: Table) -> list[Case]:
    cases = [
        Case(
            f"{table.name}[new]-forge", table.name, (insert(table.name, forged_copy(conn, table)),)
        )
    ]
    if table.name in ORDERED_TABLES:
        last = row_of(conn, table.name, table.rowids[-1])
        row = dict(last, id=last["id"] + 1, prev_hash=last["hash"])
        row["hash"] = link(row["prev_hash"], chained_fields(row))
        cases.append(
            Case(f"{table.name}[new]-forge-chained", table.name, (insert(table.name, row),))
        )
    return cases


HASHED_WHEN_SET = {"visit", "specimen", "settles", "cap_change_cents", "over_cap_cents"}
"""Columns added by migrations 0005 and 0007: a row's hash covers each only when it is set,
so rows written before it hash as they did."""


def chained_fields(row: dict[str, Any]) -> dict[str, Any]:
    """What a chained row's hash covers: every column but the two hashes (as stored)."""
    return {
        k: v
        for k, v in row.items()
        if k not in ("prev_hash", "hash") and not (k in HASHED_WHEN_SET and v is None)
    }


@functools.cache
def schema() -> tuple[Table, ...]:
    conn = sqlite3.connect(pristine())
    try:
        return tuple(read_tables(conn))
    finally:
        conn.close()


@functools.cache
def all_cases() -> tuple[Case, ...]:
    conn = sqlite3.connect(pristine())
    try:
        cases: list[Case] = []
        for table in schema():
            assert table.rowids, f"the pristine clinic has no {table.name} rows"
            cases += value_cases(conn, table)
            cases += delete_cases(table)
            if table.name in ORDERED_TABLES:
                cases += swap_cases(table)
            cases += forge_cases(conn, table)
        return tuple(cases)
    finally:
        conn.close()


# --- running a case -----------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of the pristine clinic."""
    path = tmp_path / "clinic.db"
    shutil.copyfile(pristine(), path)
    return path


def tamper(path: Path, table: str, statements: Sequence[Statement]) -> None:
    """Apply ``statements`` past the library: that table's triggers dropped, foreign keys off,
    and the triggers put back word for word afterwards, as a careful forger would (a guard
    left missing is reported by itself: tests/store/test_sqlite_guards.py).

    Skips the case when the database's own constraints refuse the edit.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 0
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [table]
        ).fetchall()
        for trigger, _ in triggers:
            conn.execute(f'DROP TRIGGER "{trigger}"')
        conn.execute("BEGIN")
        try:
            for sql, params in statements:
                assert conn.execute(sql, params).rowcount == 1, sql
        except sqlite3.IntegrityError as error:
            conn.execute("ROLLBACK")
            pytest.skip(f"the database's own constraints refuse the edit: {error}")
        for _, sql in triggers:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()


def verdict(path: Path) -> str | None:
    """None when the tampering was caught, else what went wrong."""
    try:
        clinic = cmrewards.open(path)
    except cmrewards.IntegrityError:
        return None  # refused as damaged or foreign: never a pass
    try:
        report = clinic.verify()
    except cmrewards.IntegrityError:
        return None
    except Exception as error:  # a crash is not a report: the CLI would show a traceback
        return f"verify crashed instead of reporting: {type(error).__name__}: {error}"
    finally:
        clinic.close()
    return None if not report.ok else "verify().ok is still True: the edit went undetected"


def test_the_pristine_clinic_fills_every_table_and_verifies(copy: Path) -> None:
    tables = {t.name: t for t in schema()}
    assert set(tables) == {
        "cmrewards_meta", "staff", "programs", "participants", "outcomes", "transfers",
        "balances", "schedule_states", "idempotency", "prizes", "cap_usage", "catalog",
        "stock_movements", "redemptions", "prize_fulfilments", "prize_trades", "journal",
        "analyte_results", "analyte_revisions",
        "corrections", "write_offs", "prize_withdrawals", "past_episodes",
        "staff_secrets", "sign_ins",
    }  # fmt: skip
    assert all(t.rowids for t in tables.values())
    conn = sqlite3.connect(copy)
    try:
        kinds = {r[0] for r in conn.execute("SELECT DISTINCT outcome FROM outcomes")}
        statuses = {r[0] for r in conn.execute("SELECT DISTINCT status FROM redemptions")}
        people = {r[0] for r in conn.execute("SELECT DISTINCT status FROM participants")}
        roles = {r[0] for r in conn.execute("SELECT DISTINCT role FROM staff")}
        inactive = conn.execute("SELECT count(*) FROM staff WHERE active = 0").fetchone()[0]
        prizes = {r[0] for r in conn.execute("SELECT DISTINCT status FROM prizes")}
        movements = {r[0] for r in conn.execute("SELECT DISTINCT kind FROM transfers")}
        stock = {r[0] for r in conn.execute("SELECT DISTINCT reason FROM stock_movements")}
        capped = conn.execute("SELECT count(*) FROM cap_usage WHERE cents > 0").fetchone()[0]
    finally:
        conn.close()
    assert kinds == {"met", "not_met", "missed", "excused", "invalid"}
    assert statuses == {"requested", "approved", "fulfilled", "cancelled", "reversed"}
    assert people == {"active", "completed", "withdrawn"}
    assert roles == {"recorder", "clinician", "admin"}
    assert inactive == 1
    assert prizes == {"owed", "fulfilled", "traded"}
    assert movements >= {"award", "bonus", "adjustment-up", "adjustment-down", "reversal"}
    assert movements >= {"hold", "release", "spend"}
    assert stock == {"restock", "request", "cancel", "prize", "return"}
    assert capped >= 2
    with cmrewards.open(copy) as clinic:
        report = clinic.verify()
    assert report.ok, report.problems


def test_the_forger_recipe_reproduces_the_stored_hashes(copy: Path) -> None:
    """The ``forge-chained`` cases link rows exactly as the library does."""
    conn = sqlite3.connect(copy)
    try:
        for table in ORDERED_TABLES:
            previous = GENESIS
            for rowid in next(t for t in schema() if t.name == table).rowids:
                row = row_of(conn, table, rowid)
                assert row["prev_hash"] == previous
                assert link(row["prev_hash"], chained_fields(row)) == row["hash"], (table, rowid)
                previous = row["hash"]
    finally:
        conn.close()


@pytest.mark.parametrize("table", [t.name for t in schema()])
def test_dropping_triggers_and_rewriting_a_row_unchanged_is_not_tampering(
    copy: Path, table: str
) -> None:
    """The control: the harness alone (no change of value) leaves ``verify`` ok."""
    spec = next(t for t in schema() if t.name == table)
    column = spec.columns[-1].name
    rowid = spec.rowids[len(spec.rowids) // 2]
    tamper(copy, table, [(f'UPDATE {table} SET "{column}" = "{column}" WHERE rowid = ?', (rowid,))])
    with cmrewards.open(copy) as clinic:
        report = clinic.verify()
    assert report.ok, report.problems


APPENDED_WITH_A_VALID_CHAIN = pytest.mark.xfail(
    strict=True,
    reason="a forger who recomputes sha256 can append a harmless row after the last one: nothing"
    " tells it from a real write (a checkpoint kept outside the file proves only that nothing"
    " before it changed or was cut: tests/store/test_checkpoint_tamper.py)",
)


def _marked(case: Case) -> Any:
    if case.id in ("outcomes[new]-forge-chained", "journal[new]-forge-chained"):
        return pytest.param(case, id=case.id, marks=APPENDED_WITH_A_VALID_CHAIN)
    return pytest.param(case, id=case.id)


@pytest.mark.parametrize("case", [_marked(c) for c in all_cases()])
def test_verify_detects_a_single_row_edit(copy: Path, case: Case) -> None:
    tamper(copy, case.table, case.statements)
    problem = verdict(copy)
    assert problem is None, f"{case.id}: {problem}"


@pytest.mark.parametrize("table", ["outcomes", "transfers"])
def test_a_chained_row_that_is_no_record_is_reported_not_a_crash(copy: Path, table: str) -> None:
    # A time that is no time: the tamper cases above change a time to a later one, which
    # still reads; this one cannot be made a record, and verify must say so, not crash.
    tamper(copy, table, [update(table, 1, "occurred_at", "yesterday-ish")])
    clinic = cmrewards.open(copy)
    try:
        report = clinic.verify()
    finally:
        clinic.close()
    kind = table.removesuffix("s")
    assert not report.ok
    assert any(
        str(p.ref) == f"{kind}:1" and p.message.startswith(f"{kind} 1 cannot be read (")
        for p in report.problems
    ), report.problems


def test_every_stored_chained_row_is_spelled_by_its_chains_own_shape(copy: Path) -> None:
    # verify spells a row by its table's fixed shape and falls back to the encoder for any
    # other: a column SQLite hands back as another type would fall back quietly (slower,
    # never weaker). Every row of the filled clinic must take the fast spelling.
    clinic = cmrewards.open(copy)
    try:
        with clinic._store.read() as tx:
            for spec in CHAINS:
                links = spec.links(tx)
                assert links, spec.name
                for _, _, _, fields in links:
                    assert spec.spell(fields) == canonical(fields), (spec.name, fields)
    finally:
        clinic.close()
