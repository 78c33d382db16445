"""Single-use links that let a patient answer one assignment without signing in."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from openkap.accounts.authz import Actor
from openkap.accounts.models import Organization
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.digest import sha256_hex
from openkap.core.instruments import (
    Instrument,
)
from openkap.core.instruments.presentation import patient_can_complete
from openkap.measures.licensed import instrument_for
from openkap.measures.models import (
    MeasureAssignment,
    MeasureDraft,
    MeasureLink,
    MeasureResponse,
    Via,
)
from openkap.measures.selectors import link_url

from .assignments import _staff_assignment
from .common import LINK_DAYS, MAX_LINK_DAYS
from .portal import _save_draft, _submit_draft
from .responses import _Source


def link_create(*, by: Actor, assignment_id: int, days: int = LINK_DAYS, send_email: bool = False) -> tuple[MeasureLink, str]:
    """A link to this one questionnaire, valid `days` days and until submitted; needs no
    login and opens nothing else. Returns the raw token once; only its hash is stored."""
    if not 1 <= days <= MAX_LINK_DAYS:
        raise ValidationError({"days": f"Choose 1 to {MAX_LINK_DAYS} days."})
    with transaction.atomic():
        assignment = _staff_assignment(by, assignment_id, Perm.MEASURE_ASSIGN, lock=True)
        if not assignment.is_open:
            raise ValidationError({"__all__": "This measure is already completed or cancelled."})
        instrument = instrument_for(by.organization.id, assignment.instrument_id)
        if not patient_can_complete(instrument):
            raise ValidationError(
                {"__all__": f"{instrument.short_name} is not completed by patients on their own "
                            "(clinician-rated, or licensed wording not loaded)."}
            )
        if send_email and not assignment.patient.email:
            raise ValidationError({"send_email": "The patient has no email address on file."})
        raw = secrets.token_urlsafe(32)
        link = MeasureLink.objects.create(
            organization=by.organization, assignment=assignment, token_hash=sha256_hex(raw),
            created_by=by.user, expires_at=timezone.now() + timedelta(days=days),
        )
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="measure_link", object_id=link.id,
            patient_id=assignment.patient_id, detail={"assignment": assignment.id, "days": days, "emailed": send_email},
        )
        if send_email:
            url = link_url(raw)
            email, clinic = assignment.patient.email, by.organization.name
            language = assignment.patient.preferred_language
            transaction.on_commit(
                lambda: _send_link(email=email, clinic=clinic, url=url, days=days, language=language)
            )
    return link, raw


def _send_link(*, email: str, clinic: str, url: str, days: int, language: str) -> None:
    with translation.override(language):  # the patient's language
        values = {"clinic": clinic, "url": url, "days": days}
        send_mail(
            subject=_("A questionnaire from %(clinic)s") % values,
            message=_("%(clinic)s asks you to complete a short questionnaire.\n\n%(url)s\n\n"
                      "The link works once and expires in %(days)s days.\n") % values,
            from_email=None,
            recipient_list=[email],
        )


class LinkRefused(Exception):
    """The link is unknown, expired, revoked or used: say so and show nothing else."""

    def __init__(self, reason: str, organization: Organization | None = None):
        super().__init__(reason)
        self.reason = reason
        self.organization = organization


def link_open(raw: str, *, lock: bool = False) -> tuple[MeasureLink, MeasureAssignment, Instrument]:
    if not raw or len(raw) > 100:
        raise LinkRefused("unknown")
    qs = MeasureLink.objects.filter(token_hash=sha256_hex(raw)).select_related("assignment", "organization")
    if lock:
        qs = qs.select_for_update()
    link = qs.first()
    if link is None:
        raise LinkRefused("unknown")
    if link.used_at is not None:
        raise LinkRefused("used", link.organization)
    if link.revoked_at is not None or not link.assignment.is_open:
        raise LinkRefused("withdrawn", link.organization)
    if link.expires_at <= timezone.now():
        raise LinkRefused("expired", link.organization)
    assignment = link.assignment
    instrument = instrument_for(link.organization_id, assignment.instrument_id)
    if not patient_can_complete(instrument):
        raise LinkRefused("withdrawn", link.organization)
    return link, assignment, instrument


def link_answer(
    *, raw: str, answers: Mapping[str, Any], supplementary: Mapping[str, Any] | None = None,
    ip: str = "", user_agent: str = "",
) -> MeasureDraft:
    with transaction.atomic():
        _link, assignment, instrument = link_open(raw, lock=True)
        return _save_draft(
            assignment=assignment, instrument=instrument, given=answers,
            supplementary=supplementary or {}, via=Via.LINK, actor=None, ip=ip, user_agent=user_agent,
        )


def link_submit(*, raw: str, ip: str = "", user_agent: str = "") -> MeasureResponse:
    """Submit through the link; the link is used up in the same transaction."""
    with transaction.atomic():
        link, assignment, instrument = link_open(raw, lock=True)
        response = _submit_draft(
            assignment=assignment, instrument=instrument,
            source=_Source(Via.LINK, None, False, None, ip, user_agent),
        )
        link.used_at = response.submitted_at
        link.save(update_fields=["used_at"])
    return response
