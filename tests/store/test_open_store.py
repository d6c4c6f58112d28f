"""Which store a location opens, and what it says when it cannot (store/__init__.py)."""

from __future__ import annotations

import sys

import pytest

from cmrewards.errors import InvalidInput
from cmrewards.store import open_store


def test_a_postgresql_url_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Newcomer finding 12: the hint names the package and the command from a checkout."""
    monkeypatch.setitem(sys.modules, "cmrewards.store.postgres", None)  # its import fails
    with pytest.raises(InvalidInput) as refused:
        open_store("postgresql://localhost/clinic")
    assert "pip install 'cmrewards[postgres]'" in str(refused.value)
    assert ".venv/bin/pip install -e '.[postgres]'" in str(refused.value)
