"""A participant's statement as one printable HTML page with an inline SVG chart.

Pure functions from a ``Statement`` to text: no network, no scripts, no external
assets or web fonts, so the page can be saved, mailed or printed as it is. Every
piece of user text (ids, names, notes, reasons) goes through ``_esc``.

It speaks to the participant in CM's terms: the page opens with where they stand (the
balance, each target's streak and what the next negative earns), then the chart and the
results. Results are numbered 1, 2, 3 in clinical order, with their dates; the database's
record ids appear nowhere a reader sees them (only in ``data-`` attributes, for tools).
A reset is marked only where a run was lost (``Statement``).

Money is integer cents throughout; only chart geometry uses floats.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence

from ..domain.balances import Balance
from ..domain.clock import local_date, zone
from ..domain.counts import plural
from ..domain.money import format_cents
from ..domain.records import Prize
from ..domain.redemption import Redemption
from ..domain.results import HistoryEntry
from ..domain.schedules import AwardKind
from .statement import Statement, StatementLine

SVG_NAMESPACE = "http://www.w3.org/2000/svg"

# Chart geometry, in viewBox units. The plot leaves room above for the legend,
# left and right for the two dollar scales, and below for reset marks and dates.
WIDTH, HEIGHT = 760, 300
PLOT_LEFT, PLOT_RIGHT = 72, 680
PLOT_TOP, PLOT_BOTTOM = 44, 262
PLOT_WIDTH, PLOT_HEIGHT = PLOT_RIGHT - PLOT_LEFT, PLOT_BOTTOM - PLOT_TOP
MAX_BAR_WIDTH = 28.0
DATE_LABELS = 6

BAR_COLOUR = "#5b84b1"
LINE_COLOUR = "#111111"
RESET_COLOUR = "#c0392b"
RECOVERED_COLOUR = "#1e7b45"
EXCUSED_COLOUR = "#888888"
GRID_COLOUR = "#d9d9d9"

OUTCOME_LABELS = {
    "met": "met",
    "not_met": "not met",
    "missed": "missed",
    "excused": "excused",
    "invalid": "invalid",
}
MOVEMENT_LABELS = {
    "adjustment-up": "adjustment (added)",
    "adjustment-down": "adjustment (removed)",
    "taken-back": "taken back after a correction or close",
    "hold": "held for a request",
    "release": "hold released",
    "spend": "spent on an item",
    "reversal": "reversal",
}
"""Ledger movements other than awards; awards already appear line by line."""

# Characters XML 1.0 forbids even when escaped; user text is checked on entry, but
# a page that cannot be parsed is worse than one with a character dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(value: object) -> str:
    """Text safe inside HTML/SVG elements and double- or single-quoted attributes."""
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)


def _num(value: float) -> str:
    """A coordinate with at most two decimals, without trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _day(when: dt.datetime, timezone: str | None) -> dt.date:
    """The clinical date: in the program's zone when given, else as the datetime carries it."""
    return local_date(when, timezone) if timezone else when.date()


def axis_ticks(max_cents: int, count: int = 4) -> list[int]:
    """About ``count`` evenly spaced round dollar amounts from 0 up to at least ``max_cents``.

    Integer steps of 1, 2 or 5 times a power of ten cents; never a zero-height axis,
    so scaling by the top tick cannot divide by zero.
    """
    if max_cents <= 0:
        return [0, 100]
    rough = -(-max_cents // count)  # ceiling division, in integers
    magnitude = 10 ** (len(str(rough)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    top = -(-max_cents // step) * step
    return list(range(0, top + 1, step))


# --- the chart -----------------------------------------------------------------------------


def render_chart_svg(lines: Sequence[StatementLine], *, timezone: str | None = None) -> str:
    """An inline SVG: one bar per opportunity (its value), reset and recovery marks, and
    the cumulative earnings as a line on its own (right-hand) dollar scale."""
    total = lines[-1].cumulative_cents if lines else 0
    resets = sum(line.reset for line in lines)
    description = (
        f"{plural(len(lines), 'result')} recorded, {plural(resets, 'reset')},"
        f" {format_cents(total)} earned in all."
        if lines
        else "No results recorded yet."
    )
    parts = [
        f'<svg xmlns="{SVG_NAMESPACE}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-labelledby="chart-title chart-desc" class="statement-chart"'
        f' font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial,'
        f' sans-serif" font-size="12">',
        '<title id="chart-title">Award per result and total earned</title>',
        f'<desc id="chart-desc">{_esc(description)}</desc>',
        f'<rect class="plot-area" x="{PLOT_LEFT}" y="{PLOT_TOP}" width="{PLOT_WIDTH}"'
        f' height="{PLOT_HEIGHT}" fill="none" stroke="#bbbbbb" stroke-width="1"/>',
    ]
    if not lines:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2:g}" y="{(PLOT_TOP + PLOT_BOTTOM) / 2:g}"'
            f' text-anchor="middle" fill="#555555" font-size="14">'
            "No results recorded yet.</text>"
        )
        parts.append("</svg>")
        return "\n".join(parts)

    bar_ticks = axis_ticks(max(line.value_cents for line in lines))
    total_ticks = axis_ticks(max(line.cumulative_cents for line in lines))
    parts += _legend()
    parts += _axis(bar_ticks, "left")
    parts += _axis(total_ticks, "right")

    slot = PLOT_WIDTH / len(lines)
    bar_width = min(slot * 0.7, MAX_BAR_WIDTH)
    centres = [PLOT_LEFT + slot * (index + 0.5) for index in range(len(lines))]
    parts += _reset_marks(lines, centres, slot)
    parts.append(f'<g class="bars" fill="{BAR_COLOUR}">')
    for line, centre in zip(lines, centres, strict=True):
        height = _height(line.value_cents, bar_ticks[-1])
        when = _day(line.occurred_at, timezone).isoformat()
        label = (
            f"{when} {line.target}: {OUTCOME_LABELS.get(str(line.outcome), line.outcome)},"
            f" {format_cents(line.value_cents)} (total {format_cents(line.cumulative_cents)})"
        )
        parts.append(
            f'<rect class="bar outcome-{_esc(line.outcome)}" x="{_num(centre - bar_width / 2)}"'
            f' y="{_num(PLOT_BOTTOM - height)}" width="{_num(bar_width)}" height="{_num(height)}"'
            f' data-outcome-id="{line.outcome_id}" data-value-cents="{line.value_cents}">'
            f"<title>{_esc(label)}</title></rect>"
        )
    parts.append("</g>")
    parts += _outcome_marks(lines, centres, bar_ticks[-1])
    parts.append(_cumulative(lines, centres, total_ticks[-1]))
    parts += _date_labels(lines, centres, timezone)
    parts.append("</svg>")
    return "\n".join(parts)


def _height(cents: int, axis_top_cents: int) -> float:
    """Height proportional to ``cents`` on an axis whose top tick is ``axis_top_cents`` (> 0)."""
    return cents * PLOT_HEIGHT / axis_top_cents


def _axis(ticks: list[int], side: str) -> list[str]:
    """Grid lines (left axis only, so the two scales do not fight) and dollar labels."""
    x, anchor, offset = (PLOT_LEFT, "end", -6) if side == "left" else (PLOT_RIGHT, "start", 6)
    parts = [f'<g class="axis {side}" data-axis-max-cents="{ticks[-1]}" fill="#333333">']
    for tick in ticks:
        y = PLOT_BOTTOM - _height(tick, ticks[-1])
        if side == "left" and tick:
            parts.append(
                f'<line x1="{PLOT_LEFT}" y1="{_num(y)}" x2="{PLOT_RIGHT}" y2="{_num(y)}"'
                f' stroke="{GRID_COLOUR}" stroke-width="1"/>'
            )
        parts.append(
            f'<line x1="{x}" y1="{_num(y)}" x2="{x + offset // 2}" y2="{_num(y)}"'
            ' stroke="#333333" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x + offset}" y="{_num(y + 4)}" text-anchor="{anchor}"'
            f' data-cents="{tick}">{format_cents(tick)}</text>'
        )
    # Axis titles sit above the plot, flush with the outer edges so neither is clipped.
    title_x, title_anchor, title = (
        (PLOT_LEFT, "end", "Award") if side == "left" else (WIDTH - 2, "end", "Total earned")
    )
    parts.append(
        f'<text x="{title_x}" y="{PLOT_TOP - 8}" text-anchor="{title_anchor}"'
        f' font-weight="600">{title}</text>'
    )
    parts.append("</g>")
    return parts


def _legend() -> list[str]:
    """What each mark means, drawn with the same marks (it reads in greyscale too)."""
    y = 14
    return [
        '<g class="legend" fill="#222222" font-size="11">',
        f'<rect x="{PLOT_LEFT}" y="{y - 8}" width="12" height="10" fill="{BAR_COLOUR}"/>',
        f'<text x="{PLOT_LEFT + 17}" y="{y + 1}">Award per result (left scale)</text>',
        f'<line x1="{PLOT_LEFT + 200}" y1="{y - 3}" x2="{PLOT_LEFT + 222}" y2="{y - 3}"'
        f' stroke="{LINE_COLOUR}" stroke-width="2"/>',
        f'<text x="{PLOT_LEFT + 227}" y="{y + 1}">Total earned (right scale)</text>',
        _cross(PLOT_LEFT + 406, y - 3, 4.5),
        f'<text x="{PLOT_LEFT + 415}" y="{y + 1}">Reset</text>',
        _triangle(PLOT_LEFT + 470, y - 3),
        f'<text x="{PLOT_LEFT + 479}" y="{y + 1}">Level recovered</text>',
        _ring(PLOT_LEFT + 582, y - 3),
        f'<text x="{PLOT_LEFT + 590}" y="{y + 1}">Excused</text>',
        "</g>",
    ]


def _cross(x: float, y: float, size: float) -> str:
    return (
        f'<path d="M{_num(x - size)} {_num(y - size)}L{_num(x + size)} {_num(y + size)}'
        f'M{_num(x - size)} {_num(y + size)}L{_num(x + size)} {_num(y - size)}"'
        f' stroke="{RESET_COLOUR}" stroke-width="2" fill="none"/>'
    )


def _ring(x: float, y: float) -> str:
    return (
        f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3" fill="none"'
        f' stroke="{EXCUSED_COLOUR}" stroke-width="1.5"/>'
    )


def _triangle(x: float, y: float) -> str:
    return (
        f'<path d="M{_num(x)} {_num(y - 5)}L{_num(x + 5)} {_num(y + 4)}'
        f'L{_num(x - 5)} {_num(y + 4)}Z" fill="{RECOVERED_COLOUR}"/>'
    )


def _reset_marks(lines: Sequence[StatementLine], centres: list[float], slot: float) -> list[str]:
    """A dashed red rule through the plot and a cross under the axis at every reset."""
    parts = []
    size = max(2.0, min(5.0, slot * 0.35))
    for line, centre in zip(lines, centres, strict=True):
        if not line.reset:
            continue
        parts.append(
            f'<g class="reset" data-outcome-id="{line.outcome_id}">'
            f'<line x1="{_num(centre)}" y1="{PLOT_TOP}" x2="{_num(centre)}" y2="{PLOT_BOTTOM}"'
            f' stroke="{RESET_COLOUR}" stroke-width="1" stroke-dasharray="3 3"/>'
            + _cross(centre, PLOT_BOTTOM + 9, size)
            + "</g>"
        )
    return parts


def _outcome_marks(
    lines: Sequence[StatementLine], centres: list[float], axis_top_cents: int
) -> list[str]:
    """A green triangle over each award paid at a recovered level; a grey ring for excused."""
    parts = []
    for line, centre in zip(lines, centres, strict=True):
        top = PLOT_BOTTOM - _height(line.value_cents, axis_top_cents)
        if line.recovered:
            parts.append(
                f'<g class="recovered" data-outcome-id="{line.outcome_id}">'
                + _triangle(centre, max(top - 8, PLOT_TOP + 6))
                + "</g>"
            )
        if str(line.outcome) == "excused":
            parts.append(
                f'<g class="excused" data-outcome-id="{line.outcome_id}">'
                + _ring(centre, PLOT_BOTTOM - 4)
                + "</g>"
            )
    return parts


def _cumulative(lines: Sequence[StatementLine], centres: list[float], axis_top_cents: int) -> str:
    """The running total from $0 at the left edge through each result, on the right scale."""
    points = [(float(PLOT_LEFT), float(PLOT_BOTTOM))]
    for line, centre in zip(lines, centres, strict=True):
        points.append((centre, PLOT_BOTTOM - _height(line.cumulative_cents, axis_top_cents)))
    coordinates = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    return (
        f'<polyline class="cumulative" points="{coordinates}" fill="none"'
        f' stroke="{LINE_COLOUR}" stroke-width="2" stroke-linejoin="round"'
        f' data-final-cents="{lines[-1].cumulative_cents}"'
        f' data-axis-max-cents="{axis_top_cents}"/>'
    )


def _date_labels(
    lines: Sequence[StatementLine], centres: list[float], timezone: str | None
) -> list[str]:
    """A few dates along the bottom, evenly spread, first and last included."""
    count = min(len(lines), DATE_LABELS)
    picks = sorted({round(j * (len(lines) - 1) / max(count - 1, 1)) for j in range(count)})
    parts = ['<g class="dates" fill="#333333" font-size="11" text-anchor="middle">']
    shown: set[dt.date] = set()
    for index in picks:
        day = _day(lines[index].occurred_at, timezone)
        if day in shown:  # two targets at one visit share a date
            continue
        shown.add(day)
        parts.append(
            f'<text x="{_num(centres[index])}" y="{PLOT_BOTTOM + 30}">{day.isoformat()}</text>'
        )
    parts.append("</g>")
    return parts


# --- the page ------------------------------------------------------------------------------

STYLE = """
:root { color-scheme: light; }
body {
  font: 11pt/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    sans-serif;
  color: #111; background: #fff; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem;
}
header { border-bottom: 2px solid #111; padding-bottom: .6rem; margin-bottom: 1rem; }
h1 { font-size: 1.45rem; margin: 0; }
.subtitle { margin: .15rem 0 .6rem; color: #333; }
h2 {
  font-size: 1.1rem; margin: 1.4rem 0 .45rem; padding-bottom: .15rem;
  border-bottom: 1px solid #888;
}
dl.summary {
  display: grid; grid-template-columns: max-content 1fr max-content 1fr;
  gap: .15rem 1rem; margin: 0;
}
dl.summary dt { color: #444; }
dl.summary dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
figure.chart { margin: 0; }
figure.chart svg { display: block; width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #333; margin-top: .3rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td {
  border-bottom: 1px solid #bbb; padding: .18rem .4rem; text-align: left; vertical-align: top;
}
th { border-bottom: 1.5px solid #111; font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.date, td.target, td.mark { white-space: nowrap; }
tr.reset td { border-top: 2px solid #c0392b; }
.mark-reset { color: #a93226; font-weight: 700; }
.mark-recovered { color: #1e7b45; font-weight: 700; }
.mark-note { color: #444; white-space: normal; }
.empty { color: #555; font-style: italic; }
footer { margin-top: 1.5rem; font-size: .85rem; color: #444; border-top: 1px solid #888; }
@media print {
  @page { margin: 14mm 12mm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  header, figure.chart, tr { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  table { font-size: 8.5pt; }
  footer { break-before: avoid; page-break-before: avoid; }
  section.chart { break-after: auto; }
  figure.chart svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
""".strip()


def statement_html(statement: Statement) -> str:
    """The statement as one complete, self-contained HTML5 page (text) to print or save.

    Dates are clinical dates in the program's zone, which the statement carries; amounts
    are dollars at the program's point value and prizes at their category's value. The
    page opens with the balance and each target's streak and next award, then a chart of
    every award and the running total, then the results (numbered in clinical order),
    redemptions, prizes, corrections and other points movements. No scripts and no
    external assets. Raises nothing for any statement ``Clinic.statement`` returns.
    """
    timezone = statement.timezone
    who = _esc(statement.participant)
    title = f"Statement for {statement.participant} — {statement.program_name}"
    numbers = {line.outcome_id: n for n, line in enumerate(statement.lines, 1)}
    body = [
        _header(statement),
        _progress(statement),
        '<section class="chart">',
        "<h2>Awards over time</h2>",
        '<figure class="chart">',
        render_chart_svg(statement.lines, timezone=timezone),
        "<figcaption>Each bar is what one result paid (points at the program's value, plus"
        " any prizes won). The black line is the total earned so far. A red cross and dashed"
        " line mark a result that ended a run, so the next award starts again from the"
        " first amount; a green triangle marks an award paid at the level held before it;"
        " a grey ring marks an excused result (no award, and the run is kept)."
        "</figcaption>",
        "</figure>",
        "</section>",
        _results_table(statement.lines, timezone),
        _redemptions_table(statement.redemptions, statement.item_names, timezone),
    ]
    if len(statement.episodes) > 1:
        body.insert(1, _episodes_table(statement))
    if statement.prizes:
        body.append(_prizes_table(statement.prizes, numbers, timezone))
    if statement.corrections or statement.write_offs or statement.over_cap_grants:
        body.append(_corrections_table(statement, _result_labels(statement, numbers)))
    body.append(_movements_table(statement.history, timezone))
    body.append(
        "<footer><p>Amounts are in dollars at the program's point value; prizes at their"
        f" category value. Dates are clinical dates in {_esc(timezone)}. Statement for"
        f" participant {who} in program {_esc(statement.program_id)}, as of"
        f" {_esc(_as_of(statement))}. Please ask staff about any line you do not"
        " recognise.</p></footer>"
    )
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)}</title>",
            f"<style>\n{STYLE}\n</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _as_of(statement: Statement) -> str:
    """``2026-11-29 09:15 CST``: the moment the statement was made, in the program's zone."""
    return statement.as_of.astimezone(zone(statement.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _header(statement: Statement) -> str:
    balance = statement.balance
    facts = [
        ("Participant", _esc(statement.participant)),
        ("As of", _esc(_as_of(statement))),
        ("Balance", _balance_text(balance)),
        ("Total earned", format_cents(statement.earned_cents)),
        ("Start date", _esc(statement.start.isoformat())),
        ("Status", _esc(statement.status)),
        *([("Episode", str(statement.episode))] if statement.episode > 1 else []),
        ("Results recorded", str(len(statement.lines))),
        ("Longest streak", plural(statement.longest_streak, "result")),
        ("Resets", str(statement.resets)),
        ("Recoveries", str(statement.recoveries)),
    ]
    if balance.cap_remaining_cents is not None:
        facts.append(("Cap remaining", format_cents(balance.cap_remaining_cents)))
    pairs = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    return (
        "<header>"
        "<h1>Rewards statement</h1>"
        f'<p class="subtitle">{_esc(statement.program_name)}'
        f" ({_esc(statement.program_id)})</p>"
        f'<dl class="summary">{pairs}</dl>'
        "</header>"
    )


def _progress(statement: Statement) -> str:
    """Where the participant stands: each target's run and what its next ``met`` earns (none
    once the enrolment has ended: nothing more is recorded)."""
    ended = statement.status != "active"
    rows = []
    for target in () if ended else statement.progress:
        unit = "point" if target.unit is AwardKind.POINTS else "draw"
        approx = "about " if target.unit is AwardKind.DRAWS else ""
        notes = []
        if target.recovery_in is not None:
            verb = "restores" if target.recovery_in == 1 else "restore"
            notes.append(f"{target.recovery_in} more in a row {verb} the earlier level")
        if target.requires:
            notes.append(f"paid when {', '.join(target.requires)} is met at the same visit")
        rows.append(
            f'<tr><td class="target">{_esc(target.target)}</td>'
            f'<td class="num">{target.streak}</td>'
            f'<td class="num">{plural(target.next_amount, unit)}</td>'
            f'<td class="num">{approx}{format_cents(target.next_value_cents)}</td>'
            f"<td>{_esc('; '.join(notes))}</td></tr>"
        )
    return _table(
        "Where you stand",
        "progress",
        [
            ("Target", False),
            ("In a row now", True),
            ("The next one met earns", True),
            ("Worth", True),
            ("", False),
        ],
        rows,
        f"The enrolment is {_esc(statement.status)}: no more results are recorded."
        if ended
        else "This program has no targets.",
    )


def _balance_text(balance: Balance) -> str:
    text = f"{plural(balance.points, 'point')} ({format_cents(balance.value_cents)})"
    if balance.held_points:
        text += (
            f" — {balance.available_points:,} available, {balance.held_points:,} held for requests"
        )
    return text


def _table(
    title: str, css_class: str, headings: list[tuple[str, bool]], rows: Iterable[str], empty: str
) -> str:
    """A section with a table; ``headings`` are (text, numeric) pairs."""
    rendered = list(rows)
    if not rendered:
        return (
            f'<section class="{css_class}"><h2>{title}</h2><p class="empty">{empty}</p></section>'
        )
    numeric_class = ' class="num"'
    head = "".join(
        f'<th scope="col"{numeric_class if numeric else ""}>{text}</th>'
        for text, numeric in headings
    )
    return (
        f'<section class="{css_class}"><h2>{title}</h2><table>'
        f"<thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rendered) + "\n</tbody></table>"
        "</section>"
    )


def _award_text(line: StatementLine) -> str:
    parts = []
    if line.points:
        parts.append(plural(line.points, "point"))
    if line.draws:
        parts.append(plural(line.draws, "draw"))
    return ", ".join(parts) or "—"


def _results_table(lines: Sequence[StatementLine], timezone: str) -> str:
    several = any(line.episode > 1 for line in lines)

    def episode(line: StatementLine) -> str:
        """Which episode the row is in, for a participant enrolled more than once."""
        return f' data-episode="{line.episode}"' if several else ""

    rows = []
    for number, line in enumerate(lines, 1):
        css = ' class="reset"' if line.reset else (' class="recovered"' if line.recovered else "")
        mark = ""
        if line.reset:
            mark = '<span class="mark-reset">✕ reset</span>'
        elif line.recovered:
            mark = '<span class="mark-recovered">▲ recovered</span>'
        if line.note:
            # Neutral: an extra sample or a result after the last paid week is no fault.
            label = "not paid" if not line.paid else "note"
            mark += f'<span class="mark-note">{label}: {_esc(line.note)}</span>'
        outcome = OUTCOME_LABELS.get(str(line.outcome), str(line.outcome))
        if line.corrected:
            outcome += " (corrected)"
        rows.append(
            f'<tr{css} data-outcome-id="{line.outcome_id}"{episode(line)}>'
            f'<td class="num">{number}</td>'
            f'<td class="date">{_day(line.occurred_at, timezone).isoformat()}</td>'
            f'<td class="target">{_esc(line.target)}</td><td>{_esc(outcome)}</td>'
            f'<td class="num">{_award_text(line)}</td>'
            f'<td class="num">{format_cents(line.value_cents)}</td>'
            f'<td class="num">{line.streak}</td><td class="mark">{mark}</td>'
            f'<td class="num">{format_cents(line.cumulative_cents)}</td></tr>'
        )
    return _table(
        "Results",
        "results",
        [
            ("#", True),
            ("Date", False),
            ("Target", False),
            ("Result", False),
            ("Award", True),
            ("Value", True),
            ("Streak", True),
            ("", False),
            ("Total earned", True),
        ],
        rows,
        "No results have been recorded yet.",
    )


def _result_labels(statement: Statement, numbers: dict[int, int]) -> dict[int, str]:
    """How the page names each recorded result: ``#3`` for a line of the results table, and
    its date and target for a voided one, which has no line."""
    labels = {outcome_id: f"#{number}" for outcome_id, number in numbers.items()}
    for entry in statement.history:
        kind, _, record_id = entry.ref.partition(":")
        if kind == "outcome" and record_id.isdigit() and int(record_id) not in labels:
            when = _day(entry.occurred_at, statement.timezone).isoformat()
            labels[int(record_id)] = f"{when} {entry.detail.split(':')[0]}"
    return labels


def _episodes_table(statement: Statement) -> str:
    """Each enrolment of a participant who came back, with what its results earned."""
    rows = [
        f'<tr data-episode="{e.number}"><td class="num">{e.number}</td>'
        f"<td>{_esc(e.program_id)}</td>"
        f'<td class="date">{e.start.isoformat()}</td><td>{_esc(e.status)}</td>'
        f'<td class="num">{e.results}</td><td class="num">{format_cents(e.earned_cents)}</td>'
        f'<td class="num">{e.longest_streak}</td></tr>'
        for e in statement.episodes
    ]
    return _table(
        "Episodes",
        "episodes",
        [
            ("Episode", True),
            ("Program", False),
            ("Start", False),
            ("Status", False),
            ("Results", True),
            ("Earned", True),
            ("Longest streak", True),
        ],
        rows,
        "",
    )


def _corrections_table(statement: Statement, labels: dict[int, str]) -> str:
    """Each correction and void with who and why, what settlement wrote off, and each
    adjustment an admin granted past the cap."""
    timezone = statement.timezone
    categories = {p.id: p.category for p in statement.prizes}
    rows = []
    for c in statement.corrections:
        what = "voided (entered in error)" if c.outcome is None else f"corrected to {c.outcome}"
        rows.append(
            f'<tr><td class="date">{_day(c.recorded_at, timezone).isoformat()}</td>'
            f"<td>{_esc(labels.get(c.outcome_id, ''))}</td><td>{_esc(what)}</td>"
            f"<td>{_esc(c.actor)}</td><td>{_esc(c.reason)}</td></tr>"
        )
    for w in statement.write_offs:
        what = (
            f"a {categories.get(w.prize_id, 'bowl')} prize"
            if w.prize_id is not None
            else plural(w.points, "point")
        )
        rows.append(
            f'<tr class="write-off"><td class="date">{_day(w.at, timezone).isoformat()}</td>'
            f"<td>{_esc(labels.get(w.outcome_id, ''))}</td>"
            f"<td>{_esc(what)} written off ({format_cents(w.value_cents)}): already spent"
            f" or handed over</td><td>{_esc(w.actor)}</td><td>{_esc(w.cause)}</td></tr>"
        )
    for g in statement.over_cap_grants:
        undone = " (reversed since)" if g.reversed else ""
        rows.append(
            f'<tr class="over-cap"><td class="date">{_day(g.at, timezone).isoformat()}</td>'
            f"<td></td><td>{_esc(plural(g.points, 'point'))} granted"
            f" ({format_cents(g.cents)}), {format_cents(g.over_cents)} past the cap{undone}"
            f"</td><td>{_esc(g.actor)}</td><td>{_esc(g.reason)}</td></tr>"
        )
    return _table(
        "Corrections",
        "corrections",
        [("Date", False), ("Result", False), ("What", False), ("By", False), ("Why", False)],
        rows,
        "No corrections.",
    )


def _redemptions_table(
    redemptions: Sequence[Redemption], item_names: Mapping[str, str], timezone: str
) -> str:
    rows = []
    for r in redemptions:
        finished = r.fulfilled_at if r.closed_at is None else r.closed_at
        notes = "; ".join(_esc(text) for text in (r.note, r.close_reason) if text)
        rows.append(
            f"<tr><td>{_esc(item_names.get(r.sku, r.sku))}</td>"
            f'<td class="num">{r.cost:,}</td><td>{_esc(r.status)}</td>'
            f'<td class="date">{_day(r.requested_at, timezone).isoformat()}</td>'
            f'<td class="date">{_day(finished, timezone).isoformat() if finished else ""}</td>'
            f"<td>{notes}</td></tr>"
        )
    return _table(
        "Redemptions",
        "redemptions",
        [
            ("Item", False),
            ("Points", True),
            ("Status", False),
            ("Requested", False),
            ("Handed over / closed", False),
            ("Note", False),
        ],
        rows,
        "No redemptions.",
    )


def _prizes_table(prizes: Sequence[Prize], numbers: dict[int, int], timezone: str) -> str:
    rows = [
        f'<tr><td class="date">{_day(p.won_at, timezone).isoformat()}</td>'
        f'<td>{_esc(p.category)}</td><td class="num">{format_cents(p.value_cents)}</td>'
        f"<td>{_esc(p.status)}</td><td>{_prize_source(p, numbers)}</td></tr>"
        for p in prizes
    ]
    return _table(
        "Prizes",
        "prizes",
        [("Won", False), ("Category", False), ("Value", True), ("Status", False), ("From", False)],
        rows,
        "No prizes.",
    )


def _prize_source(prize: Prize, numbers: dict[int, int]) -> str:
    if prize.outcome_id is None:
        return "a trade"
    number = numbers.get(prize.outcome_id)
    return "a voided result" if number is None else f"result #{number}"


def _points(points: int | None) -> str:
    """A history line's balance figure; blank where it has none (a late entry)."""
    return "" if points is None else f"{points:,}"


def _movements_table(history: Sequence[HistoryEntry], timezone: str) -> str:
    """Adjustments, holds, spending and reversals: what explains the balance besides awards."""
    rows = [
        f'<tr><td class="date">{_day(e.occurred_at, timezone).isoformat()}</td>'
        f"<td>{_esc(MOVEMENT_LABELS.get(e.kind, e.kind))}</td><td>{_esc(e.detail)}</td>"
        f'<td class="num">{f"{e.points:+,}" if e.points else "0"}</td>'
        f'<td class="num">{_points(e.available_points)}</td>'
        f'<td class="num">{_points(e.held_points)}</td></tr>'
        for e in history
        if e.kind in MOVEMENT_LABELS
    ]
    return _table(
        "Other points movements",
        "movements",
        [
            ("Date", False),
            ("Movement", False),
            ("Detail", False),
            ("Points", True),
            ("Available after", True),
            ("Held after", True),
        ],
        rows,
        "No adjustments, holds, spending or reversals.",
    )


__all__ = ["render_chart_svg", "statement_html"]
