"""The printable statement page: well-formed, self-contained, and its numbers are the ledger's.

Statements are built through the ``Clinic`` API on both stores; the ledger total each
test compares against is computed here from ``clinic.history`` and ``clinic.prizes``,
not from ``Statement``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cmrewards
from cmrewards import Clinic, Outcome
from cmrewards.domain.money import format_cents
from cmrewards.views.statement import Statement, StatementLine
from cmrewards.views.statement_html import render_chart_svg, statement_html
from support.clinics import START, sample_day, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"
SVG_NS = "http://www.w3.org/2000/svg"
SVG = f"{{{SVG_NS}}}"
AWKWARD = "Gift <card> & co"
"""User text that breaks a page if it is not escaped."""

HIGGINS_HISTORY = ["met"] * 7 + ["not_met"] + ["met"] * 5 + ["excused", "met", "missed", "met"]
"""Seven negatives, a positive (reset), five negatives (the fifth recovers the seventh's
level), an excused absence, a negative, a missed sample (reset), a negative."""

VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
MONEY = re.compile(r"-?\$\d{1,3}(?:,\d{3})*\.\d{2}")


# --- helpers -------------------------------------------------------------------------------


class StrictParser(HTMLParser):
    """``html.parser`` is lenient; this one also insists every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: list[str] = []
        self.declarations: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.declarations.append(decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1] == tag, f"</{tag}> closes <{self.open[-1]}>"
        self.open.pop()


def parse_page(page: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"unclosed elements: {parser.open}"
    return parser


def chart_of(page: str) -> ET.Element:
    """The inline SVG, parsed as XML (so it must be well-formed on its own)."""
    start, end = page.index("<svg"), page.index("</svg>") + len("</svg>")
    assert page.count("<svg") == 1
    return ET.fromstring(page[start:end])


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def bars(svg: ET.Element) -> list[ET.Element]:
    return [r for r in svg.iter(f"{SVG}rect") if "bar" in classes(r)]


def marked(svg: ET.Element, css_class: str) -> list[int]:
    """The outcome ids of every mark with ``css_class``, in document order."""
    return [int(e.attrib["data-outcome-id"]) for e in svg.iter() if css_class in classes(e)]


def plot_height(svg: ET.Element) -> float:
    area = next(r for r in svg.iter(f"{SVG}rect") if "plot-area" in classes(r))
    return float(area.attrib["height"])


def plot_bottom(svg: ET.Element) -> float:
    area = next(r for r in svg.iter(f"{SVG}rect") if "plot-area" in classes(r))
    return float(area.attrib["y"]) + float(area.attrib["height"])


def bar_axis_max(svg: ET.Element) -> int:
    axis = next(g for g in svg.iter(f"{SVG}g") if {"axis", "left"} <= classes(g))
    return int(axis.attrib["data-axis-max-cents"])


def cumulative_line(svg: ET.Element) -> ET.Element:
    (line,) = [e for e in svg.iter() if "cumulative" in classes(e)]
    return line


def points_of(polyline: ET.Element) -> list[tuple[float, float]]:
    pairs = (pair.split(",") for pair in polyline.attrib["points"].split())
    return [(float(x), float(y)) for x, y in pairs]


def transfer_id(ref: str) -> int:
    return int(ref.removeprefix("transfer:"))


def ledger_earned_cents(clinic: Clinic, participant: str, reversed_ids: set[int]) -> int:
    """What the ledger says was earned: award and bonus transfers not reversed, at the
    point value, plus every prize won from a draw (a prize received in a trade is paid
    for by the prizes given up, which are already counted)."""
    program = clinic.program(clinic.participant(participant).program_id)
    points = sum(
        entry.points
        for entry in clinic.history(participant)
        if entry.kind in ("award", "bonus") and transfer_id(entry.ref) not in reversed_ids
    )
    prizes = sum(p.value_cents for p in clinic.prizes(participant) if p.outcome_id is not None)
    return points * program.point_value_cents + prizes


# --- scenarios -----------------------------------------------------------------------------


@attrs.frozen
class Busy:
    clinic: Clinic
    statement: Statement
    reversed_ids: frozenset[int]
    page: str


@pytest.fixture
def busy(higgins: Clinic) -> Busy:
    """P001 on higgins-vbrt: resets, a recovery, an excused result, an adjustment, a
    fulfilled, a cancelled and an open redemption, and a reversed award."""
    for index, outcome in enumerate(HIGGINS_HISTORY):
        higgins.record("P001", STIM, outcome, actor=ADMIN, at=visit(sample_day(index)))
    higgins.adjust("P001", 20, reason="attendance <bonus> & more", actor=ADMIN)
    higgins.add_item("GC10", name=AWKWARD, cost=100, actor=ADMIN, stock=3)
    higgins.add_item("BUS", name="Bus pass", cost=50, actor=ADMIN)
    gift = higgins.request_redemption("P001", "GC10", actor=ADMIN).redemption
    higgins.approve_redemption(gift.id, actor=ADMIN)
    higgins.fulfil_redemption(gift.id, actor=ADMIN, note=AWKWARD, cost_cents=1000)
    bus = higgins.request_redemption("P001", "BUS", actor=ADMIN).redemption
    higgins.cancel_redemption(bus.id, reason="changed mind <again>", actor=ADMIN)
    higgins.request_redemption("P001", "BUS", actor=ADMIN)
    first_award = next(e for e in higgins.history("P001") if e.kind == "award")
    reversal = higgins.reverse(transfer_id(first_award.ref), reason="dilute sample", actor=ADMIN)
    assert reversal.transfer.reverses is not None
    statement = higgins.statement("P001")
    return Busy(
        higgins, statement, frozenset({reversal.transfer.reverses}), statement_html(statement)
    )


@pytest.fixture
def petry(any_clinic: Clinic) -> tuple[Clinic, Statement]:
    """P002 on petry-fishbowl, seven visits with a positive at the fourth; five small prizes
    traded for a large one and one prize handed over (draws are seeded by the fixture)."""
    any_clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    any_clinic.enroll("P002", "petry-fishbowl", start=START, actor=ADMIN)
    for index, day in enumerate([0, 3, 7, 10, 14, 17, 21]):
        stimulant = "not_met" if index == 3 else "met"
        any_clinic.record("P002", STIM, stimulant, actor=ADMIN, at=visit(day))
        any_clinic.record("P002", SECONDARY, "met", actor=ADMIN, at=visit(day))
    smalls = [p for p in any_clinic.prizes("P002") if p.category == "small"]
    assert len(smalls) >= 5  # fixed by the fixture's seeds
    any_clinic.trade_prizes("P002", give="small", get="large", actor=ADMIN)
    any_clinic.add_item("CAB-L", name=AWKWARD, cost=0, stock=2, category="large", actor=ADMIN)
    large = next(p for p in any_clinic.prizes("P002") if p.category == "large")
    any_clinic.fulfil_prize(large.id, sku="CAB-L", note=AWKWARD, actor=ADMIN)
    return any_clinic, any_clinic.statement("P002")


# --- the page ------------------------------------------------------------------------------


def test_page_is_one_well_formed_html5_document(busy: Busy) -> None:
    parser = parse_page(busy.page)
    assert busy.page.startswith("<!doctype html>")
    assert [d.lower() for d in parser.declarations] == ["doctype html"]
    assert '<meta charset="utf-8">' in busy.page
    head = busy.page[: busy.page.index("<body>")]
    assert head.count("<title>") == 1
    assert "<title>Statement for P001 — Higgins voucher-based" in busy.page
    assert parser.tags.count("style") == 1
    assert "@media print" in busy.page
    assert parser.tags.count("svg") == 1
    svg = chart_of(busy.page)  # well-formed XML
    assert [child.tag for child in svg][:2] == [f"{SVG}title", f"{SVG}desc"]


def test_page_is_self_contained(busy: Busy) -> None:
    page = busy.page.lower()
    assert "<script" not in page
    assert "http" not in page.replace(SVG_NS, "")
    for external in ("<link", "<img", "<iframe", "@import", "url(", "@font-face", "src="):
        assert external not in page, external
    assert "javascript:" not in page
    assert re.search(r"\son[a-z]+=", page) is None, "no event handler attributes"


def test_bars_match_the_statement_and_the_ledger(busy: Busy) -> None:
    statement = busy.statement
    svg = chart_of(busy.page)
    shown = bars(svg)
    assert len(shown) == len(statement.lines) == len(HIGGINS_HISTORY)
    for bar, line in zip(shown, statement.lines, strict=True):
        assert int(bar.attrib["data-outcome-id"]) == line.outcome_id
        assert int(bar.attrib["data-value-cents"]) == line.value_cents
    ledger = ledger_earned_cents(busy.clinic, "P001", set(busy.reversed_ids))
    assert sum(int(bar.attrib["data-value-cents"]) for bar in shown) == statement.earned_cents
    assert statement.earned_cents == ledger
    # The first award (10 points) was reversed, so its bar is empty.
    assert int(shown[0].attrib["data-value-cents"]) == 0
    # 15, 20+40, 25, 30, 35+40, 40 | reset | 10, 15, 20+40, 25, 40 (the seventh's level
    # restored) | excused | 45+40 | reset | 10.
    before, after = 15 + 60 + 25 + 30 + 75 + 40, 10 + 15 + 60 + 25 + 40 + 85 + 10
    assert ledger == (before + after) * 25


def test_bar_heights_are_proportional_to_value(busy: Busy) -> None:
    svg = chart_of(busy.page)
    height, top = plot_height(svg), bar_axis_max(svg)
    assert top >= max(line.value_cents for line in busy.statement.lines)
    for bar in bars(svg):
        expected = int(bar.attrib["data-value-cents"]) * height / top
        assert float(bar.attrib["height"]) == pytest.approx(expected, abs=0.01)
        # Bars stand on the axis.
        assert float(bar.attrib["y"]) + float(bar.attrib["height"]) == pytest.approx(
            plot_bottom(svg), abs=0.01
        )


def test_resets_and_recoveries_are_marked(busy: Busy) -> None:
    statement = busy.statement
    svg = chart_of(busy.page)
    resets = [line.outcome_id for line in statement.lines if line.reset]
    recovered = [line.outcome_id for line in statement.lines if line.recovered]
    assert len(resets) == statement.resets == 2  # the positive and the missed sample
    assert len(recovered) == statement.recoveries == 1
    assert marked(svg, "reset") == resets
    assert marked(svg, "recovered") == recovered
    # The results table marks the same rows.
    for outcome_id in resets:
        assert f'<tr class="reset" data-outcome-id="{outcome_id}">' in busy.page
    for outcome_id in recovered:
        assert f'<tr class="recovered" data-outcome-id="{outcome_id}">' in busy.page


def test_cumulative_line_ends_at_the_total_earned(busy: Busy) -> None:
    statement = busy.statement
    svg = chart_of(busy.page)
    line = cumulative_line(svg)
    assert line.tag in (f"{SVG}polyline", f"{SVG}path")
    assert int(line.attrib["data-final-cents"]) == statement.earned_cents
    points = points_of(line)
    assert len(points) == len(statement.lines) + 1  # from $0, then one point per result
    top = int(line.attrib["data-axis-max-cents"])
    for (_, y), entry in zip(points[1:], statement.lines, strict=True):
        expected = plot_bottom(svg) - entry.cumulative_cents * plot_height(svg) / top
        assert y == pytest.approx(expected, abs=0.01)
    assert points[-1][1] == pytest.approx(
        plot_bottom(svg) - statement.earned_cents * plot_height(svg) / top, abs=0.01
    )
    # Earnings never go down, so the line never drops.
    assert all(b[1] <= a[1] for a, b in itertools.pairwise(points))


def test_header_and_tables_show_the_statement(busy: Busy) -> None:
    statement, page = busy.statement, busy.page
    balance = statement.balance
    assert "<dt>Participant</dt><dd>P001</dd>" in page
    assert statement.program_name in page
    assert f"<dt>Start date</dt><dd>{START.isoformat()}</dd>" in page
    assert "<dt>Status</dt><dd>active</dd>" in page
    assert f"{balance.points} points ({format_cents(balance.value_cents)})" in page
    assert f"{balance.held_points} held for requests" in page
    assert f"<dt>Total earned</dt><dd>{format_cents(statement.earned_cents)}</dd>" in page
    assert f"<dt>Longest streak</dt><dd>{statement.longest_streak} results</dd>" in page
    assert f"<dt>Resets</dt><dd>{statement.resets}</dd>" in page
    assert f"<dt>Recoveries</dt><dd>{statement.recoveries}</dd>" in page
    rows = re.findall(r'<tr(?: class="[a-z]+")? data-outcome-id="(\d+)">(.*?)</tr>', page)
    assert [int(i) for i, _ in rows] == [line.outcome_id for line in statement.lines]
    for number, ((_, row), line) in enumerate(zip(rows, statement.lines, strict=True), 1):
        assert row.startswith(f'<td class="num">{number}</td>')  # not the record's id
        assert row.endswith(f'<td class="num">{format_cents(line.cumulative_cents)}</td>')
        assert f'<td class="num">{format_cents(line.value_cents)}</td>' in row
        assert line.occurred_at.date().isoformat() in row
    excused = next(row for _, row in rows if "<td>excused</td>" in row)
    assert '<td class="num">—</td>' in excused
    redemptions = page[page.index('<section class="redemptions">') :]
    redemptions = redemptions[: redemptions.index("</section>")]
    assert redemptions.count("<tr>") == 1 + len(statement.redemptions)
    for status in ("fulfilled", "cancelled", "requested"):
        assert f"<td>{status}</td>" in redemptions
    assert '<section class="prizes">' not in page  # a points program wins no prizes


def test_user_text_is_escaped(busy: Busy) -> None:
    page = busy.page
    for raw in (AWKWARD, "changed mind <again>", "attendance <bonus> & more"):
        assert raw not in page
        assert raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page
    assert "<card>" not in page
    assert "<again>" not in page
    assert "<bonus>" not in page


def test_money_is_dollars_and_cents(busy: Busy) -> None:
    text = re.sub(r"<[^>]+>", " ", busy.page)
    amounts = re.findall(r"-?\$[\d,.]+", text)
    assert amounts
    for amount in amounts:
        assert MONEY.fullmatch(amount), amount
    assert format_cents(busy.statement.earned_cents) in text
    assert "$18.75" in text  # the 75-point award at 25 cents a point
    assert re.search(r"\$\d+\.\d(?!\d)", text) is None


def test_format_cents() -> None:
    assert format_cents(0) == "$0.00"
    assert format_cents(5) == "$0.05"
    assert format_cents(250) == "$2.50"
    assert format_cents(123456) == "$1,234.56"
    assert format_cents(100_000_000) == "$1,000,000.00"
    assert format_cents(-250) == "-$2.50"


def test_an_empty_statement_renders(higgins: Clinic) -> None:
    statement = higgins.statement("P001")
    assert statement.lines == ()
    page = statement_html(statement)
    parse_page(page)
    svg = chart_of(page)
    assert bars(svg) == []
    assert [e for e in svg.iter() if "cumulative" in classes(e)] == []
    assert svg.find(f"{SVG}title") is not None
    assert svg.find(f"{SVG}desc") is not None
    assert "No results recorded yet." in page
    assert "<dt>Total earned</dt><dd>$0.00</dd>" in page
    assert "0 points ($0.00)" in page
    assert "<script" not in page


def test_a_prize_program_shows_draws_and_prizes(petry: tuple[Clinic, Statement]) -> None:
    clinic, statement = petry
    page = statement_html(statement)
    parse_page(page)
    svg = chart_of(page)
    shown = bars(svg)
    assert len(shown) == len(statement.lines) == 14
    for bar, line in zip(shown, statement.lines, strict=True):
        assert int(bar.attrib["data-value-cents"]) == line.value_cents
    ledger = ledger_earned_cents(clinic, "P002", set())
    assert sum(int(b.attrib["data-value-cents"]) for b in shown) == statement.earned_cents
    assert statement.earned_cents == ledger > 0
    assert int(cumulative_line(svg).attrib["data-final-cents"]) == ledger
    assert marked(svg, "reset") == [line.outcome_id for line in statement.lines if line.reset]
    assert marked(svg, "reset")  # the positive at the fourth visit
    # Every prize is listed, the traded-in one included, with its status.
    prizes = page[page.index('<section class="prizes">') :]
    prizes = prizes[: prizes.index("</section>")]
    assert prizes.count("<tr>") == 1 + len(statement.prizes) == 1 + len(clinic.prizes("P002"))
    for status in ("owed", "fulfilled", "traded"):
        assert f"<td>{status}</td>" in prizes
    assert "<td>a trade</td>" in prizes
    assert "draws" in page
    assert AWKWARD not in page


def test_dates_are_clinical_dates_in_the_program_zone(any_clinic: Clinic) -> None:
    """A sample given at 21:00 in New York is that day's, though it is the next day in UTC."""
    program = attrs.evolve(
        cmrewards.load_preset("higgins-vbrt"), id="higgins-ny", timezone="America/New_York"
    )
    any_clinic.add_program(program, actor=ADMIN)
    any_clinic.enroll("P003", "higgins-ny", start=START, actor=ADMIN)
    evening = dt.datetime(2027, 1, 4, 21, tzinfo=ZoneInfo("America/New_York"))
    any_clinic.record("P003", STIM, "met", actor=ADMIN, at=evening)
    page = statement_html(any_clinic.statement("P003"))
    assert '<td class="date">2027-01-04</td>' in page
    assert "2027-01-05" not in page


# --- the chart on arbitrary lines --------------------------------------------------------


@st.composite
def line_lists(draw: st.DrawFn, max_size: int = 80) -> list[StatementLine]:
    """Lines as a statement would hold them, with arbitrary non-negative values."""
    values = draw(st.lists(st.integers(0, 10**9), max_size=max_size))
    lines, cumulative = [], 0
    when = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)
    for index, value in enumerate(values):
        cumulative += value
        when += dt.timedelta(hours=draw(st.integers(0, 24 * 7)))
        lines.append(
            StatementLine(
                outcome_id=index + 1,
                occurred_at=when,
                target=draw(st.text(max_size=12)),
                outcome=draw(st.sampled_from(list(Outcome))),
                points=draw(st.integers(0, 10**6)),
                draws=draw(st.integers(0, 14)),
                value_cents=value,
                streak=draw(st.integers(0, 100)),
                reset=draw(st.booleans()),
                recovered=draw(st.booleans()),
                paid=True,
                reversed_points=0,
                cumulative_cents=cumulative,
            )
        )
    return lines


@settings(max_examples=150, deadline=None)
@given(lines=line_lists())
def test_chart_is_well_formed_for_any_lines(lines: list[StatementLine]) -> None:
    svg = ET.fromstring(render_chart_svg(lines))
    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    assert svg.get("viewBox")
    assert svg.find(f"{SVG}title") is not None
    assert svg.find(f"{SVG}desc") is not None
    shown = bars(svg)
    assert [int(b.attrib["data-value-cents"]) for b in shown] == [x.value_cents for x in lines]
    assert marked(svg, "reset") == [x.outcome_id for x in lines if x.reset]
    assert marked(svg, "recovered") == [x.outcome_id for x in lines if x.recovered]
    height = plot_height(svg)
    for bar in shown:
        assert 0 <= float(bar.attrib["height"]) <= height + 0.01
    if lines:
        assert int(cumulative_line(svg).attrib["data-final-cents"]) == lines[-1].cumulative_cents
        if all(x.value_cents == 0 for x in lines):
            assert all(float(b.attrib["height"]) == 0 for b in shown)


@settings(max_examples=150, deadline=None)
@given(lines=line_lists(max_size=40).filter(bool), data=st.data())
def test_a_bar_twice_the_value_is_twice_as_tall(
    lines: list[StatementLine], data: st.DataObject
) -> None:
    base = lines[data.draw(st.integers(0, len(lines) - 1))]
    doubled = attrs.evolve(
        base,
        outcome_id=len(lines) + 1,
        value_cents=2 * base.value_cents,
        cumulative_cents=lines[-1].cumulative_cents + 2 * base.value_cents,
    )
    shown = bars(ET.fromstring(render_chart_svg([*lines, doubled])))
    single = float(shown[lines.index(base)].attrib["height"])
    double = float(shown[-1].attrib["height"])
    assert double == pytest.approx(2 * single, abs=1)
    # And every bar against every other: heights keep the ratio of the values.
    heights = [float(b.attrib["height"]) for b in shown]
    values = [int(b.attrib["data-value-cents"]) for b in shown]
    tallest = max(range(len(values)), key=values.__getitem__)
    for value, bar_height in zip(values, heights, strict=True):
        if values[tallest]:
            assert bar_height == pytest.approx(heights[tallest] * value / values[tallest], abs=1)


# --- what the participant reads first, and what they never need to --------------------------


@attrs.define
class Section:
    css: str
    heading: str = ""
    head: list[str] = attrs.Factory(list)
    """The table's column headings."""
    rows: list[list[str]] = attrs.Factory(list)
    """Each row's cell texts."""


class Sections(HTMLParser):
    """The page as a reader sees it: each section's class, heading, table headings and rows
    of cell texts (markup and ``data-`` attributes left behind)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self.legend: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._heading: list[str] | None = None
        self._in_legend = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        css = dict(attrs).get("class") or ""
        if tag == "section":
            self.sections.append(Section(css))
        elif tag == "h2":
            self._heading = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "g" and css == "legend":
            self._in_legend = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            self.sections[-1].heading = "".join(self._heading).strip()
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            section = self.sections[-1]
            if not section.head and not section.rows:
                section.head = self._row
            else:
                section.rows.append(self._row)
            self._row = None
        elif tag == "g" and self._in_legend:
            self._in_legend = False

    def handle_data(self, data: str) -> None:
        for collecting in (self._cell, self._heading):
            if collecting is not None:
                collecting.append(data)
        if self._in_legend and data.strip():
            self.legend.append(data.strip())

    def section(self, css: str) -> Section:
        (found,) = [s for s in self.sections if s.css == css]
        return found


def read_page(page: str) -> Sections:
    reader = Sections()
    reader.feed(page)
    reader.close()
    return reader


def test_progress_comes_first_then_the_chart_and_the_results(busy: Busy) -> None:
    page = read_page(busy.page)
    order = [s.css for s in page.sections]
    assert order == ["progress", "chart", "results", "redemptions", "movements"]
    progress = page.section("progress")
    assert progress.heading == "Where you stand"
    assert progress.head == ["Target", "In a row now", "The next one met earns", "Worth", ""]
    (stimulant,) = progress.rows
    (preview,) = busy.clinic.preview("P001")
    assert busy.statement.progress == (preview,)
    assert stimulant[:4] == [
        STIM,
        str(preview.streak),
        f"{preview.next_amount} points",
        format_cents(preview.next_value_cents),
    ]
    assert preview.streak == 1  # the last result of HIGGINS_HISTORY followed a reset


def test_the_page_says_when_it_was_made(busy: Busy) -> None:
    statement = busy.statement
    local = statement.as_of.astimezone(ZoneInfo(statement.timezone))
    shown = local.strftime("%Y-%m-%d %H:%M %Z")
    assert f"<dt>As of</dt><dd>{shown}</dd>" in busy.page
    assert f"as of {shown}." in busy.page  # the footer, on every printed page
    assert statement.as_of == dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)  # the fixture clock


def test_no_record_id_is_shown_to_the_reader(busy: Busy) -> None:
    page = read_page(busy.page)
    results = page.section("results")
    assert results.head[0] == "#"
    numbers = [row[0] for row in results.rows]
    assert numbers == [str(n) for n in range(1, len(busy.statement.lines) + 1)]
    redemptions = page.section("redemptions")
    assert redemptions.head[0] == "Item"
    items = {row[0] for row in redemptions.rows}
    assert items == {AWKWARD, "Bus pass"}  # the catalog's names, not the skus


def test_the_legend_explains_every_mark(busy: Busy) -> None:
    page = read_page(busy.page)
    assert page.legend == [
        "Award per result (left scale)",
        "Total earned (right scale)",
        "Reset",
        "Level recovered",
        "Excused",
    ]
    assert "grey ring marks an excused result" in busy.page
    svg = chart_of(busy.page)
    excused = [line.outcome_id for line in busy.statement.lines if line.outcome == "excused"]
    assert marked(svg, "excused") == excused != []


def test_a_reset_is_marked_only_where_a_run_was_lost(higgins: Clinic) -> None:
    """A second positive after a first loses nothing: one cross, not a wall of red."""
    history = ["not_met", "missed", "met", "met", "not_met", "not_met", "excused", "missed"]
    for index, outcome in enumerate(history):
        higgins.record("P001", STIM, outcome, actor=ADMIN, at=visit(2 * index))
    statement = higgins.statement("P001")
    lost = [line.reset for line in statement.lines]
    assert lost == [False, False, False, False, True, False, False, False]
    assert statement.resets == 1
    page = statement_html(statement)
    (run_lost,) = [line.outcome_id for line in statement.lines if line.reset]
    assert marked(chart_of(page), "reset") == [run_lost]
    assert page.count('<tr class="reset"') == 1
    assert "1 reset," in page  # the chart's description for screen readers


def test_prizes_name_their_result_by_its_number(petry: tuple[Clinic, Statement]) -> None:
    _, statement = petry
    page = read_page(statement_html(statement))
    prizes = page.section("prizes")
    assert prizes.head == ["Won", "Category", "Value", "Status", "From"]
    numbers = {line.outcome_id: n for n, line in enumerate(statement.lines, 1)}
    sources = [row[-1] for row in prizes.rows]
    expected = [
        "a trade" if p.outcome_id is None else f"result #{numbers[p.outcome_id]}"
        for p in statement.prizes
    ]
    assert sources == expected


def test_a_voided_result_is_named_by_its_date_and_target(higgins: Clinic) -> None:
    kept = higgins.record("P001", STIM, "met", actor=ADMIN, at=visit(0))
    wrong = higgins.record("P001", STIM, "met", actor=ADMIN, at=visit(2))
    higgins.void(wrong.outcome_id, reason="wrong chart", actor=ADMIN)
    higgins.correct(kept.outcome_id, "not_met", reason="GC/MS positive", actor=ADMIN)
    page = read_page(statement_html(higgins.statement("P001")))
    corrections = page.section("corrections")
    named = [row[1] for row in corrections.rows]
    assert named == [f"{visit(2).date().isoformat()} {STIM}", "#1"]  # in the order made


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.mark.skipif(
    not any(shutil.which(b) for b in BROWSERS),
    reason="no headless browser here; the tests above parse the page instead",
)
def test_a_headless_browser_renders_the_page(busy: Busy, tmp_path: Path) -> None:
    browser = next(b for b in map(shutil.which, BROWSERS) if b)
    html_file, shot = tmp_path / "statement.html", tmp_path / "statement.png"
    html_file.write_text(busy.page, encoding="utf-8")
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            html_file.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a page with a chart, not a blank one


def test_an_ended_enrolment_promises_no_next_award(higgins: Clinic) -> None:
    higgins.record("P001", STIM, "met", actor=ADMIN, at=visit(0))
    higgins.complete("P001", actor=ADMIN)
    page = statement_html(higgins.statement("P001"))
    progress = read_page(page).section("progress")
    assert progress.rows == []
    assert "The enrolment is completed: no more results are recorded." in page
