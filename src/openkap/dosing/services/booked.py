"""A dosing session as the schedule books it: opened with its dosing appointment, moved
with it, cancelled with it while it has not begun. Scheduling asks through these
functions (it holds the appointment's transaction and has checked the permission); the
session's rows are dosing's."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError

from openkap.accounts.authz import Actor
from openkap.accounts.models import Room, Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.dosing.models import DosingSession
from openkap.measures import services as measures
from openkap.pathway.models import Episode
from openkap.patients.models import Patient


def session_book(
    *, by: Actor, patient: Patient, episode: Episode, site: Site, room: Room | None, start: datetime,
    appointment_id: int, break_glass: bool,
) -> DosingSession:
    session = DosingSession.objects.create(
        organization=by.organization, patient=patient, episode=episode, site=site,
        room=room, status=DosingSession.Status.SCHEDULED, scheduled_start=start,
        created_by=by.user,
    )
    audit_record(
        by=by, action=AuditAction.CREATE, object_type="dosing_session", object_id=session.id,
        patient_id=patient.id, break_glass=break_glass, detail={"appointment_id": appointment_id},
    )
    measures.sync_schedule(episode, by=by)  # its pre-dose measures, the follow-ups
    return session


def session_move(
    *, by: Actor, session: DosingSession, start: datetime, site: Site, room: Room | None, break_glass: bool,
    appointment_move_id: int,
) -> DosingSession:
    session.scheduled_start, session.site, session.room = start, site, room
    session.save(update_fields=["scheduled_start", "site", "room"])
    audit_record(
        by=by, action=AuditAction.UPDATE, object_type="dosing_session", object_id=session.id,
        patient_id=session.patient_id, break_glass=break_glass,
        detail={"scheduled_start": start.isoformat(), "room_id": session.room_id,
                "appointment_move_id": appointment_move_id},
    )
    measures.sync_schedule(session.episode, by=by)  # its pre-dose measures move with it
    return session


def session_release(by: Actor, session: DosingSession | None) -> DosingSession | None:
    """A session that has not begun is cancelled with its appointment; one under way
    belongs to the session record and stops the change."""
    if session is None:
        return None
    session = DosingSession.objects.select_for_update().get(pk=session.pk)
    if session.status == DosingSession.Status.CANCELLED:
        return None
    if session.status != DosingSession.Status.SCHEDULED:
        raise ValidationError(
            {"status": f"The dosing session is already under way ({session.get_status_display().lower()}): "
                       "close it in the session record."}
        )
    session.status = DosingSession.Status.CANCELLED
    session.save(update_fields=["status"])
    measures.sync_schedule(session.episode, by=by)  # its pre-dose measures are cancelled
    return session
