"""Tampering on PostgreSQL: the database refuses silent edits, and ``verify`` catches what a
superuser forces past it (the PostgreSQL counterpart of test_tamper.py).

The clinic is test_tamper.py's (``populate``: every table filled through the public API,
redemptions in every state, prizes owed, handed over and traded), built once on the server.
Tests that edit rows work on a copy of it whose rows are put back before each test (``copy``);
tests that change the schema itself (triggers, functions, meta) get a private clone
(``fresh``); the (c) cases take guards away one at a time on a copy of their own.

- Refused (a): with a plain ``psycopg`` connection to the clinic's URL, UPDATE, DELETE and
  TRUNCATE on the append-only tables (outcomes, transfers, journal, stock_movements,
  prize_fulfilments, prize_trades, past_episodes), DELETE and TRUNCATE on prizes and
  redemptions, a change to what a prize was won for or to a prize no longer owed, and a
  redemption moving backwards or changing what was requested all raise, with the guard's own
  message (the server's error, not a coincidental constraint). Each attempt runs in a
  transaction that is rolled back whatever happens, so an edit that was wrongly let through
  cannot spoil the shared clinic; the test fails on it all the same.
- Caught (b): a superuser who turns the guards off (``SET session_replication_role =
  replica``, or ``ALTER TABLE ... DISABLE TRIGGER`` and on again afterwards) and edits a row
  makes ``clinic.verify()`` not ok with a problem naming the row, and ``cmrewards --db URL
  verify`` exit 3 with one line on stderr. Tables no trigger guards (balances, schedule
  states, stock, cap usage, staff, participants, idempotency records) take the edit without
  any bypass: ``verify`` recomputes or journals them, and catches it all the same.
- Reported (c): every guard trigger (and the balance and stock triggers) dropped, or
  disabled, is named by ``verify``, as the only problem (so the previous case's guard was
  put back); the CLI exits 3. So is a guard neutralised while a trigger of its name stays
  enabled: made replica-only, replaced by a decoy, its function's body replaced, or an
  unknown trigger put in front of it. Edits made through such a guard are caught by the
  chains as well, which the test after them shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import errors
from test_tamper import TickingClock, populate

import cmrewards
from cmrewards import Clinic, VerifyReport
from cmrewards.cli import cli
from cmrewards.store import postgres_schema
from support import postgres as postgres_support

APPEND_ONLY = (
    "outcomes",
    "transfers",
    "journal",
    "stock_movements",
    "prize_fulfilments",
    "prize_trades",
    "past_episodes",
)
NEVER_DELETED = {
    **{table: f"{table} are append-only" for table in APPEND_ONLY},
    "prizes": "prizes are append-only",
    "redemptions": "redemptions are never deleted",
}
"""Each table whose rows are never deleted, and the message its guard refuses with."""
PRIZE_MESSAGE = "a prize only moves on from owed"
REDEMPTION_MESSAGE = "redemptions move one way only"
GUARD_MESSAGES = {*NEVER_DELETED.values(), PRIZE_MESSAGE, REDEMPTION_MESSAGE}


GUARDS = {name: (g.table, g.ddl()) for name, g in postgres_schema.GUARDS.items()}
"""Every guard trigger of the schema: its table and the statement that creates it."""


# --- the clinics ----------------------------------------------------------------------------


BUILT: dict[str, list[str]] = {}
"""The rows of each shared clinic as ``pristine`` built it."""


@pytest.fixture(scope="module")
def pristine() -> Iterator[str]:
    """The populated clinic, shared by the module: tests only read it or clone it."""
    with postgres_support.database() as url:
        seeds = iter(range(1, 10**6)).__next__
        with cmrewards.open(url, clock=TickingClock(), seeds=seeds) as clinic:
            populate(clinic)
        BUILT[url] = contents(url)
        yield url


def schema_of(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    assert row[0] is not None
    return str(row[0])


def copy_rows(source: str, target: str) -> None:
    """Make every table of the clinic at ``target`` hold exactly the rows of ``source``."""
    origin = schema_of(source)
    with psycopg.connect(target) as conn:
        # Rows as they are: no guard, no foreign-key check, no balance or stock trigger.
        conn.execute("SET LOCAL session_replication_role = replica")
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename NOT IN ('cmrewards_meta', 'cmrewards_migrations')"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f"DELETE FROM {table}")
            conn.execute(f"INSERT INTO {table} SELECT * FROM {origin}.{table}")


def clone(source: str) -> str:
    """A new clinic database holding exactly the rows of ``source`` (PostgreSQL cannot copy
    a schema; building the clinic afresh through the API takes four times as long)."""
    url = postgres_support.new_database()
    cmrewards.open(url).close()  # the tables, their guards and triggers, the meta row
    copy_rows(source, url)
    return url


@pytest.fixture
def fresh(pristine: str) -> Iterator[str]:
    """A private clone, for tampering with the schema itself (triggers, functions, meta)."""
    url = clone(pristine)
    try:
        yield url
    finally:
        postgres_support.drop_database(url)


@pytest.fixture(scope="module")
def scratch(pristine: str) -> Iterator[str]:
    url = clone(pristine)
    try:
        yield url
    finally:
        postgres_support.drop_database(url)


@pytest.fixture
def copy(pristine: str, scratch: str) -> str:
    """A clone for editing rows: one per module, its rows put back as built before each
    test (cloning afresh for each would double the module's time)."""
    copy_rows(pristine, scratch)
    return scratch


def contents(url: str) -> list[str]:
    """Every row of the clinic, but when its migrations ran."""
    return [
        line
        for line in postgres_support.table_dump(url)
        if not line.startswith("cmrewards_migrations:")
    ]


def verified(url: str) -> VerifyReport:
    with cmrewards.open(url) as clinic:
        return clinic.verify()


def cli_verify(url: str, *, json_output: bool = True) -> Result:
    return CliRunner().invoke(cli, ["--db", url, *(["--json"] if json_output else []), "verify"])


def problems(report: VerifyReport) -> str:
    """``1 problem``, ``3 problems``: the count the CLI's error line gives."""
    count = len(report.problems)
    return f"{count} problem" if count == 1 else f"{count} problems"


def messages(report: VerifyReport) -> tuple[str, ...]:
    return tuple(problem.message for problem in report.problems)


def assert_caught(url: str, *expected: str) -> VerifyReport:
    """``verify`` is not ok and names each of ``expected`` (substrings of its problems); the
    CLI (``--json``) exits 3 with one line on stderr and the same problems."""
    report = verified(url)
    assert not report.ok, "verify().ok is still True: the edit went undetected"
    for want in expected:
        assert any(want in problem for problem in messages(report)), (want, report.problems)
    result = cli_verify(url)
    assert result.exit_code == 3, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [f"cmrewards: verify found {problems(report)}"]
    document = json.loads(result.stdout)
    document_messages = [problem["message"] for problem in document["problems"]]
    assert (document["ok"], document_messages) == (False, list(messages(report)))
    return report


def value(url: str, sql: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return row[0]


def test_the_clinic_fills_every_table_verifies_and_its_clone_is_identical(
    pristine: str, fresh: str, copy: str
) -> None:
    """The control: the shared clinic and a clone are sound, whole and the same."""
    with psycopg.connect(pristine) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()
        ]
        empty = [t for t in tables if not conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]
        triggers = conn.execute(
            "SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
        ).fetchall()
    assert len(tables) == 26  # with analyte_revisions, staff_secrets and sign_ins
    assert empty == []
    assert sorted(triggers) == [(name, "O") for name in sorted(GUARDS)]
    for url in (pristine, fresh, copy):
        report = verified(url)
        assert (report.ok, report.problems) == (True, ())
        result = cli_verify(url)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert contents(url) == BUILT[pristine]


# --- (a) the database refuses -----------------------------------------------------------------


Raw = psycopg.Connection[Any]


@pytest.fixture(scope="module")
def raw(pristine: str) -> Iterator[Raw]:
    """A plain connection to the shared clinic (as the test cluster's superuser)."""
    with psycopg.connect(pristine, autocommit=True) as conn:
        yield conn


def attempt(target: str | Raw, sql: str) -> psycopg.Error | None:
    """Run ``sql`` on a plain connection (or on a clinic's URL), in a transaction rolled back
    whatever happens; the server's error, or None when it let the statement through."""
    if isinstance(target, str):
        with psycopg.connect(target, autocommit=True) as conn:
            return attempt(conn, sql)
    try:
        with target.transaction(force_rollback=True):
            target.execute(sql)
    except psycopg.Error as error:
        return error
    return None


def refused(conn: Raw, sql: str, message: str) -> str | None:
    """None when the guard refused ``sql`` with ``message``, else what happened instead."""
    error = attempt(conn, sql)
    if error is None:
        return f"{sql}: not refused"
    if not isinstance(error, errors.IntegrityConstraintViolation):
        return f"{sql}: {type(error).__name__} ({error.sqlstate}): {error}"
    if error.diag.message_primary != message:
        return f"{sql}: refused by another check: {error.diag.message_primary}"
    return None


def columns(url: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of each column; text columns are the ``ctext`` domain over text."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table],
        ).fetchall()
    return [(str(name), str(kind)) for name, kind in rows]


def changed(column: str, kind: str) -> str:
    """An SQL expression that changes the column's value, whatever it is (NULL too)."""
    if kind == "bigint":
        return f"coalesce({column}, 0) + 1"
    assert kind == "text", (column, kind)
    return f"coalesce({column}, '') || 'x'"


ROWS = {
    "first": "(SELECT min(ctid) FROM {table})",
    "last": "(SELECT max(ctid) FROM {table})",
}


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_no_column_of_an_append_only_row_can_be_updated(
    pristine: str, raw: Raw, table: str
) -> None:
    problems = []
    for column, kind in columns(pristine, table):
        for row in ROWS.values():
            where = f"ctid = {row.format(table=table)}"
            sql = f"UPDATE {table} SET {column} = {changed(column, kind)} WHERE {where}"
            problems.append(refused(raw, sql, f"{table} are append-only"))
        # Rewriting a value with itself is an UPDATE too.
        problems.append(
            refused(raw, f"UPDATE {table} SET {column} = {column}", f"{table} are append-only")
        )
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("table", list(NEVER_DELETED))
def test_no_row_of_an_append_only_table_can_be_deleted(raw: Raw, table: str) -> None:
    statements = [f"DELETE FROM {table} WHERE ctid = {row}" for row in ROWS.values()]
    statements.append(f"DELETE FROM {table}")
    problems = [refused(raw, sql.format(table=table), NEVER_DELETED[table]) for sql in statements]
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("table", list(NEVER_DELETED))
def test_an_append_only_table_cannot_be_truncated(raw: Raw, table: str) -> None:
    # CASCADE gets past the foreign keys that refuse a plain TRUNCATE of a referenced table,
    # and fires the table's own guard first.
    assert refused(raw, f"TRUNCATE {table} CASCADE", NEVER_DELETED[table]) is None
    assert refused(raw, f"TRUNCATE {table} RESTART IDENTITY CASCADE", NEVER_DELETED[table]) is None
    # A plain TRUNCATE: the guard, or (outcomes, prizes) the foreign keys pointing at it.
    error = attempt(raw, f"TRUNCATE {table}")
    assert isinstance(error, errors.IntegrityConstraintViolation | errors.FeatureNotSupported)
    if isinstance(error, errors.FeatureNotSupported):
        assert "referenced in a foreign key constraint" in str(error)


PRIZE_WHERE = (
    "SELECT min(id) FROM prizes WHERE status = '{status}' AND draw IS NOT NULL"
    " AND id NOT IN (SELECT prize_id FROM prize_withdrawals)"
)
"""The first prize of a status that a correction has not withdrawn."""
REDEMPTION_WHERE = "SELECT min(id) FROM redemptions WHERE status = '{status}'"


def prize_where(url: str, status: str) -> int:
    return int(value(url, PRIZE_WHERE.format(status=status)))


WON_FIELDS = {
    "id": "id + 1000",
    "program_id": "'higgins-vbrt'",
    "participant": "'H001'",
    "outcome_id": "1",
    "draw": "draw + 5",
    "category": "'small'",
    "value_cents": "value_cents + 1",
    "won_at": "'2027-01-01T00:00:00.000000Z'",
}


@pytest.mark.parametrize("field", list(WON_FIELDS))
def test_what_a_prize_was_won_for_cannot_change(pristine: str, raw: Raw, field: str) -> None:
    owed = prize_where(pristine, "owed")
    change = f"{field} = {WON_FIELDS[field]}"
    problems = [
        refused(raw, f"UPDATE prizes SET {change} WHERE id = {owed}", PRIZE_MESSAGE),
        # Not even on the way to being handed over.
        refused(
            raw,
            f"UPDATE prizes SET status = 'fulfilled', {change} WHERE id = {owed}",
            PRIZE_MESSAGE,
        ),
    ]
    assert [p for p in problems if p] == []


@pytest.mark.parametrize(
    ("status", "to"),
    [("fulfilled", "owed"), ("traded", "owed"), ("fulfilled", "traded"), ("traded", "fulfilled")],
)
def test_a_prize_handed_over_or_traded_never_moves_again(
    pristine: str, raw: Raw, status: str, to: str
) -> None:
    prize = prize_where(pristine, status)
    sql = f"UPDATE prizes SET status = '{to}' WHERE id = {prize}"
    assert refused(raw, sql, PRIZE_MESSAGE) is None


def redemption_where(url: str, status: str) -> int:
    return int(value(url, REDEMPTION_WHERE.format(status=status)))


@pytest.mark.parametrize(
    ("status", "to"),
    [
        ("approved", "requested"),
        ("fulfilled", "approved"),
        ("fulfilled", "requested"),
        ("fulfilled", "cancelled"),
        ("cancelled", "requested"),
        ("cancelled", "approved"),
        ("reversed", "fulfilled"),
        ("reversed", "requested"),
        ("requested", "reversed"),
        ("approved", "reversed"),
        ("fulfilled", "fulfilled"),
        ("cancelled", "cancelled"),
    ],
)
def test_a_redemption_never_goes_backwards(pristine: str, raw: Raw, status: str, to: str) -> None:
    redemption = redemption_where(pristine, status)
    sql = f"UPDATE redemptions SET status = '{to}', note = 'x' WHERE id = {redemption}"
    assert refused(raw, sql, REDEMPTION_MESSAGE) is None


@pytest.mark.parametrize(
    "change",
    [
        "id = id + 100",
        "program_id = 'stim-capped'",
        "participant = 'H002'",
        "sku = 'BUS-PASS'",
        "cost = cost - 1",
        "requested_at = '2027-01-01T00:00:00.000000Z'",
        "requested_by = 'admin-1'",
    ],
)
def test_what_was_requested_never_changes(pristine: str, raw: Raw, change: str) -> None:
    requested = redemption_where(pristine, "requested")
    # Even with a step the schema allows (requested to approved).
    sql = f"UPDATE redemptions SET status = 'approved', {change} WHERE id = {requested}"
    assert refused(raw, sql, REDEMPTION_MESSAGE) is None


def test_the_refusals_left_the_shared_clinic_as_it_was(pristine: str) -> None:
    assert contents(pristine) == BUILT[pristine]
    report = verified(pristine)
    assert (report.ok, report.problems) == (True, ())


# --- (b) a superuser forces an edit past the guards; verify catches it --------------------------


def force(url: str, bypass: str, table: str, sql: str) -> None:
    """Apply ``sql`` as a superuser past ``table``'s guards, in one committed transaction."""
    with psycopg.connect(url) as conn:
        if bypass == "replica":
            conn.execute("SET LOCAL session_replication_role = replica")
        elif bypass == "disable-trigger":
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            assert bypass == "none", bypass
        assert conn.execute(sql).rowcount >= 1, sql
        if bypass == "disable-trigger":
            # And on again, covering the tracks: the schema looks untouched afterwards.
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


# (name, table, statement, what verify must name); {placeholders} are looked up in the clinic.
GUARDED = [
    (
        "outcome.outcome",
        "outcomes",
        "UPDATE outcomes SET outcome = 'met' WHERE id = {not_met}",
        ["outcome {not_met}: hash does not match its contents"],
    ),
    (
        "transfer.amount",
        "transfers",
        "UPDATE transfers SET amount = amount + 10 WHERE id = {award}",
        [
            "transfer {award}: hash does not match its contents",
            "balance of available:H001 in higgins-vbrt is",
        ],
    ),
    (
        "transfer.amount-and-balance",
        "transfers",
        "WITH t AS (UPDATE transfers SET amount = amount + 10 WHERE id = {award} RETURNING 1)"
        " UPDATE balances SET points = points + CASE account WHEN 'funding' THEN -10 ELSE 10 END"
        " WHERE program_id = 'higgins-vbrt' AND account IN ('funding', 'available:H001')",
        ["transfer {award}: hash does not match its contents"],
    ),
    (
        "outcome-deleted",
        "outcomes",
        "DELETE FROM outcomes WHERE id = {middle_outcome}",
        ["outcome {after_middle}: previous hash does not match"],
    ),
    (
        "journal.at",
        "journal",
        "UPDATE journal SET at = '2027-06-01T12:00:00.000000Z' WHERE id = 2",
        ["journal entry 2: hash does not match its contents"],
    ),
    (
        "stock_movements.change",
        "stock_movements",
        "UPDATE stock_movements SET change = change + 1 WHERE id = 1",
        ["stock-movement 1 was changed outside cmrewards", "GIFT-10 has stock"],
    ),
    (
        "prize.won",
        "prizes",
        "UPDATE prizes SET category = 'large', value_cents = 2000 WHERE id = {fulfilled_prize}",
        ["prize {fulfilled_prize} was changed outside cmrewards", "that its seed did not draw"],
    ),
    (
        "prize_fulfilments-deleted",
        "prize_fulfilments",
        "DELETE FROM prize_fulfilments WHERE prize_id = {fulfilled_prize}",
        [
            "prize {fulfilled_prize} is fulfilled but its hand-over record disagrees",
            "prize-fulfilment {fulfilled_prize} was deleted outside cmrewards",
        ],
    ),
    (
        "prize_trades.at",
        "prize_trades",
        "UPDATE prize_trades SET at = '2027-06-01T12:00:00.000000Z'"
        " WHERE traded_prize = {traded_prize}",
        ["prize-trade {traded_prize} was changed outside cmrewards"],
    ),
    (
        "redemption-backwards",
        "redemptions",
        "UPDATE redemptions SET status = 'approved' WHERE id = {fulfilled_redemption}",
        [
            "redemption {fulfilled_redemption} was changed outside cmrewards",
            "redemption {fulfilled_redemption} is approved but its transfers are hold, spend",
        ],
    ),
]

UNGUARDED = [
    (
        "balance",
        "balances",
        "UPDATE balances SET points = points + 10"
        " WHERE program_id = 'higgins-vbrt' AND account = 'available:H001'",
        ["balance of available:H001 in higgins-vbrt is"],
    ),
    (
        "schedule_state",
        "schedule_states",
        "UPDATE schedule_states SET pos = pos + 1"
        " WHERE participant = 'H001' AND target = 'stimulant-negative'",
        ["schedule state of H001 stimulant-negative is"],
    ),
    (
        "catalog.stock",
        "catalog",
        "UPDATE catalog SET stock = stock + 1 WHERE sku = 'GIFT-10'",
        ["GIFT-10 has stock"],
    ),
    (
        "cap_usage",
        "cap_usage",
        "UPDATE cap_usage SET cents = cents - 100 WHERE participant = 'C001'",
        ["cap usage of C001 in"],
    ),
    (
        "staff.role",
        "staff",
        "UPDATE staff SET role = 'admin' WHERE id = 'rec-1'",
        ["staff rec-1 was changed outside cmrewards"],
    ),
    (
        "participant.program",
        "participants",
        "UPDATE participants SET program_id = 'stim-capped' WHERE id = 'H003'",
        ["participant H003 was changed outside cmrewards"],
    ),
    (
        "idempotency.result",
        "idempotency",
        "UPDATE idempotency SET fingerprint = 'x' || fingerprint WHERE key = 'LAB-000'",
        ["idempotency-key higgins-vbrt/LAB-000 was changed outside cmrewards"],
    ),
    (
        "prize-fulfilled-without-hand-over",
        "prizes",
        # The one step the prize guard allows: here without its hand-over record.
        "UPDATE prizes SET status = 'fulfilled' WHERE id = {owed_prize}",
        ["prize {owed_prize} is fulfilled but its hand-over record disagrees"],
    ),
    (
        "outcome-appended-unchained",
        "outcomes",
        # Appending is what the table is for: a copy of the last row, as a new id.
        "INSERT INTO outcomes SELECT id + 1, program_id, participant, target, outcome,"
        " occurred_at, recorded_at, actor, NULL, note, seed, hash, md5(hash) || md5(hash)"
        " FROM outcomes WHERE id = {last_outcome}",
        ["outcome {appended}: hash does not match its contents"],
    ),
]


def facts(url: str) -> dict[str, int]:
    """The ids the cases name, read from the clinic."""
    queries = {
        "not_met": "SELECT min(id) FROM outcomes WHERE outcome = 'not_met'",
        "award": "SELECT min(id) FROM transfers WHERE kind = 'award' AND participant = 'H001'",
        # A middle outcome that won no prize (a prize's foreign key would hold it in place).
        "middle_outcome": "SELECT max(id) FROM outcomes WHERE id <= (SELECT max(id) / 2"
        " FROM outcomes) AND id NOT IN (SELECT outcome_id FROM prizes"
        " WHERE outcome_id IS NOT NULL)",
        "last_outcome": "SELECT max(id) FROM outcomes",
        "fulfilled_prize": PRIZE_WHERE.format(status="fulfilled"),
        "owed_prize": PRIZE_WHERE.format(status="owed"),
        "fulfilled_redemption": REDEMPTION_WHERE.format(status="fulfilled"),
        "traded_prize": "SELECT min(traded_prize) FROM prize_trades",
    }
    known = {}
    with psycopg.connect(url) as conn:
        for name, sql in queries.items():
            row = conn.execute(sql).fetchone()
            assert row is not None, sql
            assert row[0] is not None, sql
            known[name] = int(row[0])
    known["after_middle"] = known["middle_outcome"] + 1
    known["appended"] = known["last_outcome"] + 1
    return known


BOTH_BYPASSES = {"outcome.outcome", "transfer.amount", "outcome-deleted"}
"""Cases also forced with ALTER TABLE ... DISABLE TRIGGER (all are with replica mode)."""


@pytest.mark.parametrize(
    ("bypass", "table", "sql", "expected"),
    [
        pytest.param(bypass, *case[1:], id=f"{case[0]}-{bypass}")
        for case in GUARDED
        for bypass in ("replica", "disable-trigger")
        if bypass == "replica" or case[0] in BOTH_BYPASSES
    ],
)
def test_a_guarded_row_forced_past_the_guards_is_caught(
    copy: str, bypass: str, table: str, sql: str, expected: list[str]
) -> None:
    known = facts(copy)
    statement = sql.format(**known)
    # Without a bypass the database refuses it.
    error = attempt(copy, statement)
    assert isinstance(error, errors.IntegrityConstraintViolation), (statement, error)
    assert error.diag.message_primary in GUARD_MESSAGES, error
    force(copy, bypass, table, statement)
    report = assert_caught(copy, *(want.format(**known) for want in expected))
    # The guards are back (or were never off for anyone else): only the edit is reported.
    assert not [p for p in messages(report) if "guard trigger" in p]


@pytest.mark.parametrize(
    ("table", "sql", "expected"), [pytest.param(*case[1:], id=case[0]) for case in UNGUARDED]
)
def test_an_unguarded_row_edited_is_caught(
    copy: str, table: str, sql: str, expected: list[str]
) -> None:
    known = facts(copy)
    # No trigger stands in the way: the database takes the edit as it is.
    force(copy, "none", table, sql.format(**known))
    assert_caught(copy, *(want.format(**known) for want in expected))


def test_the_cli_in_text_prints_each_problem_and_one_error_line(copy: str) -> None:
    award = facts(copy)["award"]
    force(
        copy, "replica", "transfers", f"UPDATE transfers SET amount = amount + 1 WHERE id = {award}"
    )
    report = assert_caught(copy, f"transfer {award}: hash does not match its contents")
    text = cli_verify(copy, json_output=False)
    assert text.exit_code == 3, (text.stdout, text.stderr, text.exception)
    assert "Traceback" not in text.stdout + text.stderr
    assert text.stderr.splitlines() == [f"cmrewards: verify found {problems(report)}"]
    lines = text.stdout.splitlines()
    assert lines[:-1] == list(messages(report))
    assert lines[-1].startswith("PROBLEMS FOUND: ")


# --- (c) a guard dropped or disabled is reported ------------------------------------------------


@pytest.fixture(scope="module")
def guarded(pristine: str) -> Iterator[tuple[str, Clinic]]:
    """A copy whose guards the (c) tests take away and put back, one at a time, and the
    clinic open on it (each ``verify`` is a new read: it sees every committed change)."""
    url = clone(pristine)
    try:
        with cmrewards.open(url) as clinic:
            yield url, clinic
    finally:
        postgres_support.drop_database(url)


def admin(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def guard_problem(name: str) -> str:
    return f"the guard trigger {name} was dropped or disabled"


@pytest.mark.parametrize("how", ["dropped", "disabled"])
@pytest.mark.parametrize("name", sorted(GUARDS))
def test_a_guard_dropped_or_disabled_is_reported(
    guarded: tuple[str, Clinic], name: str, how: str
) -> None:
    url, clinic = guarded
    table, statement = GUARDS[name]
    if how == "dropped":
        admin(url, f"DROP TRIGGER {name} ON {table}")
        put_back = statement
    else:
        admin(url, f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        put_back = f"ALTER TABLE {table} ENABLE TRIGGER {name}"
    try:
        report = clinic.verify()
        # Exactly this one: a guard an earlier case failed to put back would show here too.
        assert (report.ok, messages(report)) == (False, (guard_problem(name),))
    finally:
        admin(url, put_back)


def test_every_guard_put_back_the_clinic_verifies_again(guarded: tuple[str, Clinic]) -> None:
    url, clinic = guarded
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())
    assert verified(url).ok


def test_a_table_s_guards_disabled_together_are_each_reported_and_the_cli_exits_3(
    fresh: str,
) -> None:
    admin(fresh, "ALTER TABLE transfers DISABLE TRIGGER USER")
    names = sorted(name for name, (table, _) in GUARDS.items() if table == "transfers")
    assert len(names) == 4  # no update, no delete, no truncate, and the balance trigger
    report = assert_caught(fresh, *map(guard_problem, names))
    assert messages(report) == tuple(map(guard_problem, names))


def test_cmrewards_meta_changed_is_reported_or_refused(fresh: str) -> None:
    admin(fresh, "INSERT INTO cmrewards_meta (key, value) VALUES ('owner', 'someone else')")
    report = assert_caught(fresh, "cmrewards_meta was changed outside cmrewards")
    assert messages(report) == ("cmrewards_meta was changed outside cmrewards",)
    admin(fresh, "UPDATE cmrewards_meta SET value = 'other-app' WHERE key = 'application'")
    with pytest.raises(cmrewards.IntegrityError, match="is not a cmrewards database"):
        cmrewards.open(fresh)
    result = cli_verify(fresh)
    assert result.exit_code == 3
    assert len(result.stderr.splitlines()) == 1
    assert "is not a cmrewards database" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# Ways to take a guard away that leave a trigger of its name present and not disabled. Each
# really stops the guard (the test shows the edit going through on a plain connection), and
# verify names what was done (found by this suite: verify once looked only at trigger names
# and tgenabled = 'D').
NEUTRALISED = {
    "enable-replica": (
        "outcomes",
        ["ALTER TABLE outcomes ENABLE REPLICA TRIGGER outcomes_no_update"],
        # tgenabled 'R': the trigger fires only under session_replication_role = replica.
        "the guard trigger outcomes_no_update was dropped or disabled",
    ),
    "decoy-same-name": (
        "outcomes",
        [
            "DROP TRIGGER outcomes_no_update ON outcomes",
            "CREATE TRIGGER outcomes_no_update BEFORE UPDATE ON outcomes FOR EACH ROW"
            " WHEN (false) EXECUTE FUNCTION cmrewards_refuse('outcomes are append-only')",
        ],
        "the guard trigger outcomes_no_update was changed",
    ),
    "function-replaced": (
        "outcomes",
        [
            "CREATE OR REPLACE FUNCTION cmrewards_refuse() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$"
        ],
        # Every guard calls cmrewards_refuse(): replacing its body disarms them all at once.
        "the guard function cmrewards_refuse was dropped or changed",
    ),
    "extra-trigger": (
        "outcomes",
        [
            "CREATE FUNCTION skip_it() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NULL; END $$",
            # Runs before the guard (alphabetical order) and silently skips the update.
            "CREATE TRIGGER a_skip BEFORE UPDATE ON outcomes FOR EACH ROW EXECUTE FUNCTION"
            " skip_it()",
        ],
        "an unknown trigger a_skip is on outcomes",
    ),
}


@pytest.mark.parametrize("how", list(NEUTRALISED))
def test_a_guard_neutralised_without_disabling_it_is_reported(fresh: str, how: str) -> None:
    table, statements, problem = NEUTRALISED[how]
    admin(fresh, *statements)
    # The guard really is gone for an ordinary session (pytest.fail, not assert: a broken
    # premise must fail the test, not count as the expected failure).
    if attempt(fresh, f"UPDATE {table} SET note = 'x' WHERE id = 1") is not None:
        pytest.fail(f"{how}: the guard still refuses; the premise of this case is wrong")
    report = verified(fresh)
    assert not report.ok, f"{how}: the guard no longer works and verify() is ok"
    assert problem in messages(report)


# (The extra trigger swallows the edit itself, so there is nothing for the chain to catch.)
@pytest.mark.parametrize("how", [how for how in NEUTRALISED if how != "extra-trigger"])
def test_an_edit_through_a_neutralised_guard_is_still_caught(fresh: str, how: str) -> None:
    """Even unreported, a neutralised guard would cost the refusal, not the detection."""
    table, statements, _ = NEUTRALISED[how]
    admin(fresh, *statements)
    known = facts(fresh)
    admin(fresh, f"UPDATE {table} SET outcome = 'met' WHERE id = {known['not_met']}")
    assert_caught(fresh, f"outcome {known['not_met']}: hash does not match its contents")
