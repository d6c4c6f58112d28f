"""Commands that keep a clinic safe: ``backup`` and ``restore`` of a SQLite clinic, and the
grants of a PostgreSQL role that runs terminals with least privilege."""

from __future__ import annotations

import click

import cmrewards
from cmrewards.errors import InvalidInput

from ._output import plural
from ._shell import Settings, cli, emit, pass_settings
from .outcomes import checkpoint_text, verify_text


@cli.command()
@click.option(
    "--to", "backup_file", required=True, metavar="FILE", help="A new file for the backup."
)
@pass_settings
def backup(settings: Settings, backup_file: str) -> None:
    """Copy the clinic's file while terminals write, verify the copy, print its checkpoint."""
    if settings.db.startswith(cmrewards.POSTGRES_SCHEMES):
        raise InvalidInput(
            "a PostgreSQL clinic is backed up with the server's own tools: pg_dump --format=custom,"
            " then pg_restore into an empty database and 'cmrewards --db URL verify' it"
            " (README, 'Backups')"
        )
    made = settings.clinic().backup(backup_file)

    def text() -> str:
        checked = made.verify
        return "\n".join(
            [
                f"backed up {made.source} to {made.target} (owner-only): verify OK,"
                f" {plural(checked.outcomes, 'outcome')},"
                f" {plural(checked.transfers, 'transfer')},"
                f" {plural(checked.participants, 'participant')}",
                f"its checkpoint, also in {made.checkpoint_file}"
                " (keep a copy where the clinic cannot edit it):",
                made.checkpoint.statement,
            ]
        )

    emit(settings, made, text)


@cli.command()
@click.option("--from", "source_file", required=True, metavar="FILE", help="The backup to restore.")
@click.option(
    "--to", "restored_file", required=True, metavar="NEW", help="A new file for the clinic."
)
@click.option(
    "--against",
    metavar="FILE_OR_TEXT",
    help="The backup's checkpoint (its .checkpoint file, or the statement): also prove the"
    " restored clinic is that backup.",
)
@pass_settings
def restore(settings: Settings, source_file: str, restored_file: str, against: str | None) -> None:
    """Copy a backup into a new file and verify it; a backup that fails leaves nothing."""
    checkpoint = None if against is None else checkpoint_text(against)
    restored = cmrewards.restore(source_file, restored_file, against=checkpoint)

    def text() -> str:
        return f"restored {restored.source} into {restored.target}\n" + verify_text(restored.verify)

    emit(settings, restored, text)


@cli.command("postgres-grants")
@click.argument("database_role", metavar="ROLE")
@click.option(
    "--schema", default="public", show_default=True, help="The schema that holds the clinic."
)
@pass_settings
def postgres_grants(settings: Settings, database_role: str, schema: str) -> None:
    """Print the SQL that lets a PostgreSQL role run terminals: no DDL, no UPDATE/DELETE
    of the ledger. Run it as the tables' owner: ... | psql URL."""
    statements = cmrewards.postgres_terminal_grants(database_role, schema)
    emit(settings, statements, "".join(f"{statement};\n" for statement in statements).rstrip())
