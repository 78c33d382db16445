"""The episode's measure schedule: the plan, its slots, assignments and their cancellation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.instruments import (
    ScoringError,
    get_instrument,
)
from openkap.core.pathway import measure_times
from openkap.dosing.models import DosingSession
from openkap.measures import schedule
from openkap.measures.models import (
    MeasureAssignment,
    MeasureLink,
    MeasurePlanEntry,
    Occasion,
)
from openkap.pathway.models import Episode
from openkap.pathway.selectors import OPEN_STATES, current_episode
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for


def _episode_for(by: Actor, episode_id: int, perm: Perm) -> tuple[Episode, bool]:
    episode = Episode.objects.filter(id=episode_id, organization=by.organization).first()
    if episode is None:
        raise Http404("No such episode in your organisation.")
    _patient, glass = patient_for(by, episode.patient_id, perm)
    return episode, glass


def _valid_instrument_id(instrument_id: str, field: str = "instrument_id") -> str:
    try:
        return get_instrument(instrument_id).id
    except ScoringError as exc:
        raise ValidationError({field: str(exc)}) from None


def _ensure_plan(episode: Episode) -> dict[str, list[str]]:
    rows = list(MeasurePlanEntry.objects.filter(episode=episode).values_list("occasion", "instrument_id"))
    if not rows:
        MeasurePlanEntry.objects.bulk_create(
            [
                MeasurePlanEntry(
                    organization_id=episode.organization_id, episode=episode, occasion=occasion,
                    instrument_id=instrument_id,
                )
                for occasion, ids in schedule.DEFAULT_PLAN.items()
                for instrument_id in ids
            ],
            ignore_conflicts=True,
        )
        rows = [(o, i) for o, ids in schedule.DEFAULT_PLAN.items() for i in ids]
    plan: dict[str, list[str]] = {}
    for occasion, instrument_id in rows:
        plan.setdefault(occasion, []).append(instrument_id)
    return plan


_Slot = measure_times.Slot
NO_SERIES = "No dosing session left to follow up"


def _slots(episode: Episode) -> tuple[list[_Slot], set[str]]:
    """Occasions the schedule derives from the episode's records, and the keys of
    dosing sessions that were cancelled."""
    sessions = [
        measure_times.SessionTimes(
            id=s.id, booked_at=s.created_at, start=s.started_at or s.scheduled_start,
            discharged_at=s.discharged_at, cancelled=s.status == DosingSession.Status.CANCELLED,
        )
        for s in DosingSession.objects.filter(episode=episode)
    ]
    return measure_times.slots(episode.opened_at, sessions)


def _place(
    episode: Episode, plan: Mapping[str, list[str]], slots: Iterable[_Slot], *, now: datetime
) -> list[MeasureAssignment]:
    existing = {
        (a.occasion, a.occasion_key, a.instrument_id): a
        for a in MeasureAssignment.objects.filter(episode=episode)
    }
    created: list[MeasureAssignment] = []
    reopened: list[MeasureAssignment] = []
    for slot in slots:
        for instrument_id in plan.get(slot.occasion, ()):
            found = existing.get((slot.occasion, slot.key, instrument_id))
            if found is None:
                created.append(
                    MeasureAssignment(
                        organization_id=episode.organization_id, patient_id=episode.patient_id,
                        episode=episode, instrument_id=instrument_id, occasion=slot.occasion,
                        occasion_key=slot.key, occasion_label=slot.label, due_at=slot.due_at,
                        overdue_at=slot.overdue_at, created_at=now,
                    )
                )
            elif found.cancel_reason == NO_SERIES and found.cancelled_by_id is None:
                # A series booked again after every session was cancelled: followed up again.
                found.due_at, found.overdue_at, found.occasion_label = slot.due_at, slot.overdue_at, slot.label
                found.cancelled_at, found.cancel_reason = None, ""
                found.save(update_fields=["due_at", "overdue_at", "occasion_label", "cancelled_at", "cancel_reason"])
                reopened.append(found)
            elif found.is_open and found.assigned_by_id is None and (
                (found.due_at, found.overdue_at, found.occasion_label)
                != (slot.due_at, slot.overdue_at, slot.label)
            ):
                # A session moved: its measures move with it.
                found.due_at, found.overdue_at, found.occasion_label = slot.due_at, slot.overdue_at, slot.label
                found.save(update_fields=["due_at", "overdue_at", "occasion_label"])
    if created:
        # ignore_conflicts: a concurrent sync may have placed the same row; read back ids.
        MeasureAssignment.objects.bulk_create(created, ignore_conflicts=True)
        keys = {(a.occasion, a.occasion_key, a.instrument_id) for a in created}
        created = [
            a for a in MeasureAssignment.objects.filter(
                episode=episode, occasion__in={k[0] for k in keys}, occasion_key__in={k[1] for k in keys}
            ).order_by("due_at", "id")
            if (a.occasion, a.occasion_key, a.instrument_id) in keys
        ]
    return created + reopened


def sync_schedule(episode: Episode, *, by: Actor | None, now: datetime | None = None) -> int:
    """Bring the episode's assignments in line with its schedule and dosing sessions.

    Idempotent. The services of the events the schedule hangs on call it in their own
    transaction (episode opened, dosing session booked, moved, cancelled, checked in,
    discharged; plan edited), so reading measures never writes. The caller has checked
    its own permission. Returns how many assignments were created."""
    now = now or timezone.now()
    with transaction.atomic():
        plan = _ensure_plan(episode)
        slots, cancelled_keys = _slots(episode)
        created = _place(episode, plan, slots, now=now)
        stale = MeasureAssignment.objects.filter(
            episode=episode, occasion=Occasion.BEFORE_DOSING, occasion_key__in=cancelled_keys,
            completed_at__isnull=True, cancelled_at__isnull=True,
        )
        cancelled = stale.update(cancelled_at=now, cancel_reason="Dosing session cancelled")
        if not any(slot.occasion == Occasion.FOLLOW_UP for slot in slots):
            # Every dosing session cancelled: no series to follow up.
            cancelled += MeasureAssignment.objects.filter(
                episode=episode, occasion=Occasion.FOLLOW_UP, assigned_by__isnull=True,
                completed_at__isnull=True, cancelled_at__isnull=True,
            ).update(cancelled_at=now, cancel_reason=NO_SERIES)
        if created or cancelled:
            audit_record(
                by=by, action=AuditAction.UPDATE, object_type="measure_schedule",
                object_id=episode.id, patient_id=episode.patient_id,
                organization_id=episode.organization_id, actor_email="" if by else "openkap",
                detail={"created": [f"{a.occasion}:{a.occasion_key}:{a.instrument_id}" for a in created],
                        "cancelled": cancelled},
            )
    return len(created)


def sync_all_schedules() -> tuple[int, int]:
    """Every open episode's schedule brought up to date (the upgrade backfill): how many
    episodes were checked and how many measures were created. Audited per episode as
    the system's own change."""
    episodes = created = 0
    for episode in Episode.objects.filter(state__in=OPEN_STATES).order_by("id").iterator():
        episodes += 1
        created += sync_schedule(episode, by=None)
    return episodes, created


def schedule_after_integration(
    *, by: Actor, episode_id: int, dosing_session_id: int, held_at: datetime
) -> list[MeasureAssignment]:
    """The scheduling/pathway apps call this when an integration session is held: the
    plan's after-integration measures fall due at once (keyed by the dosing session it
    integrates, so a repeat call does not duplicate them)."""
    with transaction.atomic():
        episode, _ = _episode_for(by, episode_id, Perm.MEASURE_ASSIGN)
        if not DosingSession.objects.filter(id=dosing_session_id, episode=episode).exists():
            raise ValidationError({"dosing_session_id": "No such dosing session in this episode."})
        plan = _ensure_plan(episode)
        number = DosingSession.objects.filter(
            episode=episode, scheduled_start__lte=DosingSession.objects.get(id=dosing_session_id).scheduled_start
        ).exclude(status=DosingSession.Status.CANCELLED).count()
        slot = _Slot(Occasion.AFTER_INTEGRATION, f"dosing:{dosing_session_id}",
                     f"After integration of session {number}", held_at,
                     held_at + schedule.AFTER_INTEGRATION_WINDOW)
        created = _place(episode, plan, [slot], now=timezone.now())
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_schedule", object_id=episode.id,
            patient_id=episode.patient_id,
            detail={"after_integration_of": dosing_session_id, "created": len(created)},
        )
    return created


def schedule_reassessment(*, by: Actor, episode_id: int, at: datetime | None = None) -> list[MeasureAssignment]:
    """The plan's reassessment measures, due from `at` (now) for a week."""
    at = at or timezone.now()
    with transaction.atomic():
        episode, _ = _episode_for(by, episode_id, Perm.MEASURE_ASSIGN)
        plan = _ensure_plan(episode)
        slot = _Slot(Occasion.REASSESSMENT, "", "Reassessment", at, at + schedule.REASSESSMENT_WINDOW)
        created = _place(episode, plan, [slot], now=timezone.now())
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_schedule", object_id=episode.id,
            patient_id=episode.patient_id, detail={"reassessment": True, "created": len(created)},
        )
    return created


def measure_plan_update(*, by: Actor, episode_id: int, plan: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Replace the episode's measure schedule. Open measures of instruments taken off an
    occasion are cancelled; new ones are scheduled at once."""
    wanted: dict[str, set[str]] = {}
    for occasion, ids in plan.items():
        if occasion not in schedule.SCHEDULED_OCCASIONS:
            raise ValidationError({"plan": f"{occasion!r} is not a scheduled occasion."})
        wanted[occasion] = {_valid_instrument_id(i, "plan") for i in ids}
    with transaction.atomic():
        episode, glass = _episode_for(by, episode_id, Perm.MEASURE_ASSIGN)
        Episode.objects.select_for_update().filter(pk=episode.pk).first()  # one plan edit at a time
        before = {o: set(ids) for o, ids in _ensure_plan(episode).items()}
        after = {o: wanted.get(o, set()) for o in schedule.SCHEDULED_OCCASIONS}
        MeasurePlanEntry.objects.filter(episode=episode).delete()
        MeasurePlanEntry.objects.bulk_create(
            [
                MeasurePlanEntry(organization=by.organization, episode=episode, occasion=o, instrument_id=i)
                for o, ids in after.items() for i in sorted(ids)
            ]
        )
        now = timezone.now()
        for occasion in schedule.SCHEDULED_OCCASIONS:
            removed = before.get(occasion, set()) - after[occasion]
            if removed:
                MeasureAssignment.objects.filter(
                    episode=episode, occasion=occasion, instrument_id__in=removed,
                    completed_at__isnull=True, cancelled_at__isnull=True,
                ).update(cancelled_at=now, cancelled_by=by.user, cancel_reason="Taken off the measure schedule")
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_plan", object_id=episode.id,
            patient_id=episode.patient_id, break_glass=glass,
            detail={"before": {o: sorted(v) for o, v in before.items()},
                    "after": {o: sorted(v) for o, v in after.items()}},
        )
        sync_schedule(episode, by=by, now=now)
    return {o: sorted(v) for o, v in after.items()}


def measure_assign(
    *, by: Actor, patient_id: int, instrument_id: str, due_at: datetime | None = None,
    episode_id: int | None = None,
) -> MeasureAssignment:
    """An additional measure for the patient's open episode, due now (or at `due_at`)."""
    instrument_id = _valid_instrument_id(instrument_id)
    now = timezone.now()
    due_at = due_at or now
    if due_at > now + timedelta(days=366) or due_at < now - timedelta(days=1):
        raise ValidationError({"due_at": "Choose a due date from today to a year ahead."})
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.MEASURE_ASSIGN)
        episode = _open_episode(patient, episode_id)
        assignment = MeasureAssignment.objects.create(
            organization=by.organization, patient=patient, episode=episode, instrument_id=instrument_id,
            occasion=Occasion.AD_HOC, occasion_key=f"manual:{uuid.uuid4().hex[:16]}",
            occasion_label="Additional", due_at=due_at, overdue_at=due_at + schedule.AD_HOC_WINDOW,
            assigned_by=by.user,
        )
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="measure_assignment", object_id=assignment.id,
            patient_id=patient.id, break_glass=glass, detail={"instrument": instrument_id},
        )
    return assignment


def _open_episode(patient: Patient, episode_id: int | None) -> Episode:
    if episode_id is not None:
        episode = Episode.objects.filter(id=episode_id, patient=patient).first()
        if episode is None:
            raise ValidationError({"episode_id": "No such episode for this patient."})
        return episode
    episode = current_episode(patient)
    if episode is None:
        raise ValidationError({"__all__": "The patient has no open episode of care: open one first."})
    return episode


def assignment_cancel(*, by: Actor, assignment_id: int, reason: str) -> MeasureAssignment:
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 200:
        raise ValidationError({"reason": "Give a reason (3 to 200 characters)."})
    with transaction.atomic():
        assignment = _staff_assignment(by, assignment_id, Perm.MEASURE_ASSIGN, lock=True)
        if not assignment.is_open:
            raise ValidationError({"reason": "This measure is already completed or cancelled."})
        assignment.cancelled_at = timezone.now()
        assignment.cancelled_by = by.user
        assignment.cancel_reason = reason
        assignment.save(update_fields=["cancelled_at", "cancelled_by", "cancel_reason"])
        MeasureLink.objects.filter(assignment=assignment, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=assignment.cancelled_at
        )
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_assignment", object_id=assignment.id,
            patient_id=assignment.patient_id, reason=reason, detail={"cancelled": True},
        )
    return assignment


def _staff_assignment(by: Actor, assignment_id: int, perm: Perm, *, lock: bool = False) -> MeasureAssignment:
    qs = MeasureAssignment.objects.filter(id=assignment_id, organization=by.organization)
    if lock:
        qs = qs.select_for_update()
    assignment = qs.first()
    if assignment is None:
        raise Http404("No such measure in your organisation.")
    patient_for(by, assignment.patient_id, perm)
    return assignment
