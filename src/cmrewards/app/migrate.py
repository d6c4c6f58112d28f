"""``migrate``: move a clinic from its SQLite file onto a PostgreSQL server.

Every row is copied with its id, so the hash chains, receipts and exported ids stay
valid. The copy is one transaction on the server, checked by a full ``verify`` inside
that transaction before it commits: the server ends with the whole clinic, verified,
or with nothing. The file stays locked against writers while it is read, and no row of
it changes: after a migration it is the clinic's last SQLite backup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ..domain.verify_report import VerifyReport
from ..errors import AlreadyExists, IntegrityError, InvalidInput
from ..store import POSTGRES_SCHEMES, open_store
from ..views.verify import verify_store

if TYPE_CHECKING:
    from ..store.port import Ledger
    from ..store.postgres import PostgresStore
    from ..store.sqlite import SQLiteStore

COPIED_TABLES = (
    "staff",
    "staff_secrets",
    "sign_ins",
    "programs",
    "participants",
    "past_episodes",
    "outcomes",
    "schedule_states",
    "transfers",
    "idempotency",
    "prizes",
    "cap_usage",
    "catalog",
    "stock_movements",
    "redemptions",
    "prize_fulfilments",
    "prize_trades",
    "analyte_results",
    "analyte_revisions",
    "corrections",
    "write_offs",
    "prize_withdrawals",
    "journal",
)
"""In foreign-key order."""

NOT_COPIED = {
    "cmrewards_meta": "the server's schema writes its own",
    "balances": "the server's trigger sums them from the transfers; compared, not copied",
    "_sqlite_migrations": "the server records its own migrations",
}


@attrs.frozen
class MigrationReport:
    """What ``migrate`` copied, and ``verify`` of both ends (the same chain heads)."""

    source: str
    target: str
    rows: dict[str, int]
    """Rows copied, per table."""
    source_verify: VerifyReport
    target_verify: VerifyReport


def migrate(source_path: str, target_url: str) -> MigrationReport:
    """Copy the clinic at ``source_path`` into the empty PostgreSQL database ``target_url``.

    Ids and hash chains are kept; the copy is verified inside the server's transaction and
    committed only with the file's chain heads, so the server ends with the whole clinic or
    nothing. Raises ``InvalidInput`` for a source that is no SQLite file or a target that is
    no ``postgresql://`` URL; ``NotFound`` for a missing file; ``AlreadyExists`` when the
    server already holds a clinic; ``IntegrityError`` when the file fails ``verify`` or
    the copy does not verify; ``Busy`` when a terminal holds the file's writer lock past
    the timeout. Rules: docs/design.md section 6.
    """
    if source_path.startswith(POSTGRES_SCHEMES):
        raise InvalidInput(
            "the source must be the clinic's SQLite file; the postgresql:// URL is the target"
        )
    if not source_path.strip():
        # An empty path would be read as the current directory.
        raise InvalidInput("the source must name the clinic's SQLite file")
    if not target_url.startswith(POSTGRES_SCHEMES):
        raise InvalidInput(f"the target {target_url[:80]!r} is not a postgresql:// URL")
    from ..store.sqlite import SQLiteStore

    source = open_store(source_path, create=False)
    assert isinstance(source, SQLiteStore)
    try:
        # The file's writer lock for the whole copy: no terminal can write to it after the
        # rows that are copied and before the clinic moves.
        with source.write() as source_tx:
            before = verify_store(source_tx, source.integrity_problems())
            if not before.ok:
                raise IntegrityError(
                    f"{source.location} fails verify ({before.problems[0].message});"
                    " fix it before migrating"
                )
            _refuse_unknown_tables(source)
            # Through open_store: without the postgres extra, a one-line "pip install".
            target = open_store(target_url)
            try:
                from ..store.postgres import PostgresStore  # loaded by open_store

                assert isinstance(target, PostgresStore)
                rows, after = _copy(source, source_tx, target, before)
            finally:
                target.close()
    finally:
        source.close()
    return MigrationReport(source.location, target.location, rows, before, after)


def _copy(
    source: SQLiteStore, source_tx: Ledger, target: PostgresStore, before: VerifyReport
) -> tuple[dict[str, int], VerifyReport]:
    """Every row in one transaction on the server, verified before it commits."""
    with target.write(pipeline=False) as target_tx:  # COPY cannot run in a pipeline
        if target.execute("SELECT 1 FROM staff LIMIT 1"):
            raise AlreadyExists(
                f"{target.location} already holds a clinic; migrate only into an empty database"
            )
        rows = {}
        catalog: list[dict[str, Any]] = []
        for table in COPIED_TABLES:
            columns, values = source.table_rows(table)
            target.copy_rows(table, columns, values)
            rows[table] = len(values)
            if table == "catalog":
                catalog = [dict(zip(columns, row, strict=True)) for row in values]
        # Copying the movements added them to the copied stock a second time.
        for item in catalog:
            target.execute(
                "UPDATE catalog SET stock = %s WHERE sku = %s", [item["stock"], item["sku"]]
            )
        if target_tx.balances() != source_tx.balances():
            raise IntegrityError(
                f"{source.location}: its cached balances differ from its transfers' sums"
            )
        after = verify_store(target_tx, target.integrity_problems())
        same_heads = (after.outcome_chain_head, after.transfer_chain_head) == (
            before.outcome_chain_head,
            before.transfer_chain_head,
        )
        if not (after.ok and same_heads):
            problem = after.problems[0].message if after.problems else "the chain heads differ"
            raise IntegrityError(f"the copy on {target.location} fails verify ({problem})")
    return rows, after


def _refuse_unknown_tables(source: SQLiteStore) -> None:
    """A table this version does not know how to copy would be lost: refuse instead."""
    unknown = sorted(set(source.table_names()) - set(COPIED_TABLES) - set(NOT_COPIED))
    if unknown:
        raise IntegrityError(
            f"{source.location} has tables this cmrewards cannot copy: {', '.join(unknown)}"
        )
