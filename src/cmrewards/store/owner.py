"""Who may use a store: the thread that opened it, until it is closed.

A connection shared between threads interleaves their transactions, and a closed one
fails inside the database driver, whose errors read like damage ("not a database").
Both are mistakes in the calling code, so each store checks this first and says so
(``UsageError``) before its engine is touched. The rule is the same on every store, so
code tested against memory behaves the same on a file or a server.
"""

from __future__ import annotations

import threading

from ..errors import UsageError


class Owner:
    """The opening thread of one store, and whether the store was closed."""

    def __init__(self, location: str) -> None:
        self._location = location
        self._thread = threading.get_ident()
        self._thread_name = threading.current_thread().name
        self._closed = False

    def check(self) -> None:
        """``UsageError`` unless called on the opening thread before ``close``."""
        if self._closed:
            raise UsageError(f"{self._location} was closed; open it again with cmrewards.open()")
        if threading.get_ident() != self._thread:
            raise UsageError(
                f"{self._location} was opened on thread {self._thread_name!r} and used on"
                f" {threading.current_thread().name!r}: a Clinic belongs to the thread that"
                " opened it; open one per thread or per request"
            )

    def close(self) -> bool:
        """Refuse every later use; True the first time (then the caller closes its
        connection), False after (closing twice is harmless). ``UsageError`` on another
        thread."""
        if self._closed:
            return False
        self.check()
        self._closed = True
        return True
