"""The house rules: each layer imports only the layers below it, and no import circle exists.

    errors  <  domain  <  store  <  views  <  app  <  cmrewards (the public door)  <  cli

``cmrewards.errors`` is public and below everything: every layer raises its refusals.

Read from the source with ``ast``, so an import inside a function or under
``TYPE_CHECKING`` counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cmrewards"

LAYERS = ("domain", "store", "views", "app")
"""Bottom first: a module may import its own layer and those before it."""

THIRD_PARTY = {
    "domain": {"attrs"},
    "store": {"attrs", "sqlite_utils", "psycopg"},
    "views": {"attrs"},
    # Passphrases are hashed where they are checked, in the sign-in use cases; HL7 v2 is
    # read where lab messages are.
    "app": {"attrs", "argon2", "hl7"},
}
"""What each layer may import from outside the standard library and the project."""


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> Iterator[str]:
    """Every module ``module`` imports, as absolute dotted names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from . import schema`` imports a module, not a name of the package
            submodules = [
                f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES
            ]
            yield from submodules
            if len(submodules) < len(node.names):
                yield target


MODULES = modules()
GRAPH = {
    module: {target for target in imports(module, path) if target in MODULES}
    for module, path in MODULES.items()
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if module == "cmrewards.errors":
        return "errors"
    return parts[1] if len(parts) > 1 and parts[1] in (*LAYERS, "cli") else "door"


def stdlib_or_project(name: str) -> bool:
    top = name.split(".")[0]
    return top in sys.stdlib_module_names or top in {"cmrewards", "__future__"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) in LAYERS))
def test_a_layer_imports_only_itself_and_the_layers_below(module: str) -> None:
    layer = layer_of(module)
    allowed = {"errors", *LAYERS[: LAYERS.index(layer) + 1]}
    above = sorted(t for t in GRAPH[module] if layer_of(t) not in allowed)
    assert not above, f"{module} ({layer}) imports {above}"
    outside = sorted(
        name
        for name in imports(module, MODULES[module])
        if not stdlib_or_project(name) and name.split(".")[0] not in THIRD_PARTY[layer]
    )
    assert not outside, f"{module} ({layer}) imports {outside}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) == "domain"))
def test_the_domain_touches_no_database_and_no_command_line(module: str) -> None:
    forbidden = {"sqlite3", "sqlite_utils", "psycopg", "click"}
    used = {name.split(".")[0] for name in imports(module, MODULES[module])}
    assert not used & forbidden, f"{module} imports {sorted(used & forbidden)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) == "cli"))
def test_the_command_line_goes_through_the_public_door(module: str) -> None:
    inner = sorted(t for t in GRAPH[module] if layer_of(t) not in {"cli", "door", "errors"})
    assert not inner, f"{module} reaches past the public door into {inner}"


ROOT = SRC.parent
SCRIPTS = sorted([*(ROOT / "examples").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")])
"""What a clinic engineer copies, and what measures the library as they would use it."""


def script_imports(path: Path) -> Iterator[str]:
    """Every module a script imports, including code it hands to a subprocess as text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    sources = [tree]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "import" in node.value
        ):
            try:
                sources.append(ast.parse(node.value))
            except SyntaxError:
                continue  # prose that mentions importing, not code
    for source in sources:
        for node in ast.walk(source):
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                yield node.module or ""


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_examples_and_benchmarks_use_only_the_public_door(script: Path) -> None:
    inner = sorted(
        name
        for name in script_imports(script)
        if name.split(".")[0] == "cmrewards" and name not in {"cmrewards", "cmrewards.errors"}
    )
    assert not inner, f"{script.name} reaches past the public door into {inner}"


def test_the_script_check_sees_the_scripts() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"intake_service.py", "nightly_lab_import.py", "run.py", "simulate.py"} <= names
    assert all("cmrewards" in set(script_imports(p)) for p in SCRIPTS)


def test_no_module_imports_itself_through_a_circle() -> None:
    circles = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_rules_see_every_layer() -> None:
    """A rename that empties a layer would make the tests above pass vacuously."""
    assert {layer_of(m) for m in MODULES} == {*LAYERS, "cli", "door", "errors"}
    assert sum(len(targets) for targets in GRAPH.values()) > 100
