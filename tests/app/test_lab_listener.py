"""The lab listener end to end: ORU^R01 messages over MLLP from a real client on loopback,
applied to a SQLite clinic opened on the serving thread, each answered with an ACK.

The issue's list (issue 13, item 4): a burst, a duplicate, a malformed frame, a corrected
result and a sender killed mid-message, and no person's details in any answer. The sample
messages are the HL7 reader's (tests/fixtures/hl7, written from HL7 v2.5.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

import cmrewards
from cmrewards import Acknowledgement, Clinic, MLLPServer
from support.cli import snapshot
from support.mllp import Client, frame, serving
from support.mllp import ctn_oru as oru

ROOT = Path(__file__).resolve().parents[2]
HL7 = ROOT / "tests" / "fixtures" / "hl7"
PROGRAM = ROOT / "examples" / "ctn0094-program.toml"
LAB = cmrewards.load_lab_map(HL7 / "lab.toml")
PEOPLE = ("P-1001", "P-1002", "P-1003")
PHI = ("Quimby", "Harriet", "19810714", "Larkspur", "NS-558812", "987-65-4320", "Thornbury")
"""What the sample messages say about the people: none of it may be answered or logged."""


def messages(name: str) -> list[str]:
    """The messages of a sample file, each as a sender frames it (segments ended by CR);
    a batch file's envelope (FHS, BHS and their trailers) is a file's, not a message's."""
    text = (HL7 / name).read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
    found: list[list[str]] = []
    for segment in text.split("\r"):
        if segment.startswith("MSH|"):
            found.append([])
        if found and segment and segment[:3] not in ("BTS", "FTS"):
            found[-1].append(segment)
    return ["\r".join(message) + "\r" for message in found]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A SQLite clinic with the CTN stimulant program, recorder ``rec-01``, the lab's
    service account ``feed-01`` (lab-feed) and three people enrolled from Monday 2026-03-02."""
    path = tmp_path / "clinic.db"
    with cmrewards.open(str(path), create=True) as clinic:
        clinic.init("admin-1")
        clinic.add_staff("rec-01", "recorder", actor="admin-1")
        clinic.add_staff("feed-01", "lab-feed", actor="admin-1")
        program = clinic.add_program(cmrewards.load_program_file(PROGRAM), actor="admin-1")
        for person in PEOPLE:
            clinic.enroll(person, program.id, start=dt.date(2026, 3, 2), actor="admin-1")
    return path


@pytest.fixture
def told() -> list[Acknowledgement]:
    return []


@pytest.fixture
def listener(db: Path, told: list[Acknowledgement]) -> Iterator[tuple[MLLPServer, tuple[str, int]]]:
    """The listener on a free loopback port, its clinic opened on the serving thread."""
    clinics: list[Clinic] = []

    def make() -> MLLPServer:
        clinic = cmrewards.open(str(db))
        clinics.append(clinic)
        handler = cmrewards.lab_handler(clinic, LAB, actor="feed-01")
        return MLLPServer(handler, port=0, on_answer=told.append)

    with serving(make) as running:
        yield running
    assert len(clinics) == 1


def answered(answer: str) -> tuple[str, str | None, str]:
    ack = cmrewards.read_acknowledgement(answer, dt.datetime.now(dt.UTC))
    assert ack is not None, answer
    return ack.code, ack.control_id, ack.reason


def control_id(message: str) -> str:
    return message.split("\r", 1)[0].split("|")[9]


def outcomes(db: Path, person: str = "P-1001") -> list[str]:
    with cmrewards.open(str(db)) as clinic:
        return [e.detail for e in clinic.history(person) if e.kind == "outcome"]


def corrections(db: Path, person: str = "P-1001") -> list[str]:
    """What was corrected: ``outcome 1 corrected to not_met`` (the reason left out)."""
    with cmrewards.open(str(db)) as clinic:
        return [e.detail.split(":")[0] for e in clinic.history(person) if e.kind == "correct"]


def points(db: Path, person: str = "P-1001") -> int:
    with cmrewards.open(str(db)) as clinic:
        return clinic.balance(person).points


SAMPLES = (
    "nine_panel_final.hl7",
    "preliminary_then_corrected.hl7",
    "entered_in_error.hl7",
    "dilute.hl7",
    "batch.hl7",
)


def test_a_burst_of_lab_messages_is_applied_as_the_file_import_applies_it(
    listener: tuple[MLLPServer, tuple[str, int]], db: Path, tmp_path: Path
) -> None:
    burst = [m for name in SAMPLES for m in messages(name)]
    with Client(listener[1]) as lab:
        answers = [lab.send(message) for message in burst]
    assert [("AA", control_id(m)) for m in burst] == [answered(a)[:2] for a in answers]

    # The same messages read from their files into a fresh clinic give the same record.
    other = tmp_path / "imported.db"
    with cmrewards.open(str(other), create=True) as clinic:
        clinic.init("admin-1")
        clinic.add_staff("feed-01", "lab-feed", actor="admin-1")
        program = clinic.add_program(cmrewards.load_program_file(PROGRAM), actor="admin-1")
        for person in PEOPLE:
            clinic.enroll(person, program.id, start=dt.date(2026, 3, 2), actor="admin-1")
        for name in SAMPLES:
            with (HL7 / name).open(encoding="utf-8", newline="") as file:
                report = clinic.import_lab_messages(
                    cmrewards.read_hl7_messages(file, LAB, name), actor="feed-01"
                )
            assert report.complete, report.error
    for person in PEOPLE:
        assert outcomes(other, person) == outcomes(db, person)
        assert points(other, person) == points(db, person)
    assert outcomes(db, "P-1002") == ["stimulant-negative: not_met"]


def test_a_duplicate_is_acknowledged_AA_and_writes_nothing(
    listener: tuple[MLLPServer, tuple[str, int]], db: Path
) -> None:
    (final,) = messages("nine_panel_final.hl7")
    with Client(listener[1]) as lab:
        first = lab.send(final)
        before = snapshot(db)
        again = lab.send(final)
    assert answered(first)[0] == "AA"
    assert answered(again) == ("AA", control_id(final), "replayed: applied before, nothing written")
    assert snapshot(db) == before
    assert outcomes(db) == ["stimulant-negative: met"]


def test_a_corrected_result_changes_the_record(
    listener: tuple[MLLPServer, tuple[str, int]], db: Path
) -> None:
    with Client(listener[1]) as lab:
        final = lab.send(oru("M-1", "ACC-9"))
        paid = points(db)
        corrected = lab.send(oru("M-2", "ACC-9", cocaine="POS", status="C"))
    assert answered(final)[:2] == ("AA", "M-1")
    assert answered(corrected)[:2] == ("AA", "M-2")
    assert "corrected" in answered(corrected)[2]
    assert paid > 0
    assert points(db) == 0
    assert corrections(db) == ["outcome 1 corrected to not_met"]


def test_a_preliminary_result_is_stored_and_paid_only_once_final(
    listener: tuple[MLLPServer, tuple[str, int]], db: Path
) -> None:
    preliminary, corrected = messages("preliminary_then_corrected.hl7")
    with Client(listener[1]) as lab:
        shown = lab.send(preliminary)
        unpaid = outcomes(db)
        lab.send(corrected)
    assert "preliminary" in answered(shown)[2]
    assert unpaid == []
    assert outcomes(db) == ["stimulant-negative: met"]


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (oru("U-1", "ACC-7", who="P-9999"), "P-9999"),
        (oru("A-1", "ACC-7").replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01"), "ORU"),
        (oru("X-1", "ACC-7", status="Q"), "OBX-11"),
    ],
    ids=["unknown participant", "not ORU^R01", "unknown status"],
)
def test_a_refused_message_gets_AE_with_its_reason_and_writes_nothing(
    listener: tuple[MLLPServer, tuple[str, int]], db: Path, message: str, says: str
) -> None:
    before = snapshot(db)
    with Client(listener[1]) as lab:
        refused = lab.send(message)
        code, echoed, reason = answered(refused)
        assert snapshot(db) == before
        accepted = lab.send(oru("OK-1", "ACC-8"))
    assert (code, echoed) == ("AE", control_id(message))
    assert says in reason
    assert "\n" not in reason
    assert answered(accepted)[:2] == ("AA", "OK-1")


def test_a_malformed_frame_gets_AE_and_the_listener_applies_the_next(
    listener: tuple[MLLPServer, tuple[str, int]], db: Path
) -> None:
    with Client(listener[1]) as lab:
        garbled = lab.send_raw(b"PID|1||P-1001" + b"\x1c\x0d")
        empty = lab.send_raw(frame(""))
        applied = lab.send(oru("G-1", "ACC-5"))
    assert answered(garbled)[0] == "AE"
    assert answered(empty)[0] == "AE"
    assert answered(applied)[:2] == ("AA", "G-1")
    assert outcomes(db) == ["stimulant-negative: met"]


@pytest.mark.parametrize("cut", [1, 100, -3, -1])
def test_a_sender_killed_mid_message_writes_nothing(
    listener: tuple[MLLPServer, tuple[str, int]], db: Path, cut: int
) -> None:
    (final,) = messages("nine_panel_final.hl7")
    before = snapshot(db)
    sender = Client(listener[1])
    sender.socket.sendall(frame(final)[:cut])
    sender.kill()
    with Client(listener[1]) as lab:
        assert answered(lab.send(oru("K-1", "ACC-4")))[0] == "AA"  # it got nothing
    after = snapshot(db)
    assert "ACC-1001-01" not in repr(after)
    assert after != before  # K-1 alone was applied
    assert outcomes(db) == ["stimulant-negative: met"]


def test_no_answer_and_no_log_line_names_a_person(
    listener: tuple[MLLPServer, tuple[str, int]], told: list[Acknowledgement]
) -> None:
    burst = [m for name in SAMPLES for m in messages(name)]
    refused = [m.replace("P-100", "P-900") for m in burst[:3]]
    with Client(listener[1]) as lab:
        answers = [lab.send(m) for m in [*burst, *burst, *refused]]
    assert {answered(a)[0] for a in answers} == {"AA", "AE"}
    seen = "\n".join([*answers, *(repr(t) for t in told)])
    assert [word for word in PHI if word in seen] == []


@pytest.mark.parametrize(
    ("actor", "error"),
    [("nobody", cmrewards.PermissionDenied), ("admin-1", None)],
)
def test_the_actor_is_checked_when_the_handler_is_made(
    db: Path, actor: str, error: type[Exception] | None
) -> None:
    with cmrewards.open(str(db)) as clinic:

        def make() -> object:
            return cmrewards.lab_handler(clinic, LAB, actor=actor)

        if error is None:
            assert callable(make())
        else:
            with pytest.raises(error, match="nobody"):
                make()


def test_a_mapping_without_an_assigning_authority_is_refused_when_the_handler_is_made(
    db: Path,
) -> None:
    csv_only = cmrewards.load_lab_map(ROOT / "examples" / "ctn0094-map.toml")
    with (
        cmrewards.open(str(db)) as clinic,
        pytest.raises(cmrewards.InvalidInput, match="assigning_authority"),
    ):
        cmrewards.lab_handler(clinic, csv_only, actor="rec-01")


def test_a_busy_database_is_AR_and_the_lab_sends_it_again(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise cmrewards.Busy("the database stayed locked past the busy timeout (10 s)")

    with cmrewards.open(str(db)) as clinic:
        handler = cmrewards.lab_handler(clinic, LAB, actor="rec-01")
        monkeypatch.setattr(clinic, "apply_lab_message", busy)
        code, echoed, reason = answered(handler(oru("B-1", "ACC-6")))
    assert (code, echoed) == ("AR", "B-1")
    assert reason.startswith("not processed, send it again later: the database stayed locked")


def test_a_recorder_run_listener_answers_a_change_to_a_decided_result_AE(db: Path) -> None:
    """Decision (docs/decisions.md): a listener run by a recorder still runs and applies
    first results; the lab's correction of a decided result is refused with the reason,
    and nothing of it is written, until a lab-feed account sends it."""
    with cmrewards.open(str(db)) as clinic:
        by_recorder = cmrewards.lab_handler(clinic, LAB, actor="rec-01")
        assert answered(by_recorder(oru("R-1", "ACC-7")))[0] == "AA"
        before = snapshot(db)
        code, echoed, reason = answered(by_recorder(oru("R-2", "ACC-7", cocaine="POS", status="C")))
        assert (code, echoed) == ("AE", "R-2")
        assert reason.startswith("specimen ACC-7 cocaine: this corrected report changes")
        assert "'rec-01' is a recorder" in reason
        assert snapshot(db) == before
        by_feed = cmrewards.lab_handler(clinic, LAB, actor="feed-01")
        assert answered(by_feed(oru("R-2", "ACC-7", cocaine="POS", status="C")))[0] == "AA"
    assert corrections(db) == ["outcome 1 corrected to not_met"]
