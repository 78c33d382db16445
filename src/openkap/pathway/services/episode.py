"""The episode of care: opening it and moving it through the core's state machine."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.pathway import (
    TERMINAL_STATES,
    State,
    TransitionRefused,
    next_state,
)
from openkap.pathway import events
from openkap.pathway.models import (
    Episode,
    EpisodeTransition,
)
from openkap.pathway.selectors import (
    OPEN_STATES,
    episode_snapshot,
)
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for

from .common import MAX_TEXT, _audit


def episode_open(*, by: Actor, patient_id: int) -> Episode:
    """Open a new episode of care at intake; a patient has at most one open episode."""
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PATIENT_UPDATE)
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        if Episode.objects.filter(patient=patient, state__in=OPEN_STATES).exists():
            raise ValidationError("This patient already has an open episode of care.")
        episode = Episode.objects.create(organization=by.organization, patient=patient, opened_by=by.user)
        _audit(by, AuditAction.CREATE, episode, "episode", patient.id, glass)
        events.episode_opened.send(sender=Episode, by=by, episode=episode)  # the baseline falls due
    return episode


def episode_transition(*, by: Actor, episode_id: int, name: str, reason: str = "") -> Episode:
    """Move the episode by the named transition, or refuse listing what is missing.

    The core judges a snapshot of the records; a refusal changes nothing.
    """
    reason = (reason or "").strip()
    if len(reason) > MAX_TEXT:
        raise ValidationError({"reason": f"Keep the reason under {MAX_TEXT} characters."})
    with transaction.atomic():
        episode = (
            Episode.objects.select_for_update()
            .filter(id=episode_id, organization=by.organization)
            .first()
        )
        if episode is None:
            raise Http404("No such episode in your organisation.")
        _, glass = patient_for(by, episode.patient_id, Perm.PATHWAY_TRANSITION)
        source = State(episode.state)
        try:
            target = next_state(episode_snapshot(episode), name, reason=reason)
        except TransitionRefused as exc:
            raise ValidationError(list(exc.unmet)) from None
        record = EpisodeTransition.objects.create(
            organization=by.organization, episode=episode, name=name, from_state=source,
            to_state=target, reason=reason, by=by.user,
        )
        episode.state = target
        episode.closed_at = record.at if target in TERMINAL_STATES else None
        episode.save(update_fields=["state", "closed_at"])
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="episode", object_id=episode.id,
            patient_id=episode.patient_id, reason=reason, break_glass=glass,
            detail={"transition": name, "from": source.value, "to": target.value},
        )
        if target is State.REASSESSMENT:
            events.reassessment_started.send(sender=Episode, by=by, episode=episode)
    return episode
