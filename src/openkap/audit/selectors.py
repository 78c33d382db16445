from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time

from django.db.models import QuerySet
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.csvsafe import SafeWriter


def audit_search(
    *,
    by: Actor,
    patient_id: int | None = None,
    actor_email: str = "",
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The organisation's audit events, newest first. Reviewing the log is itself logged."""
    require(by, Perm.AUDIT_VIEW)
    qs = AuditEvent.objects.filter(organization_id=by.organization.id)
    if patient_id is not None:
        qs = qs.filter(patient_id=patient_id)
    if actor_email:
        qs = qs.filter(actor_email__icontains=actor_email.strip().lower())
    if action:
        qs = qs.filter(action=action)
    tz = timezone.get_current_timezone()
    if date_from:
        qs = qs.filter(occurred_at__gte=datetime.combine(date_from, time.min, tzinfo=tz))
    if date_to:
        qs = qs.filter(occurred_at__lte=datetime.combine(date_to, time.max, tzinfo=tz))
    return qs.order_by("-occurred_at", "-id")


CSV_COLUMNS = [
    "occurred_at", "actor_email", "action", "object_type", "object_id", "patient_id",
    "ip", "user_agent", "via", "reason", "break_glass",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_csv_rows(*, by: Actor, events: QuerySet[AuditEvent], filters: dict[str, str]) -> Iterator[str]:
    """CSV lines for a streamed export; the export is recorded before the first row."""
    require(by, Perm.AUDIT_VIEW)
    audit_record(by=by, action=AuditAction.EXPORT, object_type="audit_log", detail={"filters": filters})
    writer = SafeWriter(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        yield writer.writerow([
            event.occurred_at.isoformat() if c == "occurred_at" else getattr(event, c) for c in CSV_COLUMNS
        ])
