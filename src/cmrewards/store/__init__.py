"""Storage behind one port (``port.py``, role protocols that ``Tx`` combines): the adapters
(memory, a SQLite file, a PostgreSQL server), the schema registry both SQL adapters migrate
from, and the units of work the use cases wrap around an adapter's (journaling, write-behind).

Internal, like every module in it: embedders import from ``cmrewards`` (the public
door re-exports what they need), so names here may move without notice.
"""

from __future__ import annotations

import os

from ..errors import InvalidInput, NotFound
from .port import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(location: str | os.PathLike[str] | None, *, create: bool = True) -> Store:
    """The store at ``location``: None (or ``":memory:"``, SQLite's name for it and the
    memory store's ``location``) is memory, a ``postgresql://`` URL a server, else a file.

    With ``create=False`` a missing database is ``NotFound`` instead of a new empty one
    (the CLI's guard against a mistyped database path).
    """
    if location is None or (create and location == ":memory:"):
        from .memory import MemoryStore

        return MemoryStore()
    if isinstance(location, str) and location.startswith(POSTGRES_SCHEMES):
        try:
            from .postgres import PostgresStore
        except ImportError:
            raise InvalidInput(
                "a postgresql:// database needs the postgres extra:"
                " pip install 'cmrewards[postgres]' (from a checkout:"
                " .venv/bin/pip install -e '.[postgres]')"
            ) from None
        return PostgresStore(location, create=create)
    # The path as given, through ``os``: pathlib (with urllib and ipaddress) is not on the
    # start-up of every command (issue 16).
    path = os.fspath(location)
    if not create and _size(path) in (None, 0):
        # An empty file is no database either: opening it would create one.
        raise NotFound(f"no database at {path}")
    from .sqlite import SQLiteStore

    return SQLiteStore(path)


def _size(path: str) -> int | None:
    """The file's size, None when there is no file; a path the system refuses is bad input."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None
    except OSError as error:
        raise InvalidInput(f"{path[:80]!r}: {error.strerror}") from None
