"""A terminal on PostgreSQL as its own database role, with least privilege
(docs/design.md section 6, "Database roles").

Granted ``cmrewards.postgres_terminal_grants``, a role records, redeems, corrects and
verifies like the owner; the server refuses it DDL (create, alter, disable a trigger,
drop), any DELETE or TRUNCATE, and an UPDATE of an append-only table. The list of tables
it may update is held to every UPDATE the SQL adapter and the triggers make.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

import cmrewards
from cmrewards.store import postgres_schema
from cmrewards.store.postgres_grants import RESERVED_TABLES, UPDATED_TABLES
from support import postgres as postgres_support
from support.clinics import START, FakeClock, visit

STORE = Path(cmrewards.__file__).parent / "store"
ADMIN = "admin-1"
PROGRAM = "higgins-vbrt"
TARGET = "stimulant-negative"

_roles = itertools.count(1)


def as_role(url: str, role: str) -> str:
    """The clinic's URL, connecting as ``role`` (the test cluster trusts local roles)."""
    parts = urlsplit(url)
    host = parts.netloc.split("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@pytest.fixture
def clinic_url() -> Iterator[str]:
    """A clinic set up by the owner: staff, a program, a participant, a catalog item."""
    with postgres_support.database() as url:
        with cmrewards.open(url, clock=FakeClock()) as owner:
            owner.init(ADMIN)
            owner.add_staff("clin-01", "clinician", actor=ADMIN)
            owner.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
            owner.enroll("P-1", PROGRAM, start=START, actor=ADMIN)
            owner.add_item("BUS", name="bus pass", cost=10, stock=3, actor=ADMIN)
        yield url


@pytest.fixture
def terminal(clinic_url: str) -> Iterator[str]:
    """The URL of a new login role granted what a terminal needs, and nothing else."""
    import psycopg

    role = f"cm_terminal_{os.getpid()}_{next(_roles)}"
    schema = urlsplit(clinic_url).query.split("search_path%3D")[1]
    with psycopg.connect(clinic_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {role} LOGIN")
        for statement in cmrewards.postgres_terminal_grants(role, schema):
            owner.execute(statement)
    try:
        yield as_role(clinic_url, role)
    finally:
        with psycopg.connect(clinic_url, autocommit=True) as owner:
            owner.execute(f"DROP OWNED BY {role}")
            owner.execute(f"DROP ROLE {role}")


def test_a_terminal_role_records_redeems_corrects_and_verifies(terminal: str) -> None:
    clock = FakeClock()
    with cmrewards.open(terminal, clock=clock, create=False) as desk:
        first = desk.record("P-1", TARGET, "met", at=visit(0), actor="clin-01", key="LAB-1")
        desk.record("P-1", TARGET, "met", at=visit(2), actor="clin-01")
        assert desk.record("P-1", TARGET, "met", at=visit(0), actor="clin-01", key="LAB-1").replayed
        held = desk.request_redemption("P-1", "BUS", actor="clin-01")
        desk.approve_redemption(held.redemption.id, actor="clin-01")
        desk.fulfil_redemption(held.redemption.id, actor="clin-01", cost_cents=250)
        desk.correct(first.outcome_id, "not_met", reason="GC/MS positive", actor="clin-01")
        desk.adjust("P-1", 5, reason="make-up visit", actor=ADMIN)
        desk.withdraw("P-1", actor=ADMIN)
        assert desk.verify().ok
        assert desk.items()[0].stock == 2


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE notes (text TEXT)",
        "ALTER TABLE transfers DISABLE TRIGGER transfers_no_update",
        "DROP TRIGGER transfers_no_update ON transfers",
        "CREATE OR REPLACE FUNCTION cmrewards_refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$BEGIN RETURN NEW; END$$",
        "DROP TABLE journal",
        "UPDATE transfers SET amount = 1",
        "UPDATE outcomes SET outcome = 'met'",
        "UPDATE journal SET digest = 'x'",
        "DELETE FROM outcomes",
        "DELETE FROM staff",
        "DELETE FROM balances",
        "TRUNCATE journal",
        "UPDATE cmrewards_meta SET value = 'x'",
        "INSERT INTO cmrewards_migrations (name) VALUES ('9999_mine')",
    ],
)
def test_the_server_refuses_a_terminal_role_ddl_and_ledger_edits(
    terminal: str, statement: str
) -> None:
    import psycopg

    with (
        psycopg.connect(terminal, autocommit=True) as desk,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        desk.execute(statement)


def test_a_terminal_role_cannot_upgrade_the_schema(terminal: str) -> None:
    """An upgrade is the owner's: the role meets a missing migration as a refusal."""
    import psycopg

    with psycopg.connect(as_role(terminal, "postgres"), autocommit=True) as owner:
        owner.execute("DELETE FROM cmrewards_migrations WHERE name = (SELECT max(name)"
                      " FROM cmrewards_migrations)")  # fmt: skip
    with pytest.raises(cmrewards.PermissionDenied, match="only the owner of its tables may run"):
        cmrewards.open(terminal, create=False)


def test_the_grants_refuse_a_name_that_is_not_a_plain_identifier() -> None:
    for bad in ("Desk", "desk; DROP TABLE staff", "", "x" * 64, "1desk"):
        with pytest.raises(cmrewards.InvalidInput, match="not a lowercase PostgreSQL name"):
            cmrewards.postgres_terminal_grants(bad)
    with pytest.raises(cmrewards.InvalidInput, match="the schema"):
        cmrewards.postgres_terminal_grants("desk", "north-clinic")


def updates_in_sql(text: str) -> set[str]:
    """The tables an SQL text updates: ``UPDATE t SET`` and ``INSERT INTO t ... DO UPDATE``."""
    tables = set(re.findall(r"\bUPDATE (\w+) SET\b", text))
    # One statement per line: the adapter's constants are joined by newlines.
    tables |= set(re.findall(r"INSERT INTO (\w+)[^;\n]*?ON CONFLICT[^;\n]*?DO UPDATE", text))
    return tables


def adapter_sql() -> str:
    """Every string constant of the SQL adapter, joined the way they are concatenated."""
    tree = ast.parse((STORE / "sql_tx.py").read_text(encoding="utf-8"))
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            parts.append("".join(str(v.value) for v in node.values if isinstance(v, ast.Constant)))
    return "\n".join(parts)


def test_the_tables_a_terminal_may_update_are_exactly_those_cmrewards_updates() -> None:
    updated = updates_in_sql(adapter_sql())
    for body in postgres_schema.GUARD_FUNCTIONS.values():
        updated |= updates_in_sql(body)
    assert updated == set(UPDATED_TABLES)
    assert {"staff", "schedule_states"} <= updated  # the scan sees both forms


def test_no_append_only_table_is_updatable() -> None:
    append_only = {
        guard.table
        for guard in postgres_schema.GUARDS.values()
        if guard.function == "cmrewards_refuse" and guard.event == "UPDATE"
    }
    assert {"outcomes", "transfers", "journal", "corrections"} <= append_only
    assert append_only.isdisjoint(UPDATED_TABLES)
    assert set(RESERVED_TABLES).isdisjoint(UPDATED_TABLES)
