"""Psychotherapy notes: written by their author, encrypted, shared only by explicit grant."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from openkap import fieldcrypto
from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.core.authz import Perm
from openkap.pathway.models import (
    Episode,
    PsychotherapyNote,
    PsychotherapyNoteGrant,
)
from openkap.pathway.selectors import (
    OPEN_STATES,
)
from openkap.patients.selectors import patient_for

from .common import _audit, _raise, _text
from .preparation import _clinician, _past_date


def psychotherapy_note_write(*, by: Actor, patient_id: int, session_date: date | str, text: str) -> PsychotherapyNote:
    """Write a psychotherapy note: stored encrypted, readable by its author and whom they grant."""
    errors: dict[str, str] = {}
    day = _past_date(errors, session_date, "session_date")
    text = _text(errors, {"text": text}, "text", required=True, max_length=50_000)
    _raise(errors)
    assert day is not None  # _past_date recorded its error, raised above
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PSYCHOTHERAPY_NOTES)
        episode = Episode.objects.filter(patient=patient, state__in=OPEN_STATES).order_by("-opened_at").first()
        note = PsychotherapyNote.objects.create(
            organization=by.organization, patient=patient, episode=episode, author=by.user,
            session_date=day, body_encrypted=fieldcrypto.encrypt_text(text),
        )
        _audit(by, AuditAction.CREATE, note, "psychotherapy_note", patient.id, glass)
    return note


def _own_note(by: Actor, patient_id: int, note_id: int) -> tuple[PsychotherapyNote, bool]:
    patient, glass = patient_for(by, patient_id, Perm.PSYCHOTHERAPY_NOTES)
    note = PsychotherapyNote.objects.filter(
        id=note_id, patient=patient, organization=by.organization, author=by.user
    ).first()
    if note is None:
        # Someone else's note does not exist for this user.
        raise Http404("No such note of yours.")
    return note, glass


def psychotherapy_note_grant(*, by: Actor, patient_id: int, note_id: int, user_id: int) -> PsychotherapyNoteGrant:
    """The author lets one colleague (a therapist or prescriber) read a note."""
    with transaction.atomic():
        note, glass = _own_note(by, patient_id, note_id)
        errors: dict[str, str] = {}
        grantee = _clinician(errors, by, user_id, "user")
        if grantee is not None and grantee.id == by.user.id:
            errors["user"] = "You are the author: you can already read it."
        _raise(errors)
        grant, created = PsychotherapyNoteGrant.objects.get_or_create(
            note=note, user=grantee, revoked_at__isnull=True,
            defaults={"organization": by.organization, "granted_by": by.user},
        )
        if created:
            _audit(by, AuditAction.CREATE, grant, "psychotherapy_note_grant", note.patient_id, glass,
                   note_id=note.id, user_id=grantee.id)
    return grant


def psychotherapy_note_revoke(*, by: Actor, patient_id: int, note_id: int, user_id: int) -> None:
    with transaction.atomic():
        note, glass = _own_note(by, patient_id, note_id)
        grant = note.grants.select_for_update().filter(user_id=user_id, revoked_at__isnull=True).first()
        if grant is None:
            raise Http404("This colleague has no access to revoke.")
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
        _audit(by, AuditAction.UPDATE, grant, "psychotherapy_note_grant", note.patient_id, glass,
               note_id=note.id, user_id=user_id, revoked=True)
