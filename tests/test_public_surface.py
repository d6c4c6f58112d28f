"""The public door: an embedder needs nothing but ``import cmrewards``.

Every type a public ``Clinic`` method returns or takes — and every record, enum and
schedule inside those, field by field — is ``cmrewards.<its name>``, and so is every type
the door's functions return or take. ``__all__`` names each public thing once, and the
lazy table behind it agrees with the imports mypy reads. A class that moves between
internal modules, or a new record a method starts returning, fails here until the door
lists it.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import io
import json
import pathlib
import re
import tempfile
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

import cmrewards
import cmrewards.errors

DOOR = Path(cmrewards.__file__)


def public_methods() -> dict[str, Callable[..., object]]:
    """Every public method and property of ``Clinic``, by name (properties by their getter)."""
    found = {}
    for name in dir(cmrewards.Clinic):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(cmrewards.Clinic, name)
        function = member.fget if isinstance(member, property) else getattr(cmrewards.Clinic, name)
        if callable(function):
            found[name] = function
    return found


def classes_in(hint: object) -> Iterator[type]:
    """The classes a type hint mentions: ``list[X]``, ``X | None``, ``Callable[[X], Y]`` ..."""
    if isinstance(hint, list):  # the argument list of a Callable
        for item in hint:
            yield from classes_in(item)
        return
    origin = typing.get_origin(hint)
    if origin is None:
        if isinstance(hint, type):
            yield hint
        return
    if isinstance(origin, type):
        yield origin
    for argument in typing.get_args(hint):
        yield from classes_in(argument)


def own(classes: Iterator[type]) -> Iterator[type]:
    return (c for c in classes if c.__module__.split(".")[0] == "cmrewards")


PUBLIC = {name: getattr(cmrewards, name) for name in cmrewards.__all__}
"""Every name the door exports."""


def reachable(roots: dict[str, Callable[..., object]], *, returns: bool) -> dict[type, str]:
    """Each project class reachable from the roots' return (or parameter) hints, then from the
    attrs fields of the records found, with the path that reached it first."""
    found: dict[type, str] = {}
    pending: list[tuple[type, str]] = []
    for name, function in sorted(roots.items()):
        # Against the door: ``Clinic`` imports the types only its hints name on first use
        # (app/lazy.py), and each of them must be public anyway; ``pathlib.Path`` too, the
        # one it names from the standard library (not on a ``balance``'s path: issue 16).
        hints = typing.get_type_hints(function, localns={**PUBLIC, "Path": pathlib.Path})
        chosen = (
            [hints.get("return")] if returns else [h for k, h in hints.items() if k != "return"]
        )
        pending += [(c, f"{name}()") for hint in chosen for c in own(classes_in(hint))]
    while pending:
        cls, path = pending.pop(0)
        if cls in found:
            continue
        found[cls] = path
        if attrs.has(cls):
            hints = typing.get_type_hints(cls)
            for field in attrs.fields(cls):
                pending += [(c, f"{path}.{field.name}") for c in own(classes_in(hints[field.name]))]
    return found


def door_functions() -> dict[str, Callable[..., object]]:
    """The functions the door lists (``open``, ``simulate``, ``read_rows`` ...)."""
    return {
        name: value
        for name in cmrewards.__all__
        if inspect.isfunction(value := getattr(cmrewards, name))
    }


RETURNED = reachable(public_methods(), returns=True)
TAKEN = reachable(public_methods(), returns=False)
FROM_FUNCTIONS = {
    **reachable(door_functions(), returns=True),
    **reachable(door_functions(), returns=False),
}


def by_name(found: dict[type, str]) -> list[type]:
    return sorted(found, key=lambda cls: cls.__name__)


def name_of(cls: type) -> str:
    return cls.__name__


def on_the_door(cls: type) -> bool:
    return getattr(cmrewards, cls.__name__, None) is cls and cls.__name__ in cmrewards.__all__


@pytest.mark.parametrize("cls", by_name(RETURNED), ids=name_of)
def test_every_type_a_clinic_method_returns_is_on_the_door(cls: type) -> None:
    assert on_the_door(cls), (
        f"{cls.__module__}.{cls.__name__} (reached by Clinic.{RETURNED[cls]})"
        " is not importable from cmrewards: add it to _HOMES and __all__"
    )


@pytest.mark.parametrize("cls", by_name(TAKEN), ids=name_of)
def test_every_type_a_clinic_method_takes_is_on_the_door(cls: type) -> None:
    assert on_the_door(cls), f"{cls.__module__}.{cls.__name__} (Clinic.{TAKEN[cls]})"


@pytest.mark.parametrize("cls", by_name(FROM_FUNCTIONS), ids=name_of)
def test_every_type_the_door_functions_use_is_on_the_door(cls: type) -> None:
    assert on_the_door(cls), f"{cls.__module__}.{cls.__name__} ({FROM_FUNCTIONS[cls]})"


def test_the_walk_reaches_records_inside_records() -> None:
    """A walk that stopped at the first level would pass vacuously for nested records."""
    assert {cmrewards.Statement, cmrewards.StatementLine, cmrewards.ProgramReport} <= set(RETURNED)
    assert {cmrewards.TargetSummary, cmrewards.Transfer, cmrewards.Movement} <= set(RETURNED)
    assert {cmrewards.EscalatingSchedule, cmrewards.StepBy, cmrewards.PrizeWon} <= set(RETURNED)
    assert {cmrewards.ImportRow, cmrewards.BadRow, cmrewards.Role} <= set(TAKEN)
    assert {cmrewards.SimulationReport, cmrewards.MigrationReport} <= set(FROM_FUNCTIONS)
    assert len(public_methods()) > 30


def test_every_name_in_all_resolves() -> None:
    missing = [name for name in cmrewards.__all__ if not hasattr(cmrewards, name)]
    assert not missing


def test_all_names_each_public_thing_once() -> None:
    assert len(cmrewards.__all__) == len(set(cmrewards.__all__))
    # Each class and function under its own name: the door never renames, so a reader
    # who meets the name in a traceback finds the same name in the source.
    for name in cmrewards.__all__:
        value = getattr(cmrewards, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert name == value.__name__


def test_the_lazy_table_and_the_imports_mypy_reads_agree() -> None:
    """``__all__``, the lazy table and the ``TYPE_CHECKING`` imports list the same names
    in the same homes, so neither the type checker nor a running program sees a different door."""
    tree = ast.parse(DOOR.read_text(encoding="utf-8"))
    checked: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                checked |= {a.name: str(statement.module) for a in statement.names}
    assert checked == cmrewards._LAZY
    assert {*cmrewards._LAZY, "open"} == set(cmrewards.__all__)


@pytest.mark.parametrize("package", ["domain", "store", "views", "app", "cli"])
def test_each_subpackage_says_it_is_internal(package: str) -> None:
    module = __import__(f"cmrewards.{package}", fromlist=["_"])
    assert "internal" in (module.__doc__ or "").lower()


def test_statement_and_program_report_are_reachable_as_the_issue_asks() -> None:
    assert cmrewards.Statement.__name__ == "Statement"
    assert cmrewards.ProgramReport.__name__ == "ProgramReport"


# --- one JSON conversion for everything a method returns ---------------------------------------

EXAMPLES = DOOR.parents[2] / "examples"
ADMIN, CLINICIAN = "admin-1", "clin-01"


def a_day_of_everything() -> list[object]:
    """What every public ``Clinic`` method and door function returns, from one memory clinic
    that uses them all: a points program and a prize program, corrections, settlements and
    write-offs, redemptions and prizes, lab files, reports, the export and verify."""
    from support.clinics import START, FakeClock, visit

    clock = FakeClock()
    clinic = cmrewards.open(clock=clock, seeds=iter(range(1, 10**6)).__next__)
    out: list[object] = [clinic.init(ADMIN), clinic.add_staff(CLINICIAN, "clinician", actor=ADMIN)]
    out += [clinic.add_staff("gone-1", "recorder", actor=ADMIN)]
    out += [clinic.deactivate_staff("gone-1", actor=ADMIN), clinic.staff()]
    out += [clinic.set_passphrase(ADMIN, "a passphrase", actor=ADMIN)]
    out += [clinic.set_sign_in_policy(cmrewards.SignInPolicy(required=True), actor=ADMIN)]
    signed = clinic.sign_in(ADMIN, "a passphrase", os_user="desk", location=":memory:")
    out += [signed, clinic.session(signed.token, os_user="desk", location=":memory:")]
    out += [clinic.confirm(ADMIN, "a passphrase", os_user="desk"), clinic.sign_in_policy()]
    out += [clinic.sign_out(signed.token, os_user="desk"), clinic.sign_ins()]
    points = cmrewards.program_from_dict(
        {
            "id": "stim",
            "name": "Vouchers",
            "point_value_cents": 25,
            "cap_cents": 100_000,
            "targets": [
                {
                    "id": "stimulant-negative",
                    "analytes": ["cocaine", "amphetamine"],
                    "schedule": {
                        "kind": "escalating",
                        "award": "points",
                        "start": 10,
                        "step": 5,
                        "recovery_after": 2,
                    },
                },
                {"id": "attendance", "schedule": {"kind": "fixed", "award": "points", "amount": 5}},
            ],
        },
        "stim.toml",
    )
    out += [clinic.add_program(points, actor=ADMIN)]
    out += [clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)]
    # A phased program: its targets hold the calendar's Phase records.
    out += [clinic.add_program(cmrewards.load_preset("ca-recovery-incentives"), actor=ADMIN)]
    out += [clinic.programs(), clinic.program("stim")]
    out += [clinic.enroll("P-1", "stim", start=START, actor=ADMIN)]
    out += [clinic.enroll("P-2", "petry-fishbowl", start=START, actor=ADMIN)]
    out += [clinic.enroll("P-3", "stim", start=START, actor=ADMIN)]
    with clock.at(visit(0)):  # withdrawn on their first day, before the next episode
        out += [clinic.withdraw("P-3", actor=ADMIN)]
    out += [clinic.participant("P-1"), clinic.participants()]
    # P-3 comes back: their second episode.
    out += [clinic.enroll("P-3", "stim", start=START + dt.timedelta(days=1), actor=ADMIN)]
    out += [clinic.episodes("P-3")]
    first = clinic.record("P-1", "stimulant-negative", "met", at=visit(0), actor=CLINICIAN)
    out += [
        first,
        clinic.record_visit(
            "P-1", {"stimulant-negative": "met", "attendance": "met"}, at=visit(2), actor=CLINICIAN
        ),
    ]
    out += [clinic.record("P-1", "stimulant-negative", "not_met", at=visit(4), actor=CLINICIAN)]
    for day in range(0, 21, 3):
        out += [clinic.record("P-2", "stimulant-negative", "met", at=visit(day), actor=CLINICIAN)]
    out += [clinic.add_item("GC5", name="Gift card", cost=30, stock=5, actor=ADMIN)]
    out += [
        clinic.add_item("CAB-S", name="Bus pass", cost=0, stock=50, category="small", actor=ADMIN)
    ]
    out += [clinic.restock("GC5", 2, actor=ADMIN), clinic.items()]
    cancelled = clinic.request_redemption("P-1", "GC5", actor=CLINICIAN)
    out += [clinic.cancel_redemption(cancelled.redemption.id, reason="changed mind", actor=ADMIN)]
    held = clinic.request_redemption("P-1", "GC5", actor=CLINICIAN)
    out += [held, clinic.approve_redemption(held.redemption.id, actor=CLINICIAN)]
    out += [clinic.fulfil_redemption(held.redemption.id, actor=ADMIN, cost_cents=500)]
    # Everything is spent: taking the first award back writes it off.
    out += [clinic.correct(first.outcome_id, "not_met", reason="GC/MS positive", actor=ADMIN)]
    adjusted = clinic.adjust("P-1", 40, reason="lab delay", actor=ADMIN)
    out += [adjusted, clinic.reverse(adjusted.transfer.id, reason="typo", actor=ADMIN)]
    late = clinic.record("P-1", "attendance", "met", at=visit(5), actor=CLINICIAN)
    out += [late, clinic.void(late.outcome_id, reason="wrong chart", actor=ADMIN)]
    prizes = clinic.prizes("P-2")
    small = [p for p in prizes if p.category == "small"]
    out += [prizes, clinic.fulfil_prize(small[0].id, sku="CAB-S", actor=CLINICIAN)]
    if len(small) >= 6:
        out += [clinic.trade_prizes("P-2", give="small", get="large", actor=CLINICIAN)]
    clock.advance(days=40)
    clinic.adjust("P-1", 30, reason="for a hold that expires", actor=ADMIN)
    clinic.request_redemption("P-1", "GC5", actor=CLINICIAN)
    clock.advance(days=40)
    out += [clinic.expire(actor=ADMIN), clinic.redemptions(), clinic.redemptions("P-1")]
    rows = "participant,target,outcome,at,key,note\n"
    rows += f"P-1,attendance,met,{visit(7).isoformat()},row-1,\nP-1,attendance\n"
    read = list(cmrewards.read_rows(io.StringIO(rows), "rows.csv"))
    out += [read, clinic.import_outcomes(read, actor=ADMIN)]
    lab = cmrewards.load_lab_map(EXAMPLES / "ctn0094-map.toml")
    clinic.enroll("CTN-00010", "stim", start=START.replace(year=2026), actor=ADMIN)
    with (EXAMPLES / "ctn0094-sample.csv").open(encoding="utf-8", newline="") as file:
        lab_rows = list(cmrewards.read_lab_file(file, lab, "ctn0094-sample.csv"))
    out += [lab, lab_rows, clinic.import_lab_results(lab_rows, actor=ADMIN)]
    # A lab export through an ids map: a patient it does not list is not in CM, and a
    # specimen with an unknown result word is refused (the rest goes on).
    mapped = attrs.evolve(lab, identity=cmrewards.Identity(ids={"MRN-10": "CTN-00010"}))
    nightly = "Specimen ID,Patient ID,Collected,Analyte,Result\n"
    nightly += "N1,MRN-99,02/02/2026 10:00,Cocaine,NEG\nN2,MRN-10,02/02/2026 10:00,Cocaine,MAYBE\n"
    nightly_rows = list(cmrewards.read_lab_file(io.StringIO(nightly), mapped, "nightly.csv"))
    out += [nightly_rows, clinic.import_lab_results(nightly_rows, actor=ADMIN)]
    fhir = EXAMPLES.parent / "tests" / "fixtures" / "fhir"
    ehr = cmrewards.load_lab_map(fhir / "ehr-map.toml")
    with (fhir / "results.ndjson").open(encoding="utf-8") as file:
        out += [list(cmrewards.read_fhir_messages(file, ehr, "results.ndjson"))]

    # A lab's HL7 v2 messages, read (tests/fixtures/hl7).
    hl7_files = DOOR.parents[2] / "tests" / "fixtures" / "hl7"
    hl7_map = cmrewards.load_lab_map(hl7_files / "lab.toml")
    with (hl7_files / "dilute.hl7").open(encoding="utf-8", newline="") as file:
        out += [list(cmrewards.read_hl7_messages(file, hl7_map, "dilute.hl7"))]
    early = cmrewards.LabReport(
        "CTN-00010", "LAB-9", dt.datetime(2026, 1, 20, 10, tzinfo=dt.UTC),
        (cmrewards.ReportedAnalyte(
            "cocaine", cmrewards.LabResult.NEGATIVE, cmrewards.ResultStatus.PRELIMINARY
        ),),
    )  # fmt: skip
    message = cmrewards.LabMessage((early,), "line 1", control_id="MSG-1")
    out += [clinic.apply_lab_message(message, actor=ADMIN)]
    out += [clinic.import_lab_messages([message], actor=ADMIN)]
    # The calendar: an excused absence, then closing the first two weeks for everyone.
    clinic.enroll("P-4", "ca-recovery-incentives", start=START, actor=ADMIN)
    one_day = dt.timedelta(days=1)
    out += [clinic.excuse("P-4", START + one_day, reason="in hospital", actor=ADMIN)]
    out += [clinic.close_calendar(START + 13 * one_day, actor=ADMIN)]
    # Past the cap only by an admin's grant, which the statement and the report list.
    out += [clinic.adjust("P-1", 4000, reason="make-up, approved", actor=ADMIN, over_cap=True)]
    out += [clinic.analyte_results("CTN-00010"), clinic.preview("P-1"), clinic.balance("P-1")]
    out += [clinic.history("P-1"), clinic.statement("P-1"), clinic.statement("P-2")]
    out += [clinic.report(), clinic.report("stim", since=START, until=START.replace(month=6))]
    with tempfile.TemporaryDirectory() as directory:
        out += [clinic.export(Path(directory) / "export")]
    checkpoint = clinic.checkpoint()
    other = cmrewards.open(clock=clock)
    other.init(ADMIN)
    foreign = other.checkpoint()
    verified, refused = clinic.verify(against=checkpoint), clinic.verify(against=foreign)
    out += [checkpoint, verified, refused, clinic.verify()]
    out += [cmrewards.simulate(points, participants=20, p_met=0.6, seed=1)]
    # A backup and its restore need a file: a small clinic of its own.
    with tempfile.TemporaryDirectory() as directory:
        with cmrewards.open(Path(directory) / "clinic.db", clock=clock) as filed:
            filed.init(ADMIN)
            out += [filed.backup(Path(directory) / "backup.db")]
        out += [cmrewards.restore(Path(directory) / "backup.db", Path(directory) / "drill.db")]
    # Hand-made, as a sound clinic makes neither: a copy to a server, and a problem about
    # one record (as verify finds in a tampered database, tests/store/test_tamper.py).
    damage = cmrewards.Problem(
        cmrewards.Check.TRANSFER_CHAIN,
        cmrewards.Ref(cmrewards.RefKind.TRANSFER, 7),
        "transfer 7: hash does not match its contents",
    )
    out += [attrs.evolve(refused, problems=(*refused.problems, damage))]
    out += [
        cmrewards.MigrationReport(
            "clinic.db", "postgresql://cm@db/cm", {"outcomes": 3}, verified, refused
        )
    ]
    # What the MLLP listener logs of an answer (read back from the ACK it sent).
    ack = cmrewards.hl7_ack("", "AE", "no MSH segment", now=visit(0))
    out += [cmrewards.read_acknowledgement(ack, visit(0))]
    out += [cmrewards.maximum_earnings(points)]
    out += [cmrewards.capped_maximum(points, cmrewards.maximum_earnings(points))]
    return out


def instances(value: object) -> Iterator[object]:
    """``value`` and every record inside it, depth first."""
    if attrs.has(kind := type(value)):
        yield value
        for field in attrs.fields(kind):
            yield from instances(getattr(value, field.name))
    elif isinstance(value, list | tuple | frozenset):
        for item in value:
            yield from instances(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from instances(item)


@pytest.fixture(scope="module")
def everything() -> dict[type, list[object]]:
    found: dict[type, list[object]] = {}
    for value in a_day_of_everything():
        for record in instances(value):
            found.setdefault(type(record), []).append(record)
    return found


RECORDS = sorted(
    (cls for cls in {*RETURNED, *FROM_FUNCTIONS} if attrs.has(cls)), key=lambda c: c.__name__
)


def test_the_day_returns_every_record_the_door_knows(everything: dict[type, list[object]]) -> None:
    """The round trip below is over instances the library made, of every record type."""
    missing = sorted(cls.__name__ for cls in RECORDS if cls not in everything)
    assert not missing
    assert len(everything[cmrewards.WriteOff]) >= 1
    assert len(everything[cmrewards.Problem]) >= 2  # the foreign checkpoint's, and one by hand


@pytest.mark.parametrize("cls", RECORDS, ids=name_of)
def test_every_record_round_trips_through_json(
    cls: type, everything: dict[type, list[object]]
) -> None:
    for record in everything[cls]:
        text = json.dumps(cmrewards.to_json(record))  # plain JSON: the standard encoder takes it
        assert cmrewards.from_json(cls, json.loads(text)) == record


def test_to_json_takes_lists_and_writes_times_and_money_as_promised(
    everything: dict[type, list[object]],
) -> None:
    entry = everything[cmrewards.HistoryEntry][0]
    assert isinstance(entry, cmrewards.HistoryEntry)
    data = cmrewards.to_json([entry])
    assert isinstance(data, list)
    assert data[0]["occurred_at"].endswith("Z")
    assert cmrewards.parse_when(data[0]["occurred_at"], "UTC") == entry.occurred_at
    balance = cmrewards.to_json(everything[cmrewards.Balance][0])
    assert isinstance(balance["value_cents"], int)
    assert isinstance(cmrewards.to_json(everything[cmrewards.Participant][0])["status"], str)


@pytest.mark.parametrize("value", [object(), Path("x"), {1: "a"}, b"bytes", 1j], ids=repr)
def test_to_json_refuses_what_it_cannot_write(value: object) -> None:
    with pytest.raises(cmrewards.CMRewardsError) as info:
        cmrewards.to_json({"value": value})
    assert "\n" not in str(info.value)


def test_from_json_refuses_what_is_not_the_form_of_the_record() -> None:
    with pytest.raises(cmrewards.InvalidInput, match="not the JSON form of a Balance"):
        cmrewards.from_json(cmrewards.Balance, {"points": 3})


# --- every public method and door export says what it takes, gives and raises ---------------

ERRORS = set(cmrewards.errors.__all__)
NAMED = re.compile(r"``([A-Z][A-Za-z]+)``")


def raises_part(doc: str) -> str:
    """The docstring from its first "Raises" on: where the errors are listed."""
    found = re.search(r"\bRaises\b", doc)
    return doc[found.start() :] if found else ""


@pytest.mark.parametrize("name", sorted(public_methods()))
def test_every_clinic_method_says_what_it_raises(name: str) -> None:
    function = public_methods()[name]
    doc = " ".join((inspect.getdoc(function) or "").split())
    part = raises_part(doc)
    assert part, f"Clinic.{name}'s docstring says nothing of what it raises"
    named = set(NAMED.findall(part))
    assert named <= ERRORS, f"Clinic.{name} raises what cmrewards.errors lacks: {named - ERRORS}"
    if not part.startswith("Raises nothing"):
        assert named, f"Clinic.{name}: 'Raises' names no error"
    parameters = inspect.signature(function).parameters
    if "actor" in parameters:
        assert "PermissionDenied" in named, f"Clinic.{name} takes an actor"
    if "key" in parameters:
        assert "IdempotencyConflict" in named, f"Clinic.{name} takes a key"
    if "participant" in parameters and parameters["participant"].default is inspect.Parameter.empty:
        assert "NotFound" in named, f"Clinic.{name} looks a participant up"
    if "at" in parameters:
        assert "now by the clinic's clock" in doc, f"Clinic.{name}: what does at=None mean?"


def test_the_class_docstring_lists_what_every_method_may_raise() -> None:
    doc = inspect.getdoc(cmrewards.Clinic) or ""
    for error in ("InvalidInput", "UsageError", "Busy", "IntegrityError", "PermissionDenied"):
        assert f"``{error}``" in doc
    assert "IdempotencyConflict" in doc
    assert "one ``Clinic`` per request" in doc  # the threads' pattern


@pytest.mark.parametrize("name", sorted(cmrewards.__all__))
def test_every_door_export_has_its_own_docstring(name: str) -> None:
    value = getattr(cmrewards, name)
    if not (inspect.isclass(value) or inspect.isfunction(value)):
        return  # ANALYTES, POSTGRES_SCHEMES: data, documented where defined
    own = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
    assert own, f"cmrewards.{name} has no docstring of its own"
    assert own.strip()
    if inspect.isfunction(value):
        part = raises_part(own)
        assert part, f"cmrewards.{name}'s docstring says nothing of what it raises"
        assert set(NAMED.findall(part)) <= ERRORS
