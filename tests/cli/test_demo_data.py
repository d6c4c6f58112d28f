"""The demo's real histories (``src/cmrewards/cli/demo_data``) are what they say they are:
rows of the CTN-0094 export unchanged, and the example program and mapping, not a drift of
them."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "cmrewards" / "cli" / "demo_data"
CTN = ROOT.parent / "shared" / "data" / "ctn0094" / "lab_results.csv"


@pytest.mark.parametrize("name", ["ctn0094-program.toml", "ctn0094-map.toml"])
def test_the_demo_s_program_and_mapping_are_the_examples(name: str) -> None:
    assert (DATA / name).read_bytes() == (ROOT / "examples" / name).read_bytes()


@pytest.mark.skipif(not CTN.exists(), reason=f"the CTN-0094 export is not at {CTN}")
def test_the_excerpt_is_every_row_of_four_participants_unchanged() -> None:
    excerpt = (DATA / "ctn0094-excerpt.csv").read_bytes().splitlines(keepends=True)
    export = CTN.read_bytes().splitlines(keepends=True)
    chosen = {line.split(b",")[1] for line in excerpt[1:]}
    assert chosen == {b"CTN-00016", b"CTN-00030", b"CTN-00211", b"CTN-00249"}
    assert excerpt == [export[0], *(line for line in export[1:] if line.split(b",")[1] in chosen)]


def test_the_excerpt_names_its_source_and_licence() -> None:
    notice = (DATA / "README.md").read_text(encoding="utf-8")
    assert "public.ctn0094data" in notice
    assert "Copyright (c) 2023 public.ctn0094data authors" in notice
