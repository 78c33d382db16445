"""Status changes: cancellation, no-show and completion (also when a dosing session ends)."""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.dosing import services as dosing
from openkap.dosing.models import DosingSession
from openkap.patients.selectors import patient_for
from openkap.scheduling.models import (
    Appointment,
)


def _locked_appointment(by: Actor, appointment_id: int) -> tuple[Appointment, bool]:
    require(by, Perm.APPOINTMENT_BOOK)
    found = Appointment.objects.filter(id=appointment_id, organization=by.organization).first()
    if found is None:
        raise Http404("No such appointment in your organisation.")
    _, glass = patient_for(by, found.patient_id, Perm.APPOINTMENT_BOOK)
    if found.dosing_session_id is not None:
        DosingSession.objects.lock_before_appointment(found.dosing_session_id)
    appointment = (
        Appointment.objects.select_for_update(of=("self",)).select_related("patient", "dosing_session").get(pk=found.pk)
    )
    return appointment, glass


def _appointment_for_update(by: Actor, appointment_id: int) -> tuple[Appointment, bool]:
    appointment, glass = _locked_appointment(by, appointment_id)
    if appointment.status != Appointment.Status.BOOKED:
        raise ValidationError(
            {"status": f"This appointment is already {appointment.get_status_display().lower()}."}
        )
    return appointment, glass


def _set_status(
    by: Actor, appointment: Appointment, status: str, glass: bool, detail: dict[str, Any] | None = None,
    **extra: object,
) -> None:
    appointment.status = status
    appointment.status_changed_at = timezone.now()
    appointment.status_changed_by = by.user
    appointment.sequence += 1
    for name, value in extra.items():
        setattr(appointment, name, value)
    appointment.save()
    audit_record(
        by=by, action=AuditAction.UPDATE, object_type="appointment", object_id=appointment.id,
        patient_id=appointment.patient_id, break_glass=glass,
        reason=str(extra.get("cancellation_reason", "")), detail={"status": status} | (detail or {}),
    )


def appointment_cancel(
    *, by: Actor, appointment_id: int, reason: str, by_patient: bool = False
) -> Appointment:
    reason = (reason or "").strip()
    with transaction.atomic():
        appointment, glass = _appointment_for_update(by, appointment_id)
        if len(reason) < 3 or len(reason) > 1000:
            raise ValidationError({"reason": "Say why the appointment is cancelled (3 to 1000 characters)."})
        session = dosing.session_release(by, appointment.dosing_session)
        _set_status(
            by, appointment, Appointment.Status.CANCELLED, glass,
            cancellation_reason=reason, cancelled_by_patient=bool(by_patient),
        )
        if session is not None:
            audit_record(
                by=by, action=AuditAction.UPDATE, object_type="dosing_session", object_id=session.id,
                patient_id=appointment.patient_id, break_glass=glass, detail={"status": session.status},
            )
    return appointment


def _after_start(appointment: Appointment, what: str) -> None:
    if appointment.start > timezone.now():
        raise ValidationError({"status": f"An appointment can be marked {what} only once it has started."})


def appointment_mark_no_show(*, by: Actor, appointment_id: int) -> Appointment:
    with transaction.atomic():
        appointment, glass = _appointment_for_update(by, appointment_id)
        _after_start(appointment, "a no-show")
        session = dosing.session_release(by, appointment.dosing_session)
        _set_status(by, appointment, Appointment.Status.NO_SHOW, glass)
        if session is not None:
            audit_record(
                by=by, action=AuditAction.UPDATE, object_type="dosing_session", object_id=session.id,
                patient_id=appointment.patient_id, break_glass=glass, detail={"status": session.status},
            )
    return appointment


def appointment_complete(*, by: Actor, appointment_id: int) -> Appointment:
    with transaction.atomic():
        appointment, glass = _appointment_for_update(by, appointment_id)
        _after_start(appointment, "completed")
        _set_status(by, appointment, Appointment.Status.COMPLETED, glass)
    return appointment


def appointment_complete_for_session(
    *, by: Actor, session: DosingSession, step: Literal["discharge", "ended_without_dose"],
    break_glass: bool = False,
) -> Appointment | None:
    """The step that closes a dosing session the patient came to (the signed discharge,
    or ``ended_without_dose`` when it ended before any dose) completes the appointment
    booked with it, in that step's own transaction and audited there: the patient
    attended, so neither a cancellation nor a no-show. The closing step (through
    ``dosing.events.session_closed``) has checked its permission and holds the
    session's row lock; one no longer booked, or a session booked without an
    appointment, is left as it is."""
    appointment = (
        Appointment.objects.select_for_update(of=("self",)).filter(dosing_session=session).first()
    )
    if appointment is None or appointment.status != Appointment.Status.BOOKED:
        return appointment
    _set_status(
        by, appointment, Appointment.Status.COMPLETED, break_glass,
        detail={"dosing_session_id": session.id, "on": step},
    )
    return appointment


def on_session_closed(
    sender: object, *, by: Actor, session: DosingSession, step: Literal["discharge", "ended_without_dose"],
    break_glass: bool, **kwargs: object,
) -> None:
    """``dosing.events.session_closed``, received in the closing step's transaction."""
    appointment_complete_for_session(by=by, session=session, step=step, break_glass=break_glass)
