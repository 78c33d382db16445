"""Appointment types: the clinic's usual length of each kind of appointment."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.scheduling.models import (
    AppointmentKind,
    AppointmentType,
)

from .common import MAX_MINUTES, MIN_MINUTES


def appointment_type_set_minutes(*, by: Actor, kind: str, minutes: int) -> AppointmentType:
    require(by, Perm.SCHEDULE_MANAGE)
    errors: dict[str, str] = {}
    if kind not in AppointmentKind.values:
        errors["kind"] = "Choose one of the appointment types."
    if not isinstance(minutes, int) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        errors["minutes"] = f"Give a duration between {MIN_MINUTES} and {MAX_MINUTES} minutes."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row, _ = AppointmentType.objects.update_or_create(
            organization=by.organization, kind=kind,
            defaults={"default_minutes": minutes, "updated_by": by.user, "updated_at": timezone.now()},
        )
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="appointment_type", object_id=row.id,
            detail={"kind": kind, "minutes": minutes},
        )
    return row
