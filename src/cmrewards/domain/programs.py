"""Programs: one CM protocol as data, loaded from TOML and validated key by key.

A program file, a shipped preset and the copy stored in the database all pass
through ``program_from_dict``, so there is one definition of what is valid.
Every error names the file and the key (``stim.toml: targets[0].schedule.start``).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ..errors import CMRewardsError, InvalidInput, NotFound
from .analytes import analyte, analyte_names
from .calendar import Escalation, ExtraSamples, Phase, enter_phase, weeks_of
from .clock import unknown_zone, zone

if TYPE_CHECKING:
    from fractions import Fraction
    from importlib.resources.abc import Traversable
from .schedules import (
    DEFAULT_RESET_ON,
    AwardKind,
    EscalatingSchedule,
    FixedSchedule,
    Outcome,
    Schedule,
    ScheduleState,
    StepBy,
    advance,
)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
E = TypeVar("E", bound=enum.StrEnum)


class CapPeriod(enum.StrEnum):
    """The year a program's ``cap_cents`` counts over (docs/design.md section 3.3)."""

    CALENDAR_YEAR = "calendar-year"
    ENROLLMENT_YEAR = "enrollment-year"


@attrs.frozen
class Target:
    """A verified behaviour with its own schedule."""

    id: str
    schedule: Schedule
    per_week: int = 2
    """Scheduled opportunities a week: used for maximum earnings and simulation."""
    reset_on: frozenset[Outcome] = DEFAULT_RESET_ON
    requires: tuple[str, ...] = ()
    """Targets that must have a ``met`` at the same visit, in either order, for a ``met`` to pay."""
    analytes: tuple[str, ...] = ()
    """The lab panel that decides this target from a specimen's analyte results
    (``domain/specimens.py``); empty for a target recorded directly."""
    phases: tuple[Phase, ...] = ()
    """Its ``[[targets.phases]]`` in week order; empty for one phase of ``schedule`` and
    ``per_week`` over the program's weeks (``calendar.phases_of``). When set, ``schedule``
    and ``per_week`` are the first phase's."""
    extra_samples: ExtraSamples = ExtraSamples.IGNORE
    """What a sample beyond the week's owed ones does (calendar programs only)."""


@attrs.frozen
class BowlCategory:
    """One kind of slip in the prize bowl."""

    category: str
    slips: int
    value_cents: int


@attrs.frozen
class Trade:
    """An exchange the program allows: ``count`` owed prizes of one category for one better."""

    give: str
    count: int
    get: str


@attrs.frozen
class Program:
    """A CM protocol. Immutable once stored: a change is a new program id."""

    id: str
    name: str
    targets: tuple[Target, ...]
    description: str = ""
    point_value_cents: int = 1
    timezone: str = "UTC"
    cap_cents: int | None = None
    cap_period: CapPeriod = CapPeriod.CALENDAR_YEAR
    budget_cents: int | None = None
    require_approval: bool = True
    separate_duties: bool = False
    hold_days: int = 30
    weeks: int = 12
    bowl: tuple[BowlCategory, ...] = ()
    trades: tuple[Trade, ...] = ()
    calendar: bool = True
    """The protocol calendar applies: phases, owed samples and the last paid week
    (``domain/calendar.py``). False for programs stored before it existed, which keep
    paying every sample as they did (docs/decisions.md "The calendar")."""

    @property
    def primary_target(self) -> Target:
        """The target whose consecutive ``met`` run is the longest duration of abstinence."""
        return self.targets[0]

    def target(self, target_id: str) -> Target:
        for target in self.targets:
            if target.id == target_id:
                return target
        known = ", ".join(t.id for t in self.targets)
        raise NotFound(f"program {self.id} has no target {target_id!r} (targets: {known})")

    def to_dict(self) -> dict[str, Any]:
        """The program as a program file would say it (the stored, canonical form)."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "point_value_cents": self.point_value_cents,
            "timezone": self.timezone,
            "cap_period": str(self.cap_period),
            "require_approval": self.require_approval,
            "separate_duties": self.separate_duties,
            "hold_days": self.hold_days,
            "weeks": self.weeks,
            "targets": [_target_to_dict(t) for t in self.targets],
            "bowl": [attrs.asdict(c) for c in self.bowl],
            "trades": [attrs.asdict(t) for t in self.trades],
        }
        if self.cap_cents is not None:
            data["cap_cents"] = self.cap_cents
        if self.budget_cents is not None:
            data["budget_cents"] = self.budget_cents
        # Only when true: a program stored before the calendar has no key, and the store
        # reads a missing key as false, so its canonical form and journal digest stay.
        if self.calendar:
            data["calendar"] = True
        return data


def _schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    return {"kind": schedule.kind} | {
        key: str(value) if isinstance(value, enum.Enum) else value
        for key, value in attrs.asdict(schedule).items()
        if value is not None
    }


def _target_to_dict(target: Target) -> dict[str, Any]:
    data: dict[str, Any] = {"id": target.id}
    if not target.phases:
        data["per_week"] = target.per_week
    data["reset_on"] = sorted(str(o) for o in target.reset_on)
    data["requires"] = list(target.requires)
    if not target.phases:
        data["schedule"] = _schedule_to_dict(target.schedule)
    # Only when set: a stored program's canonical form, and so its journal digest,
    # stays what it was for every program written before targets had panels or phases.
    if target.analytes:
        data["analytes"] = list(target.analytes)
    if target.phases:
        data["phases"] = [
            {
                "weeks": [phase.first, phase.last],
                "per_week": phase.per_week,
                "escalation": str(phase.escalation),
                "schedule": _schedule_to_dict(phase.schedule),
            }
            for phase in target.phases
        ]
    if target.extra_samples is not ExtraSamples.IGNORE:
        data["extra_samples"] = str(target.extra_samples)
    return data


def value_cents(program: Program, points: int) -> int:
    """``points`` at ``program``'s point value, in cents."""
    return points * program.point_value_cents


# --- loading and validation -------------------------------------------------


class _Table:
    """Reads one TOML table, naming ``source: path.key`` in every error."""

    def __init__(self, data: object, source: str, path: str) -> None:
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{source}: {path or 'file'}: must be a table")
        self._data = dict(data)
        self._source = source
        self._path = path

    def where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def fail(self, key: str, problem: str) -> InvalidInput:
        return InvalidInput(f"{self._source}: {self.where(key)}: {problem}")

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str, default: object = None) -> object:
        return self._data.pop(key, default)

    def text(self, key: str, default: str | None = None, *, slug: bool = False) -> str:
        value = self.raw(key, default)
        if value is None:
            raise self.fail(key, "is required")
        if not isinstance(value, str) or (not value.strip() and default is None):
            raise self.fail(key, "must be a non-empty string")
        if slug and not _SLUG.match(value):
            raise self.fail(key, f"{value!r} must be lower-case letters, digits, '.', '-' or '_'")
        return value

    def integer(self, key: str, default: int | None = None, *, minimum: int = 0) -> int:
        value = self.optional_integer(key, default, minimum=minimum)
        if value is None:
            raise self.fail(key, "is required")
        return value

    def optional_integer(
        self, key: str, default: int | None = None, *, minimum: int = 0
    ) -> int | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, not {value!r}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, not {value}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def choice(self, key: str, enum_type: type[E], default: E | None = None) -> E:
        value = self.raw(key, default)
        if value is None:
            raise self.fail(key, "is required")
        try:
            return enum_type(str(value))
        except ValueError:
            allowed = ", ".join(repr(str(member)) for member in enum_type)
            raise self.fail(key, f"{value!r} is not one of {allowed}") from None

    def table(self, key: str) -> _Table:
        return _Table(self.raw(key), self._source, self.where(key))

    def tables(self, key: str) -> Iterator[_Table]:
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise self.fail(key, "must be a list of tables")
        for index, item in enumerate(value):
            yield _Table(item, self._source, f"{self.where(key)}[{index}]")

    def finish(self) -> None:
        if self._data:
            unknown = sorted(self._data)[0]
            raise self.fail(unknown, "unknown key")


def program_from_dict(data: object, source: str) -> Program:
    """A ``Program`` from the data of a program file (README, "Program files"), validated.

    ``source`` names the file in errors. Raises ``InvalidInput`` for an unknown key or a
    bad value, naming the file and the key (``stim.toml: targets[0].schedule.strat:
    unknown key``). Rules: docs/design.md section 3.4.
    """
    table = _Table(data, source, "")
    program_id = table.text("id", slug=True)
    name = table.text("name")
    description = table.text("description", "")
    point_value_cents = table.integer("point_value_cents", 1)
    timezone = table.text("timezone", "UTC")
    try:
        zone(timezone)
    except CMRewardsError:
        raise table.fail("timezone", unknown_zone(timezone)) from None
    cap_cents = table.optional_integer("cap_cents", minimum=1)
    cap_period = table.choice("cap_period", CapPeriod, CapPeriod.CALENDAR_YEAR)
    budget_cents = table.optional_integer("budget_cents")
    require_approval = table.flag("require_approval", True)
    separate_duties = table.flag("separate_duties", False)
    hold_days = table.integer("hold_days", 30, minimum=1)
    weeks = table.integer("weeks", 12, minimum=1)
    calendar = table.flag("calendar", True)
    targets = tuple(_target(t, weeks, calendar) for t in table.tables("targets"))
    bowl = tuple(_bowl_category(c) for c in table.tables("bowl"))
    trades = tuple(_trade(t) for t in table.tables("trades"))
    table.finish()

    if not targets:
        raise table.fail("targets", "a program needs at least one [[targets]] table")
    _check_unique(table, "targets", [t.id for t in targets])
    _check_unique(table, "bowl", [c.category for c in bowl])
    _check_requires(table, targets)
    awards_draws = any(t.schedule.award is AwardKind.DRAWS for t in targets)
    if awards_draws and not bowl:
        raise table.fail("bowl", "a program that awards draws needs [[bowl]] categories")
    if bowl and sum(c.slips for c in bowl) == 0:
        raise table.fail("bowl", "the bowl has no slips")
    _check_trades(table, trades, bowl)
    return Program(
        id=program_id,
        name=name,
        description=description,
        point_value_cents=point_value_cents,
        timezone=timezone,
        cap_cents=cap_cents,
        cap_period=cap_period,
        budget_cents=budget_cents,
        require_approval=require_approval,
        separate_duties=separate_duties,
        hold_days=hold_days,
        weeks=weeks,
        targets=targets,
        bowl=bowl,
        trades=trades,
        calendar=calendar,
    )


def _target(table: _Table, weeks: int, calendar: bool) -> Target:
    target_id = table.text("id", slug=True)
    phased = table.has("phases")
    for key in ("schedule", "per_week"):
        if phased and table.has(key):
            raise table.fail(key, "give either schedule and per_week or [[targets.phases]]")
    if phased and not calendar:
        raise table.fail("phases", "phases need calendar = true")
    per_week = 2 if phased else table.integer("per_week", 2, minimum=1)
    reset_on = _reset_on(table)
    requires = table.raw("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise table.fail("requires", "must be a list of target ids")
    analytes = _analytes(table)
    if table.has("extra_samples") and not calendar:
        raise table.fail("extra_samples", "needs calendar = true")
    extra_samples = table.choice("extra_samples", ExtraSamples, ExtraSamples.IGNORE)
    phases = _phases(table, weeks) if phased else ()
    schedule = phases[0].schedule if phases else _schedule(table.table("schedule"))
    table.finish()
    return Target(
        id=target_id,
        schedule=schedule,
        per_week=phases[0].per_week if phases else per_week,
        reset_on=reset_on,
        requires=tuple(requires),
        analytes=analytes,
        phases=phases,
        extra_samples=extra_samples,
    )


def _phases(table: _Table, weeks: int) -> tuple[Phase, ...]:
    """A target's ``[[targets.phases]]``: contiguous from week 1, ascending, within the
    program's ``weeks``, all awarding one unit (docs/design.md section 3.8)."""
    phases: list[Phase] = []
    for phase_table in table.tables("phases"):
        phase = _phase(phase_table, weeks)
        expected = phases[-1].last + 1 if phases else 1
        if phase.first != expected:
            where = "must start at week 1" if not phases else f"must start at week {expected}"
            raise phase_table.fail("weeks", f"{where}, right after the phase before")
        if phases and phase.schedule.award is not phases[0].schedule.award:
            raise phase_table.fail(
                "schedule.award", f"must be {phases[0].schedule.award!s}, as in the first phase"
            )
        phases.append(phase)
    if not phases:
        raise table.fail("phases", "needs at least one [[targets.phases]] table")
    return tuple(phases)


def _phase(table: _Table, weeks: int) -> Phase:
    span = table.raw("weeks")
    if span is None:
        raise table.fail("weeks", "is required")
    if (
        not isinstance(span, list)
        or len(span) != 2
        or not all(isinstance(w, int) and not isinstance(w, bool) for w in span)
    ):
        raise table.fail("weeks", f"must be [first, last] program weeks, not {span!r}")
    first, last = span
    if not 1 <= first <= last:
        raise table.fail("weeks", f"must be [first, last] with 1 <= first <= last, not {span}")
    if last > weeks:
        raise table.fail("weeks", f"ends after the program's last week ({weeks})")
    phase = Phase(
        first=first,
        last=last,
        per_week=table.integer("per_week", 2, minimum=1),
        escalation=table.choice("escalation", Escalation, Escalation.CARRY),
        schedule=_schedule(table.table("schedule")),
    )
    table.finish()
    return phase


def _analytes(table: _Table) -> tuple[str, ...]:
    values = table.raw("analytes", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise table.fail("analytes", "must be a list of analyte names")
    known = ", ".join(analyte_names())
    for value in values:
        if analyte(value) is None:
            raise table.fail("analytes", f"{value!r} is not an analyte (analytes: {known})")
    if len(set(values)) != len(values):
        raise table.fail("analytes", "lists an analyte twice")
    return tuple(values)


def _reset_on(table: _Table) -> frozenset[Outcome]:
    if not table.has("reset_on"):
        return DEFAULT_RESET_ON
    values = table.raw("reset_on")
    if not isinstance(values, list):
        raise table.fail("reset_on", "must be a list of outcomes")
    resetting = set()
    for value in values:
        if not isinstance(value, str) or value not in set(Outcome) or value == Outcome.MET:
            raise table.fail(
                "reset_on", f"{value!r} is not one of not_met, missed, invalid, excused"
            )
        resetting.add(Outcome(value))
    return frozenset(resetting)


def _schedule(table: _Table) -> Schedule:
    kind = table.text("kind")
    award = table.choice("award", AwardKind, AwardKind.POINTS)
    schedule: Schedule
    if kind == "fixed":
        schedule = FixedSchedule(award=award, amount=table.integer("amount", minimum=1))
    elif kind == "escalating":
        schedule = EscalatingSchedule(
            award=award,
            start=table.integer("start", minimum=1),
            step=table.integer("step", 0),
            step_by=table.choice("step_by", StepBy, StepBy.OPPORTUNITY),
            step_every=table.integer("step_every", 1, minimum=1),
            max=table.optional_integer("max", minimum=1),
            bonus=table.integer("bonus", 0),
            bonus_every=table.integer("bonus_every", 0),
            recovery_after=table.integer("recovery_after", 0),
        )
        if schedule.max is not None and schedule.max < schedule.start:
            raise table.fail("max", f"must be at least start ({schedule.start})")
        if schedule.bonus and not schedule.bonus_every:
            raise table.fail("bonus_every", "must be set when bonus is")
    else:
        raise table.fail("kind", f"{kind!r} is not one of 'fixed', 'escalating'")
    table.finish()
    return schedule


def _bowl_category(table: _Table) -> BowlCategory:
    category = BowlCategory(
        category=table.text("category", slug=True),
        slips=table.integer("slips"),
        value_cents=table.integer("value_cents"),
    )
    table.finish()
    return category


def _trade(table: _Table) -> Trade:
    trade = Trade(
        give=table.text("give", slug=True),
        count=table.integer("count", minimum=2),
        get=table.text("get", slug=True),
    )
    table.finish()
    return trade


def _check_trades(table: _Table, trades: tuple[Trade, ...], bowl: tuple[BowlCategory, ...]) -> None:
    worth = {c.category: c.value_cents for c in bowl}
    for index, trade in enumerate(trades):
        where = f"trades[{index}]"
        for side in (trade.give, trade.get):
            if side not in worth:
                raise table.fail(where, f"{side!r} is not a [[bowl]] category")
        if worth[trade.get] <= worth[trade.give]:
            raise table.fail(where, f"{trade.get!r} must be worth more than {trade.give!r}")


def _check_unique(table: _Table, key: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise table.fail(key, f"{item!r} appears twice")
        seen.add(item)


def _check_requires(table: _Table, targets: tuple[Target, ...]) -> None:
    earlier: set[str] = set()
    for index, target in enumerate(targets):
        for required in target.requires:
            if required not in earlier:
                raise table.fail(
                    f"targets[{index}].requires",
                    f"{required!r} must be a target listed before {target.id!r}",
                )
        earlier.add(target.id)


def load_program_file(path: str | os.PathLike[str]) -> Program:
    """Read and validate a program TOML file (as ``program_from_dict``).

    Raises ``InvalidInput`` for a file that cannot be read, is not TOML, or is not a
    valid program.
    """
    from pathlib import Path  # a file's: pathlib is not on a read's path (issue 16)

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(
            f"{file}: cannot read program file ({error.__class__.__name__})"
        ) from None
    return program_from_toml(text, str(file))


def program_from_toml(text: str, source: str) -> Program:
    import tomllib  # here, not at the top: only a program file or preset is TOML (issue 16)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"{source}: not valid TOML: {error}") from None
    return program_from_dict(data, source)


# --- presets ---------------------------------------------------------------


def preset_names() -> list[str]:
    """The shipped presets' names, sorted (``higgins-vbrt``, ...). Raises nothing."""
    folder = _presets()
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_preset(name: str) -> Program:
    """The shipped program ``name`` (``preset_names``), with its sources in its description.

    Raises ``NotFound`` for an unknown name, listing the presets.
    """
    if name not in preset_names():
        raise NotFound(f"no preset {name!r} (presets: {', '.join(preset_names())})")
    text = (_presets() / f"{name}.toml").read_text(encoding="utf-8")
    return program_from_toml(text, f"preset {name}")


def _presets() -> Traversable:
    from importlib import resources  # imported on use: it costs every command's start-up

    return resources.files("cmrewards") / "presets"


# --- what a protocol can pay -----------------------------------------------


@attrs.frozen
class MaximumEarnings:
    """What one participant earns with every opportunity met (perfect attendance)."""

    points: int
    draws: int
    value_cents: int
    """Points at their value plus the expected value of every draw, rounded to the cent."""
    capped_cents: int
    """``value_cents`` limited by the program's cap."""


def expected_draw_cents(program: Program) -> Fraction:
    from fractions import Fraction

    slips = sum(c.slips for c in program.bowl)
    if not slips:
        return Fraction(0)
    return Fraction(sum(c.slips * c.value_cents for c in program.bowl), slips)


def maximum_earnings(program: Program) -> MaximumEarnings:
    """What one participant earns with every owed sample of every paid week met, phase by
    phase (``per_week`` x the weeks of each phase, each phase entered as its ``escalation``
    says): points, draws, their value in cents (draws at the bowl's expected value) and
    that value within the cap. Raises nothing. Rules: docs/design.md sections 3.1, 3.2, 3.3, 3.8.
    """
    points = draws = 0
    for target in program.targets:
        state = ScheduleState()
        previous: int | None = None
        for week, phase in weeks_of(program, target):
            state = enter_phase(program, target, state, previous, week)
            for _ in range(phase.per_week):
                step = advance(phase.schedule, state, Outcome.MET, week=week)
                state = step.state
                if phase.schedule.award is AwardKind.POINTS:
                    points += step.total
                else:
                    draws += step.total
            previous = week
    value = points * program.point_value_cents + round(draws * expected_draw_cents(program))
    capped = value if program.cap_cents is None else min(value, program.cap_cents)
    return MaximumEarnings(points=points, draws=draws, value_cents=value, capped_cents=capped)
