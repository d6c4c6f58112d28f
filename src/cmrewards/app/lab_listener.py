"""The lab listener's handler: one HL7 v2 ``ORU^R01`` in, applied, its acknowledgement out.

``lab_handler`` joins the three pieces the listener needs (docs/design.md, "The MLLP
listener"): ``parse_oru`` reads the message through the mapping file, dropping what it
says about the person; ``Clinic.apply_lab_message`` applies it in one transaction; the
answer is an ``ACK`` (HL7 v2.5.1 section 2.9.2) whose MSA-1 says what became of it:

- ``AA``: applied, or a replay of a message applied before (nothing written);
- ``AE``: refused, nothing written: the message is not a readable ``ORU^R01``, names no
  enrolled participant, or a rule refuses it. MSA-3 gives the reason on one line, the
  same words the CLI prints, naming no person;
- ``AR``: not processed, for a reason that is not the message's (the database busy past
  its timeout, or damaged): the sender keeps it and sends it again later.
"""

from __future__ import annotations

from ..domain.clock import Clock, system_clock
from ..domain.counts import plural
from ..domain.lab_map import LabMap
from ..domain.staff import Action, authorise
from ..errors import Busy, CMRewardsError, IntegrityError, InvalidInput
from .clinic import Clinic
from .hl7v2 import AckCode, hl7_ack, parse_oru
from .lab_reports import LabMessageResult
from .mllp import Handler


def lab_handler(
    clinic: Clinic, lab_map: LabMap, *, actor: str, clock: Clock = system_clock
) -> Handler:
    """A handler for ``MLLPServer``: message text to ``ACK`` text, applying each ``ORU^R01``
    to ``clinic`` as ``actor`` for ``lab_map.targets`` (default: every target with analytes).

    Call it, and serve, on the thread that opened ``clinic``. Raises ``PermissionDenied``
    now, not at the first message, unless ``actor`` is an active staff member who may
    record; ``InvalidInput`` when the mapping has no ``[identity] assigning_authority``.
    The handler itself raises nothing a message can cause.
    """
    if lab_map.identity.assigning_authority is None:
        raise InvalidInput(
            f"{lab_map.source}: HL7 v2 messages need [identity] assigning_authority"
            " (the PID-3 identifier that is the participant id)"
        )
    staff = {member.id: member for member in clinic.staff()}
    authorise(staff.get(actor), actor, Action.RECORD)
    received = 0

    def handle(text: str) -> str:
        nonlocal received
        received += 1
        try:
            message = parse_oru(text, lab_map, f"message {received}")
            applied = clinic.apply_lab_message(message, actor=actor, targets=lab_map.targets)
        except (Busy, IntegrityError) as error:
            return answer(text, "AR", f"not processed, send it again later: {error}")
        except CMRewardsError as error:
            return answer(text, "AE", str(error))
        return answer(text, "AA", described(applied))

    def answer(text: str, code: AckCode, reason: str) -> str:
        return hl7_ack(text, code, reason, now=clock())

    return handle


def described(applied: LabMessageResult) -> str:
    """What a message did, for MSA-3 and the listener's log, in the words of ``import``:
    ``applied 1 specimen: 9 analyte results stored (9 preliminary), 1 specimen pending``,
    or ``replayed: applied before, nothing written``."""
    if applied.replayed:
        return "replayed: applied before, nothing written"
    reports = applied.reports
    stored = plural(sum(r.stored for r in reports), "analyte result") + " stored"
    preliminary = sum(r.preliminary for r in reports)
    done = [f"{stored} ({preliminary:,} preliminary)" if preliminary else stored]
    for count, noun, how in (
        (sum(len(r.recorded) for r in reports), "outcome", "recorded"),
        (sum(len(r.corrected) for r in reports), "outcome", "corrected"),
        (sum(len(r.voided) for r in reports), "outcome", "voided"),
        (sum(r.pending for r in reports), "specimen", "pending"),
    ):
        if count:
            done.append(f"{plural(count, noun)} {how}")
    return f"applied {plural(len(reports), 'specimen')}: {', '.join(done)}"
