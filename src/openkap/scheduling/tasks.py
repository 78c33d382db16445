"""Background work of scheduling: the reminder email a day before an appointment.

Enqueued by the booking service after its commit; the worker (`openkap db_worker`)
runs it at the due time. The task reads the appointment again when it runs, so a
cancelled or already reminded appointment sends nothing, and neither does one moved
since: each reminder is for the start it was queued for, and a move queues its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django_tasks import task

from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.scheduling.models import Appointment

REMINDER_LEAD = timedelta(hours=24)


def enqueue_reminder(appointment_id: int, start: datetime) -> None:
    """Queue the reminder for a day before ``start`` (at once when that is past, or
    when the backend cannot defer, as the immediate backend of the tests)."""
    reminder = send_appointment_reminder
    run_after = start - REMINDER_LEAD
    if reminder.get_backend().supports_defer and run_after > timezone.now():
        reminder = reminder.using(run_after=run_after)
    reminder.enqueue(appointment_id, start.isoformat())


@task()
def send_appointment_reminder(appointment_id: int, start: str) -> str:
    """``start``: the time the reminder was queued for (ISO 8601)."""
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("patient", "site", "room", "organization")
            .filter(id=appointment_id)
            .first()
        )
        if appointment is None or appointment.status != Appointment.Status.BOOKED:
            return "skipped: not booked"
        if appointment.start != datetime.fromisoformat(start):
            return "skipped: moved"
        if appointment.reminder_sent_at is not None:
            return "skipped: already reminded"
        if appointment.start <= timezone.now():
            return "skipped: already started"
        patient = appointment.patient
        if not patient.email:
            return "skipped: no email address"
        appointment.reminder_sent_at = timezone.now()
        appointment.save(update_fields=["reminder_sent_at"])
        audit_record(
            by=None, action=AuditAction.CREATE, object_type="appointment_reminder",
            object_id=appointment.id, patient_id=patient.id,
            organization_id=appointment.organization_id, actor_email="reminder-task",
        )
        local_start = timezone.localtime(appointment.start)
        context = {
            "appointment": appointment,
            "patient": patient,
            "clinic": appointment.organization.name,
            "start": local_start,
            "portal_url": settings.SITE_URL.rstrip("/") + reverse("scheduling:portal_appointments"),
        }
        # Sent inside the transaction: if the mail server refuses, the appointment is
        # not marked as reminded and a re-run of the task tries again.
        with translation.override(patient.preferred_language):  # the patient's language
            send_mail(
                subject=_("Reminder: your appointment at %(clinic)s on %(day)s at %(time)s") % {
                    "clinic": context["clinic"], "day": date_format(local_start, "l d F"), "time": date_format(local_start, "H:i"),
                },
                message=render_to_string("scheduling/reminder_email.txt", context),
                from_email=None,
                recipient_list=[patient.email],
            )
    return "sent"
