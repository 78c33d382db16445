"""Integration: notes after each dosing session and the tasks for missing ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.core.authz import Perm, Role
from openkap.core.pathway import (
    overdue_integrations,
)
from openkap.core.pathway.notes import NOTE_TEMPLATES
from openkap.pathway import events
from openkap.pathway.models import (
    Episode,
    IntegrationNote,
)
from openkap.pathway.selectors import (
    OPEN_STATES,
    dosing_records,
    held_sessions_of,
    integration_window_days,
)
from openkap.patients.models import CareTeamMember
from openkap.tasks import services as tasks
from openkap.tasks.models import Task

from .common import _audit, _open_episode, _raise, _text
from .preparation import _past_date


def integration_note_write(
    *, by: Actor, patient_id: int, session_date: date | str, template: str,
    sections: Mapping[str, str], dosing_session_id: int | None = None,
) -> IntegrationNote:
    """Record an integration session's note, linked to the dosing session it integrates."""
    errors: dict[str, str] = {}
    day = _past_date(errors, session_date, "session_date")
    chosen = NOTE_TEMPLATES.get(template)
    if chosen is None:
        raise ValidationError({"template": "Choose one of the note templates."})
    keys = [s.key for s in chosen.sections]
    unknown = set(sections) - set(keys)
    if unknown:
        errors["__all__"] = f"Unknown section(s) for {chosen.label}: {', '.join(sorted(unknown))}."
    values = {k: _text(errors, sections, k) for k in keys}
    if not any(values.values()):
        errors["__all__"] = "Write at least one section of the note."
    _raise(errors)
    assert day is not None  # _past_date recorded its error, raised above
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.NOTE_WRITE)
        dosing = None
        if dosing_session_id is not None:
            dosing = next((s for s in held_sessions_of([episode.id]) if s.id == dosing_session_id), None)
            if dosing is None:
                raise ValidationError({"dosing_session": "Choose a dosing session of this episode that was held."})
            if day is not None and day < dosing.dosed_on:
                raise ValidationError(
                    {"session_date": f"The dosing session was on {dosing.dosed_on}: integration comes after it."})
        note = IntegrationNote.objects.create(
            organization=by.organization, episode=episode, patient=patient,
            dosing_session_id=dosing.id if dosing else None,
            session_date=day, template=template, sections={k: v for k, v in values.items() if v},
            author=by.user,
        )
        _audit(by, AuditAction.CREATE, note, "integration_note", patient.id, glass,
               dosing_session_id=dosing_session_id, template=template)
        if dosing is not None:
            # The plan's after-integration measures fall due now (the measures app).
            events.integration_recorded.send(
                sender=IntegrationNote, by=by, episode=episode, dosing_session_id=dosing.id,
                held_at=timezone.now(),
            )
    return note


INTEGRATION_TASK_KIND = "integration_due"


def integration_overdue_tasks(*, episodes: Iterable[Episode] | None = None, today: date | None = None) -> list[Task]:
    """Raise a task for the therapists of the care team for each dosing session whose
    integration window passed without an integration session; once per session.

    Run by ``openkap integration_tasks`` (daily, from cron); a page that shows the
    episode never writes (the Pathway tab lists overdue integrations itself)."""
    today = today or timezone.localdate()
    if episodes is None:
        open_episodes = Episode.objects.filter(state__in=OPEN_STATES)
        held = {s.episode_id for s in held_sessions_of(open_episodes)}
        episodes = [e for e in open_episodes.select_related("organization", "patient") if e.id in held]
    raised = []
    for episode in episodes:
        overdue = overdue_integrations(
            dosing_records(episode), today=today, window_days=integration_window_days(episode)
        )
        for due in overdue:
            with transaction.atomic():
                if Task.objects.filter(
                    organization_id=episode.organization_id, kind=INTEGRATION_TASK_KIND,
                    subject_type="dosing_session", subject_id=due.session_id,
                ).exists():
                    continue
                therapists = sorted(
                    CareTeamMember.objects.filter(
                        patient_id=episode.patient_id, role=Role.THERAPIST, ended_at__isnull=True
                    ).values_list("user_id", flat=True)
                )
                raised.append(tasks.task_create(
                    by=None, organization=episode.organization, kind=INTEGRATION_TASK_KIND,
                    title="Integration session overdue",
                    detail=(
                        f"The dosing session of {due.dosed_on:%Y-%m-%d} was due its integration "
                        f"session by {due.due_by:%Y-%m-%d}; none is recorded."
                    ),
                    patient=episode.patient, subject_type="dosing_session", subject_id=due.session_id,
                    assignee_ids=therapists, assigned_role="" if therapists else Role.THERAPIST,
                    data={"episode_id": episode.id, "due_by": due.due_by.isoformat()},
                ))
    return raised
