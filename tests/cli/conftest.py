"""What every CLI test starts from: no ``CMREWARDS_ACTOR`` from the machine running them.

A terminal signed in for one member of staff exports it; a test that expects ``--actor`` to
be missing, or a refusal for the actor it names, must not find someone else's there.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_actor_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CMREWARDS_ACTOR", raising=False)
