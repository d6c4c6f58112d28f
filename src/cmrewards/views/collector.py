"""Python's cyclic garbage collector paused while a whole-history read builds its records.

``verify`` builds a few objects per stored row (links, records, replay steps), none of
them in a reference cycle; every 700 new objects the collector walks the youngest, and
each time enough have survived it walks them all again. At 50,000 outcomes that was a
quarter of ``verify``'s CPU time (issue 16, benchmarks/PROFILE.md "verify, fourth pass")
for nothing to collect. Reference counting frees everything as before; only cycles wait
for the collector to run again when the read ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_readers = 0
"""Reads under way that paused the collector (reads in other threads may overlap)."""
_was_enabled = False
"""Whether the collector ran before the first of them paused it."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """The body runs with the cyclic collector off; it is on again afterwards if it was on
    before the first overlapping read began, once the last one ends."""
    global _readers, _was_enabled
    with _lock:
        if _readers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0 and _was_enabled:
                gc.enable()
