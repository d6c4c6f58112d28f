"""``export``: every table as CSV and JSON, with a manifest an auditor checks against ``verify``.

The manifest lists each file's row count and the heads of the outcome and
transfer hash chains; ``verify`` on the database prints the same heads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ..domain.chain import GENESIS
from ..domain.json_form import to_json
from ..store.port import Tx


@attrs.frozen
class ExportManifest:
    directory: str
    tables: dict[str, int]
    """Rows written per table."""
    outcome_chain_head: str
    transfer_chain_head: str
    exported_at: str


def _tables(tx: Tx) -> dict[str, Callable[[], list[Any]]]:
    return {
        "staff": tx.all_staff,
        "programs": lambda: [p.to_dict() for p in tx.programs()],
        "participants": tx.participants,
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
        "idempotency_keys": tx.idempotency_records,
        "corrections": tx.corrections,
        "write_offs": tx.write_offs,
        "prize_withdrawals": tx.prize_withdrawals,
    }


def export_all(tx: Tx, directory: Path, exported_at: str) -> ExportManifest:
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in _tables(tx).items():
        data = [to_json(row) for row in rows()]
        counts[name] = len(data)
        (directory / f"{name}.json").write_text(
            json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        _write_csv(directory / f"{name}.csv", data)
    outcomes, transfers = tx.last_outcome(), tx.last_transfer()
    manifest = ExportManifest(
        directory=str(directory),
        tables=counts,
        outcome_chain_head=GENESIS if outcomes is None else outcomes.hash,
        transfer_chain_head=GENESIS if transfers is None else transfers.hash,
        exported_at=exported_at,
    )
    (directory / "manifest.json").write_text(json.dumps(to_json(manifest), indent=2), "utf-8")
    return manifest


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
            )
