"""Modules and names imported on first use, so a command pays only for what it runs.

``Clinic`` is one page over every use case; importing them all up front cost the CLI a
quarter of a second on every command (issue 16: ``balance`` within 0.15 s of a bare Python).
``LazyModule`` stands for a module until an attribute is read; ``lazy_names`` is a module
``__getattr__`` (PEP 562) for names only the type hints use, which ``checked_arguments``
resolves through the module's attributes. Both import under the interpreter's import lock,
so threads may race to the first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


class LazyModule:
    """The module ``name`` (relative to ``package``), imported when an attribute is read."""

    def __init__(self, name: str, package: str) -> None:
        self._name = name
        self._package = package
        self._module: Any = None

    def __getattr__(self, attribute: str) -> Any:
        # Kept once imported: asking the import system again costs every write a few
        # microseconds (about 2% of one ``record``).
        if self._module is None:
            self._module = importlib.import_module(self._name, self._package)
        return getattr(self._module, attribute)


def lazy_names(module: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A ``__getattr__`` for the module named ``module`` that imports each name of ``homes``
    (name to the module it lives in, relative to ``module``'s package) when first asked
    for; AttributeError otherwise."""
    package = module.rpartition(".")[0]

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home, package), name)

    return __getattr__
