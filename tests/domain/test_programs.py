"""Program files and presets: loading, defaults, validation, round trips, maximum earnings.

docs/design.md section 3.4: program files are TOML, presets are the same files shipped as package
data, every key not shown has a default, and an unknown key or a bad value is an error naming
the key and the file.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import attrs
import pytest

from cmrewards.domain.programs import (
    BowlCategory,
    CapPeriod,
    Program,
    Target,
    expected_draw_cents,
    load_preset,
    load_program_file,
    maximum_earnings,
    preset_names,
    program_from_dict,
    program_from_toml,
)
from cmrewards.domain.schedules import (
    DEFAULT_RESET_ON,
    AwardKind,
    EscalatingSchedule,
    FixedSchedule,
    Outcome,
    StepBy,
)
from cmrewards.errors import InvalidInput, NotFound

# The example program file of docs/design.md section 3.4 (the first design contract's, with
# the stimulant schedule's inline table on one line: TOML 1.0 (tomllib) allows no other).
DESIGN_EXAMPLE = """\
id = "stim-2027"
name = "Stimulant CM, escalating gift-card vouchers"
point_value_cents = 25          # one point is worth $0.25
timezone = "America/Los_Angeles" # the clinic's zone: date-only inputs and calendar-year caps
cap_cents = 59900               # optional
cap_period = "calendar-year"    # or "enrollment-year"
budget_cents = 5000000          # optional, reported only
require_approval = true
separate_duties = false
hold_days = 30
weeks = 12                      # length of the incentive phase

[[targets]]
id = "stimulant-negative"
per_week = 2                    # scheduled opportunities a week (simulation, maximum earnings)
reset_on = ["not_met", "missed", "invalid"]
schedule = { kind = "escalating", award = "points", start = 40, step = 6, max = 106, bonus = 0, bonus_every = 0, recovery_after = 2 }

[[targets]]
id = "attendance"
schedule = { kind = "fixed", award = "draws", amount = 1 }

[[bowl]]                        # only for programs that award draws
category = "good-job"
slips = 250
value_cents = 0
# ... one [[bowl]] table per category: small, large, jumbo
"""  # noqa: E501

CLASSIC_BOWL = (
    BowlCategory(category="good-job", slips=250, value_cents=0),
    BowlCategory(category="small", slips=209, value_cents=100),
    BowlCategory(category="large", slips=40, value_cents=2000),
    BowlCategory(category="jumbo", slips=1, value_cents=10000),
)

SCHEDULE = 'kind = "escalating", award = "points", start = 10, step = 5'


def program_text(
    *, top: str = "", target: str = "", schedule: str = SCHEDULE, after: str = ""
) -> str:
    """A small valid program file with lines added at the top, in the target, or after."""
    return f"""\
id = "stim"
name = "Stimulant CM"
{top}

[[targets]]
id = "stimulant-negative"
{target}
schedule = {{ {schedule} }}

{after}
"""


def invalid(text: str, source: str = "stim.toml") -> str:
    """The message of the one InvalidInput that loading ``text`` raises."""
    with pytest.raises(InvalidInput) as raised:
        program_from_toml(text, source)
    message = str(raised.value)
    assert "\n" not in message
    assert raised.value.__cause__ is None
    return message


# --- the docs/design.md example ---------------------------------------------------


def test_design_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "stim.toml"
    path.write_text(DESIGN_EXAMPLE, encoding="utf-8")

    program = load_program_file(path)

    assert program == Program(
        id="stim-2027",
        name="Stimulant CM, escalating gift-card vouchers",
        description="",
        point_value_cents=25,
        timezone="America/Los_Angeles",
        cap_cents=59900,
        cap_period=CapPeriod.CALENDAR_YEAR,
        budget_cents=5_000_000,
        require_approval=True,
        separate_duties=False,
        hold_days=30,
        weeks=12,
        targets=(
            Target(
                id="stimulant-negative",
                per_week=2,
                reset_on=frozenset({Outcome.NOT_MET, Outcome.MISSED, Outcome.INVALID}),
                requires=(),
                schedule=EscalatingSchedule(
                    award=AwardKind.POINTS,
                    start=40,
                    step=6,
                    step_by=StepBy.OPPORTUNITY,
                    step_every=1,
                    max=106,
                    bonus=0,
                    bonus_every=0,
                    recovery_after=2,
                ),
            ),
            Target(
                id="attendance",
                per_week=2,
                reset_on=DEFAULT_RESET_ON,
                requires=(),
                schedule=FixedSchedule(award=AwardKind.DRAWS, amount=1),
            ),
        ),
        bowl=(BowlCategory(category="good-job", slips=250, value_cents=0),),
    )
    assert program.primary_target.id == "stimulant-negative"
    assert program.target("attendance").schedule == FixedSchedule(AwardKind.DRAWS, 1)


def test_design_example_round_trips_through_to_dict() -> None:
    program = program_from_toml(DESIGN_EXAMPLE, "stim.toml")

    data = program.to_dict()

    assert data["cap_cents"] == 59900
    assert data["budget_cents"] == 5_000_000
    assert data["cap_period"] == "calendar-year"
    assert program_from_dict(data, "stored") == program


def test_design_example_maximum_earnings_and_cap() -> None:
    program = program_from_toml(DESIGN_EXAMPLE, "stim.toml")

    earnings = maximum_earnings(program)

    # stimulant: 24 negatives; positions 1..12 pay 40, 46, ..., 106 = 12 * (40 + 106) / 2
    # = 876; positions 13..24 are capped at 106: 12 * 106 = 1272; 876 + 1272 = 2148
    assert earnings.points == 2148
    # attendance: 2 a week for 12 weeks, 1 draw each, from a bowl worth nothing
    assert earnings.draws == 24
    assert earnings.value_cents == 2148 * 25 == 53_700
    assert earnings.capped_cents == 53_700  # under the $599 cap


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(InvalidInput, match=r"nowhere\.toml") as raised:
        load_program_file(path)

    assert str(raised.value).startswith(f"{path}: ")


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(program_text(top='description = "Caf\xe9"').encode("latin-1"))

    with pytest.raises(InvalidInput) as raised:
        load_program_file(path)

    assert str(raised.value).startswith(f"{path}: ")


def test_errors_from_a_file_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "stim.toml"
    path.write_text(program_text(schedule=f"{SCHEDULE}, strat = 3"), encoding="utf-8")

    with pytest.raises(InvalidInput) as raised:
        load_program_file(path)

    assert str(raised.value) == f"{path}: targets[0].schedule.strat: unknown key"


# --- defaults -------------------------------------------------------------------------


def test_every_default() -> None:
    text = """\
id = "minimal"
name = "Minimal"

[[targets]]
id = "stimulant-negative"
schedule = { kind = "escalating", start = 10 }

[[targets]]
id = "attendance"
schedule = { kind = "fixed", amount = 3 }
"""

    program = program_from_toml(text, "minimal.toml")

    assert program == Program(
        id="minimal",
        name="Minimal",
        description="",
        point_value_cents=1,
        timezone="UTC",
        cap_cents=None,
        cap_period=CapPeriod.CALENDAR_YEAR,
        budget_cents=None,
        require_approval=True,
        separate_duties=False,
        hold_days=30,
        weeks=12,
        bowl=(),
        targets=(
            Target(
                id="stimulant-negative",
                per_week=2,
                reset_on=frozenset({Outcome.NOT_MET, Outcome.MISSED, Outcome.INVALID}),
                requires=(),
                schedule=EscalatingSchedule(
                    award=AwardKind.POINTS,
                    start=10,
                    step=0,
                    step_by=StepBy.OPPORTUNITY,
                    step_every=1,
                    max=None,
                    bonus=0,
                    bonus_every=0,
                    recovery_after=0,
                ),
            ),
            Target(
                id="attendance",
                per_week=2,
                reset_on=frozenset({Outcome.NOT_MET, Outcome.MISSED, Outcome.INVALID}),
                requires=(),
                schedule=FixedSchedule(award=AwardKind.POINTS, amount=3),
            ),
        ),
    )


def test_an_empty_reset_on_is_kept_empty() -> None:
    program = program_from_toml(program_text(target="reset_on = []"), "stim.toml")

    assert program.primary_target.reset_on == frozenset()
    assert program_from_dict(program.to_dict(), "stored") == program


def test_a_custom_reset_on() -> None:
    program = program_from_toml(program_text(target='reset_on = ["not_met"]'), "stim.toml")

    assert program.primary_target.reset_on == frozenset({Outcome.NOT_MET})


def test_enrollment_year_cap_period() -> None:
    text = program_text(top='cap_cents = 75000\ncap_period = "enrollment-year"')

    program = program_from_toml(text, "stim.toml")

    assert (program.cap_cents, program.cap_period) == (75000, CapPeriod.ENROLLMENT_YEAR)


def test_program_from_dict_does_not_change_its_input() -> None:
    data = load_preset("petry-fishbowl").to_dict()
    before = copy.deepcopy(data)

    program_from_dict(data, "stored")

    assert data == before


# --- unknown keys ---------------------------------------------------------------------


def test_an_unknown_top_level_key() -> None:
    message = invalid(program_text(top="point_value = 25"))

    assert message == "stim.toml: point_value: unknown key"


def test_an_unknown_key_in_a_target() -> None:
    message = invalid(program_text(target="per_weak = 3"))

    assert message == "stim.toml: targets[0].per_weak: unknown key"


def test_an_unknown_key_in_a_schedule() -> None:
    message = invalid(program_text(schedule=f"{SCHEDULE}, strat = 3"))

    assert message == "stim.toml: targets[0].schedule.strat: unknown key"


def test_an_unknown_key_in_the_second_target() -> None:
    second = '[[targets]]\nid = "attendance"\nschedule = { kind = "fixed", amount = 1, max = 2 }'

    message = invalid(program_text(after=second))

    assert message == "stim.toml: targets[1].schedule.max: unknown key"


def test_an_unknown_key_in_a_bowl_category() -> None:
    bowl = '[[bowl]]\ncategory = "good-job"\nslips = 1\nvalue_cents = 0\ncolour = "red"'

    message = invalid(program_text(after=bowl))

    assert message == "stim.toml: bowl[0].colour: unknown key"


def test_escalating_keys_in_a_fixed_schedule_are_unknown() -> None:
    message = invalid(program_text(schedule='kind = "fixed", amount = 1, start = 10'))

    assert message == "stim.toml: targets[0].schedule.start: unknown key"


# --- bad values -------------------------------------------------------------------------

DRAW_SCHEDULE = 'kind = "escalating", award = "draws", start = 1'
ONE_SLIP = '[[bowl]]\ncategory = "good-job"\nslips = 1\nvalue_cents = 0'
SECOND_TARGET = '[[targets]]\nid = "secondary-negative"\nschedule = { kind = "fixed", amount = 2 }'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # top level
        pytest.param(program_text(top="point_value_cents = -25"), "point_value_cents", id="neg"),
        pytest.param(program_text(top='point_value_cents = "25"'), "point_value_cents", id="str"),
        pytest.param(program_text(top="point_value_cents = 2.5"), "point_value_cents", id="float"),
        pytest.param(program_text(top="weeks = true"), "weeks", id="bool-where-int"),
        pytest.param(program_text(top="weeks = 0"), "weeks", id="zero-weeks"),
        pytest.param(program_text(top="hold_days = 0"), "hold_days", id="zero-hold-days"),
        pytest.param(program_text(top="cap_cents = 0"), "cap_cents", id="zero-cap"),
        pytest.param(program_text(top="budget_cents = -1"), "budget_cents", id="neg-budget"),
        pytest.param(program_text(top="require_approval = 1"), "require_approval", id="int-flag"),
        pytest.param(program_text(top='separate_duties = "no"'), "separate_duties", id="str-flag"),
        pytest.param(program_text(top='cap_period = "fiscal-year"'), "cap_period", id="enum"),
        pytest.param(program_text(top='timezone = "Mars/Olympus_Mons"'), "timezone", id="tz"),
        pytest.param(program_text(top="timezone = 8"), "timezone", id="tz-int"),
        pytest.param(program_text(top='description = ["a"]'), "description", id="desc"),
        pytest.param(program_text().replace('"stim"', '"Stim 2027"'), "id", id="id-not-slug"),
        pytest.param(program_text().replace('id = "stim"\n', ""), "id", id="id-missing"),
        pytest.param(program_text().replace('"Stimulant CM"', '""'), "name", id="name-empty"),
        # target
        pytest.param(program_text(target="per_week = 0"), "targets[0].per_week", id="per-week"),
        pytest.param(
            program_text(target='reset_on = ["positive"]'), "targets[0].reset_on", id="reset-on"
        ),
        pytest.param(
            program_text(target='reset_on = ["met"]'), "targets[0].reset_on", id="reset-on-met"
        ),
        pytest.param(
            program_text(target='reset_on = "missed"'), "targets[0].reset_on", id="reset-on-str"
        ),
        pytest.param(
            program_text(target='requires = "x"'), "targets[0].requires", id="requires-str"
        ),
        pytest.param(
            program_text().replace('id = "stimulant-negative"', 'id = "Stimulant Negative"'),
            "targets[0].id",
            id="target-id",
        ),
        pytest.param(
            program_text().replace('id = "stimulant-negative"\n', ""),
            "targets[0].id",
            id="target-id-missing",
        ),
        # schedule
        pytest.param(
            program_text(schedule='kind = "linear", start = 1'),
            "targets[0].schedule.kind",
            id="kind",
        ),
        pytest.param(
            program_text(schedule='kind = "escalating", award = "cash", start = 1'),
            "targets[0].schedule.award",
            id="award",
        ),
        pytest.param(
            program_text(schedule=f'{SCHEDULE}, step_by = "month"'),
            "targets[0].schedule.step_by",
            id="step-by",
        ),
        pytest.param(
            program_text(schedule='kind = "escalating", start = 0'),
            "targets[0].schedule.start",
            id="start-zero",
        ),
        pytest.param(
            program_text(schedule='kind = "escalating"'),
            "targets[0].schedule.start",
            id="start-missing",
        ),
        pytest.param(
            program_text(schedule='kind = "escalating", start = true'),
            "targets[0].schedule.start",
            id="start-bool",
        ),
        pytest.param(
            program_text(schedule='kind = "escalating", start = 10, step = -5'),
            "targets[0].schedule.step",
            id="step-neg",
        ),
        pytest.param(
            program_text(schedule=f"{SCHEDULE}, step_every = 0"),
            "targets[0].schedule.step_every",
            id="step-every",
        ),
        pytest.param(
            program_text(schedule=f"{SCHEDULE}, max = 5"),
            "targets[0].schedule.max",
            id="max-below-start",
        ),
        pytest.param(
            program_text(schedule=f"{SCHEDULE}, bonus = 40"),
            "targets[0].schedule.bonus_every",
            id="bonus-without-every",
        ),
        pytest.param(
            program_text(schedule=f"{SCHEDULE}, recovery_after = -1"),
            "targets[0].schedule.recovery_after",
            id="recovery-neg",
        ),
        pytest.param(
            program_text(schedule='kind = "fixed"'),
            "targets[0].schedule.amount",
            id="amount-missing",
        ),
        pytest.param(
            program_text(schedule='kind = "fixed", amount = 0'),
            "targets[0].schedule.amount",
            id="amount-zero",
        ),
        pytest.param(
            program_text(schedule='award = "points", start = 1'),
            "targets[0].schedule.kind",
            id="kind-missing",
        ),
        pytest.param(
            program_text().replace(f"schedule = {{ {SCHEDULE} }}", ""),
            "targets[0].schedule",
            id="schedule-missing",
        ),
        # across tables
        pytest.param(
            program_text(after=SECOND_TARGET.replace("secondary-negative", "stimulant-negative")),
            "targets",
            id="duplicate-target",
        ),
        pytest.param(
            program_text(target='requires = ["secondary-negative"]', after=SECOND_TARGET),
            "targets[0].requires",
            id="requires-later",
        ),
        pytest.param(
            program_text(
                after=SECOND_TARGET.replace("\nschedule", '\nrequires = ["opioid"]\nschedule')
            ),
            "targets[1].requires",
            id="requires-unknown",
        ),
        pytest.param(
            program_text(target='requires = ["stimulant-negative"]'),
            "targets[0].requires",
            id="requires-itself",
        ),
        pytest.param(program_text(schedule=DRAW_SCHEDULE), "bowl", id="draws-without-bowl"),
        pytest.param(
            program_text(schedule=DRAW_SCHEDULE, after=ONE_SLIP.replace("slips = 1", "slips = 0")),
            "bowl",
            id="bowl-without-slips",
        ),
        pytest.param(
            program_text(after=ONE_SLIP.replace("slips = 1", "slips = -1")),
            "bowl[0].slips",
            id="bowl-neg-slips",
        ),
        pytest.param(
            program_text(after=f"{ONE_SLIP}\n{ONE_SLIP}"), "bowl", id="bowl-duplicate-category"
        ),
        pytest.param(program_text(top='bowl = "classic"'), "bowl", id="bowl-not-tables"),
        pytest.param('id = "stim"\nname = "Stimulant CM"\n', "targets", id="no-targets"),
        pytest.param(
            'id = "stim"\nname = "Stimulant CM"\ntargets = []\n', "targets", id="empty-targets"
        ),
        pytest.param(
            'id = "stim"\nname = "Stimulant CM"\ntargets = 3\n', "targets", id="targets-int"
        ),
        pytest.param(
            'id = "stim"\nname = "Stimulant CM"\ntargets = [3]\n', "targets[0]", id="target-int"
        ),
    ],
)
def test_a_bad_value_is_one_invalid_input_naming_the_file_and_the_key(text: str, key: str) -> None:
    message = invalid(text)

    assert message.startswith(f"stim.toml: {key}: "), message


def test_bad_value_messages_say_what_is_wrong() -> None:
    assert invalid(program_text(top="weeks = true")) == (
        "stim.toml: weeks: must be a whole number, not True"
    )
    assert invalid(program_text(top="point_value_cents = -25")) == (
        "stim.toml: point_value_cents: must be at least 0, not -25"
    )
    assert invalid(program_text(top='timezone = "Mars/Olympus_Mons"')) == (
        "stim.toml: timezone: unknown time zone 'Mars/Olympus_Mons'"
    )
    assert invalid(program_text(top='timezone = "europe/london"')) == (
        "stim.toml: timezone: unknown time zone 'europe/london'; did you mean Europe/London?"
    )
    assert invalid(program_text(schedule=f"{SCHEDULE}, max = 5")) == (
        "stim.toml: targets[0].schedule.max: must be at least start (10)"
    )
    assert invalid(program_text(schedule=f'{SCHEDULE}, step_by = "month"')) == (
        "stim.toml: targets[0].schedule.step_by: 'month' is not one of 'opportunity', 'week'"
    )


def test_invalid_toml_names_the_file() -> None:
    message = invalid('id = "stim"\nname = \n')

    assert message.startswith("stim.toml: not valid TOML: ")


def test_a_program_that_is_not_a_table() -> None:
    with pytest.raises(InvalidInput) as raised:
        program_from_dict(["not", "a", "table"], "stored")

    assert str(raised.value) == "stored: file: must be a table"


@pytest.mark.parametrize(
    "reset_on",
    ['[{ outcome = "missed" }]', '[["missed"]]'],
    ids=["table", "list"],
)
def test_a_reset_on_entry_that_is_not_a_string(reset_on: str) -> None:
    # docs/design.md 3.4: a bad value is an error naming the key and the file. An unhashable entry
    # must be reported like any other bad outcome, not crash with a TypeError.
    message = invalid(program_text(target=f"reset_on = {reset_on}"))

    assert message.startswith("stim.toml: targets[0].reset_on: "), message


def test_requires_an_earlier_target_loads() -> None:
    text = program_text(
        after=SECOND_TARGET.replace("\nschedule", '\nrequires = ["stimulant-negative"]\nschedule')
    )

    program = program_from_toml(text, "stim.toml")

    assert program.target("secondary-negative").requires == ("stimulant-negative",)


def test_an_unknown_target_is_not_found() -> None:
    program = program_from_toml(program_text(), "stim.toml")

    with pytest.raises(NotFound, match="attendance"):
        program.target("attendance")


# --- presets ------------------------------------------------------------------------------


def test_preset_names() -> None:
    assert preset_names() == [
        "ca-recovery-incentives",
        "higgins-vbrt",
        "petry-fishbowl",
        "va-prize-cm",
    ]


def test_an_unknown_preset_is_not_found() -> None:
    with pytest.raises(NotFound, match="no preset 'stim'"):
        load_preset("stim")


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads_under_its_own_id(name: str) -> None:
    assert load_preset(name).id == name


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips_through_to_dict(name: str) -> None:
    program = load_preset(name)

    assert program_from_dict(program.to_dict(), f"stored {name}") == program


@pytest.mark.parametrize(
    ("name", "citations"),
    [
        (
            "higgins-vbrt",
            ["Budney & Higgins", "NIDA Therapy Manual 2 (1998)", "Higgins et al. 1994"],
        ),
        ("petry-fishbowl", ["Petry et al. 2000, 2005", "CTN-0006/0007"]),
        ("va-prize-cm", ["DePhilippis et al. 2018"]),
        (
            "ca-recovery-incentives",
            ["Information Notice 22-056", "Preventive Medicine 176 (2023) 107703", "KFF Health"],
        ),
    ],
)
def test_every_preset_description_cites_its_source(name: str, citations: list[str]) -> None:
    description = load_preset(name).description

    assert "Source" in description
    for citation in citations:
        assert citation in description


def test_higgins_preset_rules() -> None:
    program = load_preset("higgins-vbrt")

    assert (program.point_value_cents, program.weeks, program.require_approval) == (25, 12, True)
    assert program.bowl == ()
    assert [t.id for t in program.targets] == ["stimulant-negative"]
    assert program.primary_target.per_week == 3
    assert program.primary_target.schedule == EscalatingSchedule(
        award=AwardKind.POINTS, start=10, step=5, bonus=40, bonus_every=3, recovery_after=5
    )


def test_petry_preset_rules() -> None:
    program = load_preset("petry-fishbowl")
    stimulant, secondary = program.targets

    assert program.bowl == CLASSIC_BOWL
    assert program.weeks == 12
    assert stimulant.id == "stimulant-negative"
    assert stimulant.per_week == 2
    assert stimulant.reset_on == frozenset({Outcome.NOT_MET, Outcome.MISSED, Outcome.INVALID})
    assert stimulant.schedule == EscalatingSchedule(
        award=AwardKind.DRAWS, start=1, step=1, step_by=StepBy.WEEK, max=12
    )
    assert secondary.requires == ("stimulant-negative",)
    assert secondary.schedule == FixedSchedule(award=AwardKind.DRAWS, amount=2)


def test_va_preset_rules() -> None:
    program = load_preset("va-prize-cm")

    assert program.bowl == CLASSIC_BOWL
    assert program.weeks == 12
    assert [t.id for t in program.targets] == ["stimulant-negative"]
    assert program.primary_target.per_week == 2
    assert program.primary_target.schedule == EscalatingSchedule(
        award=AwardKind.DRAWS, start=1, step=1, step_by=StepBy.WEEK, max=8
    )


# --- maximum earnings ----------------------------------------------------------------------


def test_the_classic_bowl_is_worth_2_22_a_draw() -> None:
    # (250 * 0 + 209 * 100 + 40 * 2000 + 1 * 10000) / 500 = 110900 / 500 = 221.8 cents
    assert expected_draw_cents(load_preset("va-prize-cm")) == Fraction(2218, 10)
    assert expected_draw_cents(load_preset("higgins-vbrt")) == 0


def test_maximum_earnings_higgins() -> None:
    earnings = maximum_earnings(load_preset("higgins-vbrt"))

    # 36 negatives: 10 + 15 + ... + 185 = 3510, plus 12 bonuses of 40 = 480
    assert (earnings.points, earnings.draws) == (3510 + 480, 0)
    assert earnings.points == 3990
    assert earnings.value_cents == 3990 * 25 == 99_750
    assert earnings.capped_cents == 99_750


def test_maximum_earnings_petry_fishbowl() -> None:
    earnings = maximum_earnings(load_preset("petry-fishbowl"))

    # stimulant: 2 samples a week, week w pays min(w, 12) draws each:
    #   2 * (1 + 2 + ... + 12) = 2 * 78 = 156
    # secondary: 2 draws for each of the 24 negatives = 48
    stimulant = 2 * sum(min(week, 12) for week in range(1, 13))
    assert stimulant == 156
    assert (earnings.points, earnings.draws) == (0, 156 + 48)
    assert earnings.draws == 204
    # 204 draws * 221.8 cents = 45247.2 -> 45247
    assert earnings.value_cents == 45_247
    assert earnings.capped_cents == 45_247


def test_maximum_earnings_va_prize_cm() -> None:
    earnings = maximum_earnings(load_preset("va-prize-cm"))

    # 2 samples a week: weeks 1..8 pay 1..8 draws, weeks 9..12 stay at 8:
    #   2 * (1 + ... + 8) + 2 * 4 * 8 = 72 + 64 = 136
    assert 2 * sum(min(week, 8) for week in range(1, 13)) == 136
    assert (earnings.points, earnings.draws) == (0, 136)
    # 136 draws * 221.8 cents = 30164.8 -> 30165
    assert earnings.value_cents == 30_165
    assert earnings.capped_cents == 30_165


def test_maximum_earnings_are_limited_by_the_cap() -> None:
    program = attrs.evolve(load_preset("higgins-vbrt"), cap_cents=59_900)

    earnings = maximum_earnings(program)

    assert earnings.value_cents == 99_750
    assert earnings.capped_cents == 59_900
