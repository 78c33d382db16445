"""The patient's own answers in the portal: drafts saved as they go, then submitted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.instruments import (
    Instrument,
    ScoringError,
    safety_flags,
)
from openkap.core.instruments.presentation import given_so_far, is_asked
from openkap.measures.models import (
    MeasureAssignment,
    MeasureDraft,
    MeasureResponse,
    Via,
)
from openkap.measures.selectors import patient_assignment
from openkap.patients.selectors import portal_patient

from .common import Answers
from .instruments import (
    _coerce_answers,
    _coerce_supplementary,
)
from .responses import _record, _Source
from .safety import _safety_task


def _save_draft(
    *, assignment: MeasureAssignment, instrument: Instrument, given: Mapping[str, Any],
    supplementary: Mapping[str, Any], via: str, actor: Actor | None, ip: str = "", user_agent: str = "",
) -> MeasureDraft:
    """Merge answers into the draft, drop answers the skip logic no longer asks, and raise
    a safety task for any flag the answers so far raise (the moment it is given)."""
    if not assignment.is_open:
        raise ValidationError({"__all__": ValidationError(
            gettext("This questionnaire is already completed or was withdrawn."), code="not_open")})
    draft = MeasureDraft.objects.select_for_update().filter(assignment=assignment).first()
    if draft is None:
        draft = MeasureDraft(organization_id=assignment.organization_id, assignment=assignment, via=via)
    merged: Answers = {**draft.answers, **_coerce_answers(instrument, given)}
    for item in instrument.items:
        if item.id in merged and not is_asked(item, merged):
            del merged[item.id]
    draft.answers = {item.id: merged[item.id] for item in instrument.items if item.id in merged}
    draft.supplementary = {**draft.supplementary, **_coerce_supplementary(instrument, supplementary)}
    draft.via = via
    draft.updated_at = timezone.now()
    draft.save()
    try:
        flags = safety_flags(instrument, given_so_far(instrument, draft.answers))
    except ScoringError as exc:
        raise ValidationError({"answers": str(exc)}) from None
    audit_record(
        by=actor, action=AuditAction.UPDATE, object_type="measure_draft", object_id=assignment.id,
        patient_id=assignment.patient_id, organization_id=assignment.organization_id,
        actor_email="" if actor else "questionnaire link", ip=ip, user_agent=user_agent,
        detail={"items": sorted(given), "flags": [f.id for f in flags]},
    )
    _safety_task(
        by=actor, organization=assignment.organization, patient=assignment.patient,
        instrument=instrument, flags=flags, answers=draft.answers, assignment=assignment, response=None,
        partial=True,
    )
    return draft


def _submit_draft(
    *, assignment: MeasureAssignment, instrument: Instrument, source: _Source
) -> MeasureResponse:
    if not assignment.is_open:
        raise ValidationError({"__all__": ValidationError(
            gettext("This questionnaire is already completed or was withdrawn."), code="not_open")})
    draft = MeasureDraft.objects.select_for_update().filter(assignment=assignment).first()
    if draft is None:
        raise ValidationError({"__all__": ValidationError(gettext("Answer the questions first."), code="no_answers")})
    return _record(
        organization=assignment.organization, patient=assignment.patient, instrument=instrument,
        answers=_coerce_answers(instrument, draft.answers),
        supplementary=_coerce_supplementary(instrument, draft.supplementary), source=source,
        episode=assignment.episode, assignment=assignment, occasion=assignment.occasion,
        completed_at=timezone.now(), allow_incomplete=False,
    )


def portal_answer(
    *, by: Actor, assignment_id: int, answers: Mapping[str, Any], supplementary: Mapping[str, Any] | None = None
) -> MeasureDraft:
    """Save the patient's answers so far (save and resume)."""
    with transaction.atomic():
        patient = portal_patient(by)
        assignment, instrument = patient_assignment(patient, assignment_id, lock=True)
        return _save_draft(
            assignment=assignment, instrument=instrument, given=answers,
            supplementary=supplementary or {}, via=Via.PORTAL, actor=by,
        )


def portal_submit(*, by: Actor, assignment_id: int) -> MeasureResponse:
    with transaction.atomic():
        patient = portal_patient(by)
        assignment, instrument = patient_assignment(patient, assignment_id, lock=True)
        return _submit_draft(
            assignment=assignment, instrument=instrument,
            source=_Source(Via.PORTAL, by.user, False, by),
        )
