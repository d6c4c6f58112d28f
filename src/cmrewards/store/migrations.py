"""The schema registry: every migration, in order, in the form each engine runs.

Both migration runners read this one list (SQLite's in ``sqlite.py``, PostgreSQL's in
``postgres.py``) and record each migration they apply by its name, so a database of
either engine says which version of the schema it holds, and one written by a newer
cmrewards (a name not listed here) is refused. Never edit a released migration:
existing databases have applied it, and tests/store/test_schema.py pins a digest of
each form. Add the next one, in both forms.
"""

from __future__ import annotations

import attrs

from . import postgres_schema, schema


@attrs.frozen
class Migration:
    name: str
    sqlite: tuple[str, ...]
    """The statements SQLite runs, in order, in the transaction that opens the file."""
    postgres: tuple[str, ...]
    """The statements PostgreSQL runs, in order, in the transaction that opens the database."""


MIGRATIONS = (
    Migration("0001_initial", tuple(schema.INITIAL), tuple(postgres_schema.INITIAL)),
    Migration(
        "0002_prizes_and_caps",
        tuple(schema.PRIZES_AND_CAPS),
        tuple(postgres_schema.PRIZES_AND_CAPS),
    ),
    Migration("0003_redemption", tuple(schema.REDEMPTION), tuple(postgres_schema.REDEMPTION)),
    Migration("0004_journal", tuple(schema.JOURNAL), tuple(postgres_schema.JOURNAL)),
    Migration(
        "0005_visits_and_corrections",
        tuple(schema.VISITS_AND_CORRECTIONS),
        tuple(postgres_schema.VISITS_AND_CORRECTIONS),
    ),
    Migration(
        "0006_analyte_results",
        tuple(schema.ANALYTE_RESULTS),
        tuple(postgres_schema.ANALYTE_RESULTS),
    ),
    Migration("0007_episodes", tuple(schema.EPISODES), tuple(postgres_schema.EPISODES)),
    Migration(
        "0008_adjustment_caps",
        tuple(schema.ADJUSTMENT_CAPS),
        tuple(postgres_schema.ADJUSTMENT_CAPS),
    ),
    Migration(
        "0009_analyte_revisions",
        tuple(schema.ANALYTE_REVISIONS),
        tuple(postgres_schema.ANALYTE_REVISIONS),
    ),
    Migration(
        "0010_staff_secrets",
        tuple(schema.STAFF_SECRETS),
        tuple(postgres_schema.STAFF_SECRETS),
    ),
    Migration(
        "0011_lab_feed_role",
        tuple(schema.LAB_FEED_ROLE),
        tuple(postgres_schema.LAB_FEED_ROLE),
    ),
    Migration(
        "0012_sign_in_confirmed",
        tuple(schema.SIGN_IN_CONFIRMED),
        tuple(postgres_schema.SIGN_IN_CONFIRMED),
    ),
)

KNOWN = [migration.name for migration in MIGRATIONS]
"""Migration names this version knows, in order; a database with others is from a newer one."""
