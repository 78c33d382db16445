"""Psychotherapy notes: read by their author and by those granted them, and by nobody
else; each read is checked and audited."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from openkap import fieldcrypto
from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.pathway.models import PsychotherapyNote, PsychotherapyNoteGrant
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for


def psychotherapy_notes_visible(by: Actor, patient: Patient) -> QuerySet[PsychotherapyNote]:
    """The notes the actor wrote or was granted; nobody else learns that others exist."""
    granted = Q(grants__user=by.user, grants__revoked_at__isnull=True)
    return (
        PsychotherapyNote.objects.filter(organization=by.organization, patient=patient)
        .filter(Q(author=by.user) | granted)
        .select_related("author")
        .distinct()
    )


def psychotherapy_note_read(*, by: Actor, patient_id: int, note_id: int) -> tuple[PsychotherapyNote, str]:
    """Decrypt one note for its author or a grantee; every read is audited."""
    patient, glass = patient_for(by, patient_id, Perm.PSYCHOTHERAPY_NOTES)
    note = psychotherapy_notes_visible(by, patient).filter(id=note_id).first()
    if note is None:
        raise Http404("No such note, or it is not shared with you.")
    text = fieldcrypto.decrypt_text(note.body_encrypted)
    audit_record(by=by, action=AuditAction.VIEW, object_type="psychotherapy_note", object_id=note.id,
                 patient_id=patient.id, break_glass=glass,
                 detail={"author_id": note.author_id, "as": "author" if note.author_id == by.user.id else "grantee"})
    return note, text


def note_grants_of(note: PsychotherapyNote) -> list[PsychotherapyNoteGrant]:
    """Who the author has let read the note, grants not revoked."""
    return list(note.grants.filter(revoked_at__isnull=True).select_related("user"))
