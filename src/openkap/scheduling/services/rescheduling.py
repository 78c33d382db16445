"""Rescheduling: moving an appointment under the same checks as a booking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.dosing import services as dosing
from openkap.dosing.models import DosingSession
from openkap.scheduling.models import (
    Appointment,
    AppointmentMove,
    Participant,
)

from .booking import (
    BookingRequest,
    _iso,
    _lock_resources,
    _parse_booking,
    _problems,
    _refused,
    _remind_after_commit,
)
from .common import ParticipantSpec
from .status import _locked_appointment


def _staff_of(appointment: Appointment) -> list[list[Any]]:
    return sorted([p.user_id, p.role] for p in appointment.participants.all())


def _check_move(
    by: Actor,
    appointment: Appointment,
    *,
    start: datetime | None,
    end: datetime | None,
    site_id: int | None,
    room_id: int | None,
    participants: Sequence[ParticipantSpec] | None,
    reason: str,
    odd_hour_confirmed: bool = False,
) -> BookingRequest:
    """The move as a booking of the same kind and patient: every check of a booking,
    with the appointment itself and its own dosing session left out."""
    if appointment.status != Appointment.Status.BOOKED:
        raise ValidationError({"status": (
            f"This appointment is {appointment.get_status_display().lower()}: only a booked "
            "appointment can be moved. Book a new one instead."
        )})
    session = appointment.dosing_session
    if session is not None and session.status != DosingSession.Status.SCHEDULED:
        raise ValidationError({"status": (
            f"The dosing session is already {session.get_status_display().lower()}: "
            "it can no longer be moved."
        )})
    if site_id is None and room_id is None:
        site_id = appointment.site_id if appointment.room_id is None else None
        room_id = appointment.room_id
    if participants is None:
        participants = [(user_id, role) for user_id, role in _staff_of(appointment)]
    errors: dict[str, list[str]] = {}
    if not 3 <= len(reason) <= 1000:
        errors["reason"] = ["Say why the appointment is moved (3 to 1000 characters)."]
    try:
        req = _parse_booking(
            by, appointment.patient, kind=appointment.kind, start=start, end=end, site_id=site_id,
            room_id=room_id, participants=participants, patient_instructions=appointment.patient_instructions,
            allow_past=False, usual_minutes=appointment.minutes, odd_hour_confirmed=odd_hour_confirmed,
        )
    except ValidationError as exc:
        raise ValidationError(exc.message_dict | errors) from exc
    if errors:
        raise ValidationError(errors)
    if session is not None and (req.episode is None or req.episode.id != session.episode_id):
        raise ValidationError({"episode": (
            "The dosing session belongs to an episode of care that is no longer open: "
            "cancel it and book a new one."
        )})
    unchanged = (
        (req.start, req.end, req.site.id, req.room.id if req.room else None)
        == (appointment.start, appointment.end, appointment.site_id, appointment.room_id)
        and sorted([u.id, role] for u, role in req.participants) == _staff_of(appointment)
    )
    if unchanged:
        raise ValidationError({"start": "This is already the appointment's time, place and staff: nothing to move."})
    _lock_resources(req)
    problems = _problems(by, req, moving=appointment, session=session)
    if problems:
        raise ValidationError(problems)
    return req


def appointment_reschedule(
    *,
    by: Actor,
    appointment_id: int,
    start: datetime | None,
    reason: str,
    end: datetime | None = None,
    site_id: int | None = None,
    room_id: int | None = None,
    participants: Sequence[ParticipantSpec] | None = None,
    odd_hour_confirmed: bool = False,
) -> Appointment:
    """Move a booked appointment to another time, and if given another room (or site,
    for video) and other staff, with every check of a booking: conflicts naming the
    other appointment, the dosing guard, the monitoring window and the protocol's
    interval. Without ``end`` it keeps its length; without a place or staff, its own.

    The appointment keeps its id and its dosing session (whose booked start moves
    with it); the move is recorded with its reason and audited, and the reminder is
    queued again for the new time (one queued for the old time skips itself)."""
    reason = (reason or "").strip()
    with transaction.atomic():
        appointment, glass = _locked_appointment(by, appointment_id)
        before_staff = _staff_of(appointment)
        try:
            req = _check_move(
                by, appointment, start=start, end=end, site_id=site_id, room_id=room_id,
                participants=participants, reason=reason, odd_hour_confirmed=odd_hour_confirmed,
            )
        except ValidationError as exc:
            raise _refused(
                by, exc, what="reschedule", patient_id=appointment.patient_id, glass=glass,
                appointment_id=appointment.id, start=_iso(start), room_id=room_id, site_id=site_id,
            ) from exc
        after_staff = sorted([user.id, role] for user, role in req.participants)
        move = AppointmentMove.objects.create(
            organization=by.organization, appointment=appointment, moved_by=by.user, reason=reason,
            from_start=appointment.start, from_end=appointment.end, from_site_id=appointment.site_id,
            from_room_id=appointment.room_id, from_participants=before_staff,
            to_start=req.start, to_end=req.end, to_site=req.site, to_room=req.room, to_participants=after_staff,
        )
        appointment.start, appointment.end, appointment.site, appointment.room = req.start, req.end, req.site, req.room
        # The patient is reminded again, for the new time.
        appointment.reminder_sent_at = None
        appointment.sequence += 1
        appointment.save(update_fields=["start", "end", "site", "room", "reminder_sent_at", "sequence"])
        if after_staff != before_staff:
            appointment.participants.all().delete()
            Participant.objects.bulk_create(
                Participant(organization=by.organization, appointment=appointment, user=user, role=role)
                for user, role in req.participants
            )
        if appointment.dosing_session is not None:
            dosing.session_move(
                by=by, session=appointment.dosing_session, start=req.start, site=req.site, room=req.room,
                break_glass=glass, appointment_move_id=move.id,
            )
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="appointment", object_id=appointment.id,
            patient_id=appointment.patient_id, break_glass=glass, reason=reason,
            detail={
                "moved": move.id,
                "from": {"start": move.from_start.isoformat(), "end": move.from_end.isoformat(),
                         "site_id": move.from_site_id, "room_id": move.from_room_id, "participants": before_staff},
                "to": {"start": move.to_start.isoformat(), "end": move.to_end.isoformat(),
                       "site_id": move.to_site_id, "room_id": move.to_room_id, "participants": after_staff},
            },
        )
        _remind_after_commit(appointment)
    return appointment
