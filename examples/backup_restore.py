"""The restore drill: back a clinic up while a terminal writes, restore it, prove it.

A backup nobody has restored is a hope. Run this monthly on a copy of the nightly
routine: it backs a clinic up while another terminal keeps recording, restores the
backup into a new file, checks it against the checkpoint written beside the backup, and
shows that every result the front desk had been told was recorded is there.
Run it: ``python examples/backup_restore.py [DB]`` (a new file; default: a temporary one).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import threading
from pathlib import Path

import cmrewards

TARGET = "stimulant-negative"


def front_desk(path: Path, start: dt.date, told: list[str], stop: threading.Event) -> None:
    """Another terminal: records results until told to stop; ``told`` is what it reported."""
    with cmrewards.open(path) as desk:
        minute = 0
        while not stop.is_set():
            at = dt.datetime.combine(start, dt.time(9), dt.UTC) + dt.timedelta(minutes=minute)
            result = desk.record("P-5002", TARGET, "met", at=at, actor="rec-01")
            told.append(f"outcome:{result.outcome_id}")
            minute += 1


def drill(path: Path) -> list[str]:
    start = dt.date.today() - dt.timedelta(days=10)
    with cmrewards.open(path) as clinic:
        clinic.init("admin-1")
        clinic.add_staff("rec-01", "recorder", actor="admin-1")
        clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
        for participant in ("P-5001", "P-5002"):
            clinic.enroll(participant, "higgins-vbrt", start=start, actor="admin-1")

    told: list[str] = []
    stop = threading.Event()
    desk = threading.Thread(target=front_desk, args=(path, start, told, stop))
    desk.start()
    try:
        while len(told) < 25 and desk.is_alive():
            stop.wait(0.01)
        before = list(told)  # reported to the desk before the backup began
        with cmrewards.open(path) as clinic:
            made = clinic.backup(path.with_name("nightly.db"))
    finally:
        stop.set()
        desk.join()

    restored = cmrewards.restore(
        made.target,
        path.with_name("drill.db"),
        against=Path(made.checkpoint_file).read_text(encoding="utf-8"),
    )
    with cmrewards.open(restored.target, create=False) as copy:
        kept = {entry.ref for entry in copy.history("P-5002")}
    missing = [ref for ref in before if ref not in kept]
    return [
        f"backup: {Path(made.target).name}, verify OK: {made.verify.ok}",
        f"restore: {Path(restored.target).name}, verify OK: {restored.verify.ok},"
        f" extends the backup's checkpoint: {restored.verify.against is not None}",
        f"results reported before the backup: {len(before)}, missing from the restore:"
        f" {len(missing)}",
    ]


def main(path: Path) -> None:
    print("\n".join(drill(path)))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "clinic.db"
    main(target)
