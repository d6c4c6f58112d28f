"""How long the budget simulation takes for a realistic forecast.

The issue asks for 10,000 participants over a 12-week phase "in seconds"; this times it for
the prize preset (two targets, draws from the bowl) and the voucher preset (points only).
Run with ``python benchmarks/simulate.py``.
"""

from __future__ import annotations

import time

import cmrewards

PARTICIPANTS = 10_000
PRESETS = ("petry-fishbowl", "higgins-vbrt")


def seconds_to_simulate(preset: str) -> tuple[int, float]:
    """(weeks simulated, seconds taken); loading the preset is not timed."""
    program = cmrewards.load_preset(preset)
    began = time.perf_counter()
    report = cmrewards.simulate(program, participants=PARTICIPANTS, p_met=0.6, seed=1)
    return report.weeks, time.perf_counter() - began


def main() -> None:
    for preset in PRESETS:
        weeks, took = seconds_to_simulate(preset)
        print(f"simulate {PARTICIPANTS:,} participants x {weeks} weeks ({preset}): {took:.2f}s")


if __name__ == "__main__":
    main()
