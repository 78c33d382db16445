"""Objects for pathway tests and the URL-enumeration test."""

from __future__ import annotations

from django.utils import timezone


def url_objects(*, patient, therapist, org) -> dict[str, object]:
    """A psychotherapy note by the therapist, a consent document, a practice of the patient."""
    from openkap.accounts.authz import build_actor
    from openkap.core.digest import sha256_hex
    from openkap.pathway import services
    from openkap.pathway.models import Commitment, ConsentDocument
    from openkap.pathway.selectors import current_episode
    from tests.pathway.helpers import CONSENT_TEXT

    by = build_actor(therapist, org)
    episode = current_episode(patient) or services.episode_open(by=by, patient_id=patient.id)
    note = services.psychotherapy_note_write(
        by=by, patient_id=patient.id, session_date=timezone.localdate(), text="Process notes."
    )
    document = ConsentDocument.objects.create(
        organization=org, route="intranasal_esketamine", version=1, title="Consent", text=CONSENT_TEXT,
        sha256=sha256_hex(CONSENT_TEXT), published_by=therapist,
    )
    commitment = Commitment.objects.create(
        organization=org, patient=patient, episode=episode, text="Ten minutes of walking"
    )
    return {"note_id": note.id, "document_id": document.id, "commitment_id": commitment.id, "version": 1}
