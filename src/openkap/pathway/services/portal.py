"""The patient in the portal: intentions, consent, journal and commitments."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.pathway.models import (
    Commitment,
    CommitmentCheck,
    ConsentSignature,
    Episode,
    Intention,
    JournalEntry,
)
from openkap.pathway.selectors import (
    OPEN_STATES,
)
from openkap.patients.models import Patient
from openkap.patients.selectors import portal_patient

from .common import _audit, _raise, _text
from .consent import _consent_sign, _withdraw
from .preparation import _intention_text


def _portal_episode(by: Actor) -> tuple[Patient, Episode]:
    patient = portal_patient(by)
    episode = (
        Episode.objects.select_for_update()
        .filter(patient=patient, state__in=OPEN_STATES)
        .order_by("-opened_at")
        .first()
    )
    if episode is None:
        raise ValidationError(_("You have no open course of care with the clinic."), code="no_open_episode")
    return patient, episode


def portal_intention_add(*, by: Actor, text: str) -> Intention:
    text = _intention_text(text)
    with transaction.atomic():
        patient, episode = _portal_episode(by)
        intention = Intention.objects.create(
            organization=by.organization, episode=episode, text=text, written_by=by.user, by_patient=True
        )
        _audit(by, AuditAction.CREATE, intention, "intention", patient.id)
    return intention


def portal_consent_sign(*, by: Actor, typed_name: str, document_sha256: str) -> ConsentSignature:
    with transaction.atomic():
        patient, episode = _portal_episode(by)
        return _consent_sign(by, patient, episode, False, typed_name=typed_name,
                             document_sha256=document_sha256, channel=ConsentSignature.Channel.PORTAL,
                             ip=by.ip)


def portal_consent_withdraw(*, by: Actor, reason: str) -> ConsentSignature:
    with transaction.atomic():
        patient, episode = _portal_episode(by)
        return _withdraw(by, patient, episode, False, reason)


def journal_write(*, by: Actor, text: str) -> JournalEntry:
    errors: dict[str, Any] = {}
    text = _text(errors, {"text": text}, "text", required=True)
    _raise(errors)
    with transaction.atomic():
        patient = portal_patient(by)
        episode = Episode.objects.filter(patient=patient, state__in=OPEN_STATES).order_by("-opened_at").first()
        entry = JournalEntry.objects.create(organization=by.organization, patient=patient, episode=episode, text=text)
        _audit(by, AuditAction.CREATE, entry, "journal_entry", patient.id)
    return entry


MAX_ACTIVE_COMMITMENTS = 10


def commitment_add(*, by: Actor, text: str) -> Commitment:
    errors: dict[str, Any] = {}
    text = _text(errors, {"text": text}, "text", required=True, max_length=200)
    _raise(errors)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=portal_patient(by).pk)
        active = Commitment.objects.filter(patient=patient, ended_at__isnull=True)
        if active.count() >= MAX_ACTIVE_COMMITMENTS:
            raise ValidationError({"text": ValidationError(
                _("Keep it small: up to %(n)s practices at a time. End one first.") % {"n": MAX_ACTIVE_COMMITMENTS},
                code="too_many_practices")})
        episode = Episode.objects.filter(patient=patient, state__in=OPEN_STATES).order_by("-opened_at").first()
        commitment = Commitment.objects.create(organization=by.organization, patient=patient, episode=episode, text=text)
        _audit(by, AuditAction.CREATE, commitment, "commitment", patient.id)
    return commitment


def _own_commitment(by: Actor, commitment_id: int) -> Commitment:
    patient = portal_patient(by)
    commitment = Commitment.objects.select_for_update().filter(id=commitment_id, patient=patient).first()
    if commitment is None:
        raise Http404("No such practice.")
    return commitment


def commitment_tick(*, by: Actor, commitment_id: int, done: bool = True, day: date | None = None) -> Commitment:
    """Tick off (or un-tick) a practice for a day: today, or one of the last seven days."""
    today = timezone.localdate()
    day = day or today
    if not today - timedelta(days=6) <= day <= today:
        raise ValidationError({"day": ValidationError(_("Tick off today or one of the last seven days."),
                                                      code="day_out_of_range")})
    with transaction.atomic():
        commitment = _own_commitment(by, commitment_id)
        if commitment.ended_at is not None:
            raise ValidationError(_("This practice has ended."), code="practice_ended")
        if done:
            CommitmentCheck.objects.get_or_create(
                commitment=commitment, done_on=day, defaults={"organization": by.organization}
            )
        else:
            CommitmentCheck.objects.filter(commitment=commitment, done_on=day).delete()
        _audit(by, AuditAction.UPDATE, commitment, "commitment", commitment.patient_id,
               day=day.isoformat(), done=done)
    return commitment


def commitment_end(*, by: Actor, commitment_id: int) -> Commitment:
    with transaction.atomic():
        commitment = _own_commitment(by, commitment_id)
        if commitment.ended_at is None:
            commitment.ended_at = timezone.now()
            commitment.save(update_fields=["ended_at"])
            _audit(by, AuditAction.UPDATE, commitment, "commitment", commitment.patient_id, ended=True)
    return commitment
