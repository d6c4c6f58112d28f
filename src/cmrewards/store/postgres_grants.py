"""Least privilege on PostgreSQL: what a terminal's own database role needs, and no more.

A terminal that connects as the owner of the tables can do anything the owner can:
``ALTER TABLE transfers DISABLE TRIGGER``, then edit history. A terminal that connects
as a role of its own, granted these privileges, can only do what cmrewards does: read
every table, append rows, and move the few rows whose state moves (a redemption from
requested to fulfilled, a cached balance). It cannot change the schema (no DDL: only the
owner alters, drops or disables), cannot DELETE or TRUNCATE anything, and cannot UPDATE
an append-only table (outcomes, transfers, the journal ...): the server refuses before
the guard triggers are even asked. The server's authentication then stands behind the
terminal (docs/design.md section 6, "Database roles").

The statements are plain text, for the owner to read and run (``psql``), so a DBA sees
exactly what is granted; they are safe to run again, and must be after an upgrade that
adds a table.
"""

from __future__ import annotations

import re

from ..errors import InvalidInput

UPDATED_TABLES = (
    "balances",  # kept by the trigger on transfers, in the writer's transaction
    "cap_usage",  # each award adds to its period's usage
    "catalog",  # stock, kept by the trigger on stock_movements
    "participants",  # status and episode move on withdrawal, completion, re-enrolment
    "prizes",  # owed -> fulfilled or traded (a guard allows nothing else)
    "redemptions",  # requested -> approved -> fulfilled ... (a guard allows one way only)
    "schedule_states",  # each target's position and run
    "staff",  # deactivation
)
"""The tables whose rows cmrewards updates; every other table is only ever appended to.
``tests/store/test_postgres_roles.py`` reads every UPDATE the SQL adapter and the
triggers make and holds this list to them."""

RESERVED_TABLES = ("cmrewards_meta", "cmrewards_migrations")
"""Written only when the schema is created or upgraded, by the owner."""

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def postgres_terminal_grants(role: str, schema: str = "public") -> list[str]:
    """The SQL statements (one transaction) that let the PostgreSQL role ``role`` run
    cmrewards terminals on the clinic in ``schema``, and nothing more.

    ``role`` and ``schema`` are lowercase PostgreSQL names (letters, digits and ``_``, at
    most 63 characters). Returns the statements, each without its ``;``, from ``BEGIN`` to
    ``COMMIT``. Run them as the owner of the tables, after the schema exists (an upgrade is
    run by the owner too: the role cannot migrate).

    Raises ``InvalidInput`` for a role or schema that is not such a name. Rules:
    docs/design.md section 6, "Database roles".
    """
    who = _name(role, "role")
    where = _name(schema, "schema")
    updated = ", ".join(f"{where}.{table}" for table in UPDATED_TABLES)
    reserved = ", ".join(f"{where}.{table}" for table in RESERVED_TABLES)
    return [
        "BEGIN",
        # Whatever the role held before goes: these statements are the whole of it.
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        # PostgreSQL before 15 lets every role create tables in public: no DDL for anyone
        # but the owner.
        f"REVOKE CREATE ON SCHEMA {where} FROM PUBLIC",
        f"REVOKE CREATE ON SCHEMA {where} FROM {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {where} TO {who}",
        f"REVOKE INSERT ON {reserved} FROM {who}",
        f"GRANT UPDATE ON {updated} TO {who}",
        "COMMIT",
    ]


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise InvalidInput(
            f"the {what} {value[:80]!r} is not a lowercase PostgreSQL name"
            " (letters, digits and _, at most 63 characters)"
        )
    return value
