"""How the command line writes things for a person: times, counts, money and tables.

One place for each, so every command says them the same way (docs/decisions.md, "The
front desk"):

- a time is ``format_when``'s ``2026-11-27 09:05 CST``, in the program's zone (a time that
  belongs to no program, a checkpoint's, says ``UTC``);
- a count agrees with its noun (``1 draw``, ``2 draws``);
- money is ``format_cents`` of cents the library rounded half to even;
- a list is a table with a header row, its columns aligned, or with ``--csv`` the same rows
  as CSV (times as ISO 8601 with their offset, money as plain dollars), or with ``--json``
  the records themselves.

Plain aligned columns cost nothing at start-up; ``tabulate`` would add about 45 ms to every
command and ``rich`` more (measured with ``python -X importtime``). For the same reason the
modules only some paths need (``csv``, ``zoneinfo``) are imported where they are used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import click

import cmrewards

from ._shell import Recorded, Settings, emit

if TYPE_CHECKING:
    from cmrewards import Clinic

Row = TypeVar("Row")

IRREGULAR = {"recovery": "recoveries", "analyte result": "analyte results"}


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 participant``, ``2 participants``, ``1,000 rows``: the count and its noun agreeing."""
    many = nouns or IRREGULAR.get(noun) or f"{noun}s"
    return f"{count:,} {noun if count == 1 else many}"


def when(value: dt.datetime, timezone: str) -> str:
    """A time for a person: ``2026-11-27 09:05 CST`` in ``timezone`` (the program's)."""
    return cmrewards.format_when(value, timezone)


def when_iso(value: dt.datetime, timezone: str) -> str:
    """A time for a spreadsheet: ``2026-11-27T09:05:00-06:00``, the same instant and zone."""
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def dollars(cents: int | None) -> str:
    """Money in a CSV cell: ``1074.00``, no dollar sign or separators; empty for None."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


@attrs.frozen
class Column(Generic[Row]):
    """One column of a list: its header, its cell as text, and its cell in a CSV file."""

    header: str
    text: Callable[[Row], object]
    right: bool = False
    """Numbers are right-aligned."""
    csv: Callable[[Row], object] | None = None
    """The CSV cell when it differs from the text (a time with its offset, plain dollars).
    A number shown with separators or a sign (``+1,150``) gives its plain number here
    (``1150``): a spreadsheet reads CSV cells as numbers."""


def table(columns: Sequence[Column[Row]], rows: Iterable[Row]) -> str:
    """A header row and one row per item, each column as wide as its widest cell."""
    cells = [[c.header for c in columns]]
    cells += [[_cell(c.text(row)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, width, column in zip(line, widths, columns, strict=True)
        ).rstrip()
        for line in cells
    )


def csv_text(columns: Sequence[Column[Row]], rows: Iterable[Row]) -> str:
    """The same list as CSV: a header row, then one row per item."""
    import csv  # only --csv pays for it
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow([_cell((c.csv or c.text)(row)) for c in columns])
    return out.getvalue().rstrip("\n")


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def emit_list(
    settings: Settings,
    data: Any,
    columns: Sequence[Column[Row]],
    rows: Sequence[Row],
    *,
    empty: str,
    recorded: Recorded | None = None,
) -> None:
    """Print a list: the records as JSON, the rows as CSV, or an aligned table (``empty``
    when there are no rows; CSV always has its header)."""

    def text() -> str:
        if settings.csv:
            return csv_text(columns, rows)
        return table(columns, rows) if rows else empty

    emit(settings, data, text, recorded=recorded)


def csv_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--csv`` for a list command: the table's rows as CSV on stdout."""

    def chosen(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            ctx.find_object(Settings).csv = True  # type: ignore[union-attr]

    return click.option(
        "--csv",
        is_flag=True,
        expose_value=False,
        callback=chosen,
        help="Print the list as CSV (times with their offset, money in plain dollars).",
    )


def participant_zones(clinic: Clinic) -> dict[str, str]:
    """Each participant's program zone: the zone their times are shown in."""
    zones = {p.id: p.timezone for p in clinic.programs()}
    return {p.id: zones.get(p.program_id, "UTC") for p in clinic.participants()}


__all__ = [
    "Column",
    "csv_option",
    "csv_text",
    "dollars",
    "emit_list",
    "participant_zones",
    "plural",
    "table",
    "when",
    "when_iso",
]
