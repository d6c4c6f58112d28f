"""``export``: every table as CSV and JSON, with a manifest an auditor checks against ``verify``.

The manifest lists each file's row count, the heads of the outcome and transfer hash
chains, and the checkpoint of every chain taken in the same snapshot, so
``verify --against manifest.json`` proves a database still extends what was exported.
The files hold participants' records: each is created owner-only (0600), in folders
created owner-only (0700), like the database; the manifest names no path of the machine.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import attrs

from ..domain.chain import GENESIS
from ..domain.checkpoint import Checkpoint
from ..domain.clock import to_utc_text
from ..domain.json_form import to_json
from ..store.port import Tx
from .chains import take_checkpoint


@attrs.frozen
class ExportManifest:
    """What ``Clinic.export`` wrote (``manifest.json`` beside the tables)."""

    tables: dict[str, int]
    """Rows written per table (the files are ``NAME.json`` and ``NAME.csv``)."""
    outcome_chain_head: str
    transfer_chain_head: str
    exported_at: str
    checkpoint: Checkpoint
    """Every chain's length and head in the snapshot exported (``Clinic.checkpoint``)."""


def _tables(tx: Tx) -> dict[str, Callable[[], list[Any]]]:
    return {
        "staff": tx.all_staff,
        # Who has a passphrase and when it was set, never its hash; the sign-in events
        # without their session digests (docs/decisions.md, "Sign-in").
        "staff_secrets": lambda: [
            {"staff_id": s.staff_id, "set_at": s.set_at, "set_by": s.set_by}
            for s in tx.staff_secrets()
        ],
        "sign_ins": lambda: [
            {k: v for k, v in to_json(e).items() if k != "session"} for e in tx.sign_ins()
        ],
        "programs": lambda: [p.to_dict() for p in tx.programs()],
        "participants": tx.participants,
        "past_episodes": tx.past_episodes,
        "outcomes": tx.outcomes,
        "schedule_states": lambda: [
            {"participant": p, "target": t} | state.to_dict()
            for (p, t), state in sorted(tx.schedule_states().items())
        ],
        "transfers": tx.transfers,
        "balances": lambda: [
            {"program_id": p, "account": a, "points": v}
            for (p, a), v in sorted(tx.balances().items())
        ],
        "prizes": tx.prizes,
        "prize_fulfilments": tx.prize_fulfilments,
        "prize_trades": tx.prize_trades,
        "cap_usage": lambda: [
            {"participant": p, "period": period, "cents": cents}
            for (p, period), cents in sorted(tx.cap_usages().items())
        ],
        "catalog": tx.items,
        "stock_movements": tx.stock_movements,
        "redemptions": tx.redemptions,
        "analyte_results": tx.analyte_results,
        "analyte_revisions": tx.analyte_revisions,
        "idempotency_keys": tx.idempotency_records,
        "corrections": tx.corrections,
        "write_offs": tx.write_offs,
        "prize_withdrawals": tx.prize_withdrawals,
    }


def export_all(tx: Tx, directory: Path, at: dt.datetime) -> ExportManifest:
    _private_directory(directory)
    counts = {}
    for name, rows in _tables(tx).items():
        data = [to_json(row) for row in rows()]
        counts[name] = len(data)
        with _private_file(directory / f"{name}.json") as file:
            file.write(json.dumps(data, indent=1, ensure_ascii=False))
        _write_csv(directory / f"{name}.csv", data)
    outcomes, transfers = tx.last_outcome(), tx.last_transfer()
    manifest = ExportManifest(
        tables=counts,
        outcome_chain_head=GENESIS if outcomes is None else outcomes.hash,
        transfer_chain_head=GENESIS if transfers is None else transfers.hash,
        exported_at=to_utc_text(at),
        checkpoint=take_checkpoint(tx, at.replace(microsecond=0)),
    )
    with _private_file(directory / "manifest.json") as file:
        file.write(json.dumps(to_json(manifest), indent=2))
    return manifest


def _private_directory(directory: Path) -> None:
    """``directory`` and each missing folder above it, created owner-only."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)  # whatever the umask allowed


def _private_file(path: Path) -> IO[str]:
    """A new file only its owner can read, open for UTF-8 text."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with _private_file(path) as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
            )
