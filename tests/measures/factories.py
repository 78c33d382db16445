"""Objects for measures tests and the URL-enumeration test."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

PHQ9_ITEM9_POSITIVE = {"q1": 2, "q2": 2, "q3": 1, "q4": 2, "q5": 1, "q6": 2, "q7": 1, "q8": 0, "q9": 1}
PHQ9_NO_FLAG = {"q1": 1, "q2": 2, "q3": 1, "q4": 2, "q5": 1, "q6": 1, "q7": 0, "q8": 1, "q9": 0}


def open_episode(patient, by_user, *, days_ago: int = 10):
    from openkap.pathway.models import Episode

    return Episode.objects.create(
        organization=patient.organization, patient=patient, opened_by=by_user,
        opened_at=timezone.now() - timedelta(days=days_ago),
    )


def url_objects(*, patient, therapist, org) -> dict[str, object]:
    """An episode with its schedule, a PHQ-9 with a positive item 9 (so a safety task)."""
    from openkap.accounts.authz import build_actor
    from openkap.measures import services
    from openkap.measures.models import MeasureAssignment

    episode = open_episode(patient, therapist)
    services.sync_schedule(episode, by=None)
    response = services.response_enter(
        by=build_actor(therapist, org), patient_id=patient.id, instrument_id="phq9", answers=PHQ9_ITEM9_POSITIVE
    )
    assignment = MeasureAssignment.objects.filter(episode=episode, instrument_id="gad7").first()
    task = response.patient.tasks.first()
    return {
        "instrument_id": "phq9", "response_id": response.id, "assignment_id": assignment.id,
        "task_id": task.id,
    }
