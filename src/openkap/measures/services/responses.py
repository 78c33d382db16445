"""Recording a response (entered by staff or submitted by the patient): scoring, flags, corrections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Organization, User
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.instruments import (
    Flag,
    IncompleteResponseError,
    Instrument,
    Rater,
    ScoringError,
    highest_severity,
    score,
)
from openkap.measures.licensed import instrument_for
from openkap.measures.models import (
    MeasureAssignment,
    MeasureDraft,
    MeasureResponse,
    Occasion,
    Via,
)
from openkap.pathway.models import Episode
from openkap.pathway.selectors import current_episode
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for

from .common import CORRECTION_MIN_CHARS, MAX_BACKDATE, Answers
from .instruments import (
    _answer_list,
    _coerce_answers,
    _coerce_supplementary,
    _sex_of,
)
from .safety import _safety_task


class FlaggedIncompleteError(ValidationError):
    """A response refused as incomplete whose answered items raise safety flags: the
    refusal rolls back, and the caller raises the safety task after it (issue 12)."""

    def __init__(
        self, message: str, *, flags: Sequence[Flag], patient: Patient,
        assignment: MeasureAssignment | None,
    ) -> None:
        super().__init__({"answers": message})
        self.flags = tuple(flags)
        self.patient = patient
        self.assignment = assignment


@dataclass(frozen=True)
class _Source:
    """Who gave the answers and how, for the response row and the audit log."""

    via: str
    entered_by: User | None
    on_behalf: bool
    actor: Actor | None
    ip: str = ""
    user_agent: str = ""


def _record(
    *,
    organization: Organization,
    patient: Patient,
    instrument: Instrument,
    answers: Answers,
    supplementary: Answers,
    source: _Source,
    episode: Episode | None,
    assignment: MeasureAssignment | None,
    occasion: str,
    completed_at: datetime,
    allow_incomplete: bool,
    corrects: MeasureResponse | None = None,
    correction_reason: str = "",
    break_glass: bool = False,
) -> MeasureResponse:
    """Score with the core, store, raise a safety task, close the assignment, audit.
    The caller holds a transaction (and the assignment's row lock)."""
    sex = _sex_of(patient)
    values = _answer_list(instrument, answers)
    try:
        result = score(instrument, values, sex=sex)
    except IncompleteResponseError as exc:
        if not allow_incomplete:
            if source.via in (Via.PORTAL, Via.LINK):
                # The draft's save already raised the task for any flag these answers raise.
                wanted = ", ".join(m.replace("q", "question ") for m in exc.missing)
                raise ValidationError({"answers": f"Please answer {wanted} before submitting."}) from None
            message = f"{exc} Answer the missing items, or record it as incomplete."
            if exc.flags:
                raised = ", ".join(f"{f.id} ({f.severity})" for f in exc.flags)
                raise FlaggedIncompleteError(
                    f"{exc} Safety flags raised by the answered items: {raised}; a task was "
                    "raised for the care team. Answer the missing items, or record it as incomplete.",
                    flags=exc.flags, patient=patient, assignment=assignment,
                ) from None
            raise ValidationError({"answers": message}) from None
        flags: Sequence[Flag] = exc.flags
        stored: dict[str, Any] = {
            "instrument": instrument.id, "version": instrument.version, "total": None,
            "band": None, "band_label": None, "flags": [f.id for f in flags],
            "flag_details": [f.to_dict() for f in flags], "items": dict(answers),
            "missing": list(exc.missing), "missing_handling": "not_scored", "notes": [str(exc)],
        }
        total, band, band_label, scored = None, "", "", False
    except ScoringError as exc:
        raise ValidationError({"answers": str(exc)}) from None
    else:
        flags = result.flags
        stored = result.to_dict()
        total = None if result.total is None else float(result.total)
        band, band_label, scored = result.band or "", result.band_label or "", True
    response = MeasureResponse.objects.create(
        organization=organization, patient=patient, episode=episode, assignment=assignment,
        instrument_id=instrument.id, instrument_version=instrument.version, occasion=occasion,
        answers={item.id: answers.get(item.id) for item in instrument.items},
        supplementary=dict(supplementary), result=stored, is_scored=scored, total=total,
        band=band, band_label=band_label, flag_ids=[f.id for f in flags],
        has_safety_flag=bool(flags), highest_severity=highest_severity(f.severity for f in flags),
        sex_used=sex or "", completed_at=completed_at, entered_by=source.entered_by,
        on_behalf=source.on_behalf, via=source.via, corrects=corrects,
        correction_reason=correction_reason,
    )
    if assignment is not None and assignment.completed_at is None:
        assignment.completed_at = response.submitted_at
        assignment.save(update_fields=["completed_at"])
        MeasureDraft.objects.filter(assignment=assignment).delete()
    audit_record(
        by=source.actor, action=AuditAction.CREATE, object_type="measure_response", object_id=response.id,
        patient_id=patient.id, organization_id=organization.id, break_glass=break_glass,
        actor_email="" if source.actor else "questionnaire link", ip=source.ip, user_agent=source.user_agent,
        detail={"instrument": instrument.id, "via": source.via, "on_behalf": source.on_behalf,
                "flags": [f.id for f in flags], "corrects": corrects.id if corrects else None,
                "scored": scored},
    )
    _safety_task(
        by=source.actor, organization=organization, patient=patient, instrument=instrument,
        flags=flags, answers=answers, assignment=assignment, response=response, partial=not scored,
    )
    return response


def _check_completed_at(completed_at: datetime | None) -> datetime:
    now = timezone.now()
    if completed_at is None:
        return now
    if timezone.is_naive(completed_at):
        raise ValidationError({"completed_at": "Give the time with its time zone."})
    if completed_at > now + timedelta(minutes=5):
        raise ValidationError({"completed_at": "The answers cannot have been given in the future."})
    if completed_at < now - MAX_BACKDATE:
        raise ValidationError({"completed_at": "Enter answers given within the last year."})
    return completed_at


def response_enter(
    *,
    by: Actor,
    patient_id: int,
    instrument_id: str,
    answers: Mapping[str, Any],
    supplementary: Mapping[str, Any] | None = None,
    assignment_id: int | None = None,
    occasion: str | None = None,
    completed_at: datetime | None = None,
    allow_incomplete: bool = False,
    corrects_id: int | None = None,
    correction_reason: str = "",
) -> MeasureResponse:
    """Staff record a response: a clinician-rated scale they administered, or the patient's
    own answers entered on their behalf (recorded as such). A correction names the
    response it replaces and says why; the original is kept."""
    require(by, Perm.MEASURE_ENTER)
    instrument = instrument_for(by.organization.id, instrument_id)
    clean = _coerce_answers(instrument, answers)
    extra = _coerce_supplementary(instrument, supplementary or {})
    when = _check_completed_at(completed_at)
    if occasion is not None and occasion not in Occasion.values:
        raise ValidationError({"occasion": "Unknown occasion."})
    correction_reason = (correction_reason or "").strip()
    try:
        return _response_enter(
            by=by, patient_id=patient_id, instrument=instrument, clean=clean, extra=extra, when=when,
            occasion=occasion, assignment_id=assignment_id, allow_incomplete=allow_incomplete,
            corrects_id=corrects_id, correction_reason=correction_reason,
        )
    except FlaggedIncompleteError as exc:
        with transaction.atomic():
            _safety_task(
                by=by, organization=by.organization, patient=exc.patient, instrument=instrument,
                flags=exc.flags, answers=clean, assignment=exc.assignment, response=None, partial=True,
            )
        raise


def _response_enter(
    *, by: Actor, patient_id: int, instrument: Instrument, clean: Answers, extra: Answers,
    when: datetime, occasion: str | None, assignment_id: int | None, allow_incomplete: bool,
    corrects_id: int | None, correction_reason: str,
) -> MeasureResponse:
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.MEASURE_ENTER)
        corrects = None
        assignment = None
        episode = None
        if corrects_id is not None:
            corrects = (
                MeasureResponse.objects.select_for_update()
                .filter(id=corrects_id, patient=patient).first()
            )
            if corrects is None:
                raise ValidationError({"corrects_id": "No such response for this patient."})
            if corrects.instrument_id != instrument.id:
                raise ValidationError({"corrects_id": "A correction must be of the same instrument."})
            if MeasureResponse.objects.filter(corrects=corrects).exists():
                raise ValidationError({"corrects_id": "That response was already corrected: correct the correction."})
            if len(correction_reason) < CORRECTION_MIN_CHARS:
                raise ValidationError({"correction_reason": "Say what was wrong (at least 5 characters)."})
            episode, assignment, occasion = corrects.episode, corrects.assignment, corrects.occasion
        elif assignment_id is not None:
            assignment = (
                MeasureAssignment.objects.select_for_update()
                .filter(id=assignment_id, patient=patient).first()
            )
            if assignment is None:
                raise ValidationError({"assignment_id": "No such measure for this patient."})
            if assignment.instrument_id != instrument.id:
                raise ValidationError({"assignment_id": "That measure is for another instrument."})
            if not assignment.is_open:
                raise ValidationError({"assignment_id": "That measure is already completed or cancelled."})
            episode, occasion = assignment.episode, assignment.occasion
        else:
            episode = current_episode(patient)
            occasion = occasion or Occasion.AD_HOC
        response = _record(
            organization=by.organization, patient=patient, instrument=instrument, answers=clean,
            supplementary=extra,
            source=_Source(Via.API if by.via in ("api", "fhir") else Via.STAFF, by.user,
                           instrument.rater is Rater.SELF_REPORT, by),
            episode=episode, assignment=assignment, occasion=occasion, completed_at=when,
            allow_incomplete=allow_incomplete, corrects=corrects, correction_reason=correction_reason,
            break_glass=glass,
        )
    return response
