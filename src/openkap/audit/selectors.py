from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.records import record_href, record_label
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.csvsafe import SafeWriter
from openkap.patients.selectors import visible_patients


def audit_search(
    *,
    by: Actor,
    patient_id: int | None = None,
    mrn: str = "",
    actor_email: str = "",
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The organisation's audit events, newest first (``audit_rows`` records the reading)."""
    require(by, Perm.AUDIT_VIEW)
    qs = AuditEvent.objects.filter(organization_id=by.organization.id)
    if patient_id is not None:
        qs = qs.filter(patient_id=patient_id)
    if mrn.strip():
        # The reader names a patient by MRN, never by an internal id; one they may not see matches nothing.
        found = visible_patients(by).filter(mrn__iexact=mrn.strip()).values_list("id", flat=True)
        qs = qs.filter(patient_id__in=list(found[:1]))
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


def patient_labels(*, by: Actor, patient_ids: Iterable[int | None]) -> dict[int, tuple[str, str]]:
    """Name and MRN of the listed patients the reader may see (the registry for admins
    and nurses, their care team's patients for clinicians); others stay a number."""
    if not by.can(Perm.PATIENT_VIEW):
        return {}
    ids = {i for i in patient_ids if i is not None}
    return {p.id: (p.display_name, p.mrn) for p in visible_patients(by).filter(id__in=ids)}


@dataclass(frozen=True)
class AuditRow:
    """One audit event as a reviewer reads it."""

    event: AuditEvent
    record: str  # "Medicine session 54"
    record_href: str | None
    patient_name: str | None  # only for a patient the reader may see
    patient_mrn: str | None


def audit_rows(*, by: Actor, events: Iterable[AuditEvent]) -> list[AuditRow]:
    """Events in words: what the record is, a link to it if the reader may open it, and
    the patient's name and MRN if the reader may see the patient. Reading the log is recorded."""
    events = list(events)
    audit_record(by=by, action=AuditAction.VIEW, object_type="audit_log", detail={"events": len(events)})
    labels = patient_labels(by=by, patient_ids=[e.patient_id for e in events])
    rows = []
    for e in events:
        name, mrn = labels.get(e.patient_id, (None, None)) if e.patient_id is not None else (None, None)
        rows.append(AuditRow(
            event=e, record=record_label(e.object_type, e.object_id),
            record_href=record_href(by, e, patient_visible=name is not None),
            patient_name=name, patient_mrn=mrn,
        ))
    return rows


CSV_COLUMNS = [
    "occurred_at", "actor_email", "action", "object_type", "object_id", "record", "patient_id",
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
        yield writer.writerow([_csv_value(event, c) for c in CSV_COLUMNS])


def _csv_value(event: AuditEvent, column: str) -> object:
    if column == "occurred_at":
        return event.occurred_at.isoformat()
    if column == "record":
        return record_label(event.object_type, event.object_id)
    return getattr(event, column)


# --- sign-in security ------------------------------------------------------------------------------------

SECURITY_ACTIONS = [
    AuditAction.LOGIN, AuditAction.LOGIN_FAILED, AuditAction.LOCKED_OUT, AuditAction.UNLOCK,
    AuditAction.MFA_ENROLLED, AuditAction.MFA_FAILED, AuditAction.MFA_RECOVERY_USED, AuditAction.PASSWORD_RESET,
]
SECURITY_DAYS = 30


@dataclass(frozen=True)
class UserSecurity:
    email: str
    full_name: str
    locked: bool
    sign_ins: int
    failures: int
    addresses: list[str]
    new_addresses: list[str]  # first seen in the window
    last_sign_in: datetime | None


@dataclass(frozen=True)
class SecurityOverview:
    since: datetime
    users: list[UserSecurity]
    failures: list[AuditEvent]
    lockouts: list[AuditEvent]


def _security_events(by: Actor) -> QuerySet[AuditEvent]:
    """Sign-in events of the organisation: recorded under it, or by one of its members
    (a member of several organisations is recorded under the first)."""
    from openkap.accounts.models import Membership

    emails = Membership.objects.filter(organization=by.organization).values_list("user__email", flat=True)
    return AuditEvent.objects.filter(action__in=SECURITY_ACTIONS).filter(
        Q(organization_id=by.organization.id) | Q(actor_email__in=list(emails))
    )


def security_overview(*, by: Actor, days: int = SECURITY_DAYS) -> SecurityOverview:
    """Failed sign-ins, lock-outs, and per member: sign-ins, failures, addresses, and
    addresses not seen before the window. Reviewing it is itself audited."""
    from openkap.accounts.models import User

    require(by, Perm.AUDIT_VIEW)
    since = timezone.now() - timedelta(days=days)
    events = _security_events(by)
    recent = list(events.filter(occurred_at__gte=since).order_by("-occurred_at", "-id")[:5000])
    seen_before: set[tuple[str, str]] = set(
        events.filter(occurred_at__lt=since, action=AuditAction.LOGIN).values_list("actor_email", "ip").distinct()
    )
    members = User.objects.filter(memberships__organization=by.organization).distinct().order_by("full_name")
    users = []
    for user in members:
        mine = [e for e in recent if e.actor_email == user.email]
        ins = [e for e in mine if e.action == AuditAction.LOGIN]
        addresses = sorted({e.ip for e in ins if e.ip})
        users.append(UserSecurity(
            email=user.email, full_name=user.full_name,
            locked=bool(user.locked_until and user.locked_until > timezone.now()),
            sign_ins=len(ins),
            failures=sum(e.action in (AuditAction.LOGIN_FAILED, AuditAction.MFA_FAILED) for e in mine),
            addresses=addresses,
            new_addresses=[a for a in addresses if (user.email, a) not in seen_before],
            last_sign_in=ins[0].occurred_at if ins else None,
        ))
    audit_record(by=by, action=AuditAction.VIEW, object_type="security_overview", detail={"days": days})
    return SecurityOverview(
        since=since, users=users,
        failures=[e for e in recent if e.action in (AuditAction.LOGIN_FAILED, AuditAction.MFA_FAILED)][:200],
        lockouts=[e for e in recent if e.action == AuditAction.LOCKED_OUT],
    )


def security_csv_rows(*, by: Actor, days: int = SECURITY_DAYS) -> Iterator[str]:
    """The window's sign-in events as CSV (through the shared formula-safe writer)."""
    require(by, Perm.AUDIT_VIEW)
    audit_record(by=by, action=AuditAction.EXPORT, object_type="security_events", detail={"days": days})
    since = timezone.now() - timedelta(days=days)
    writer = SafeWriter(_Echo())
    yield writer.writerow([*CSV_COLUMNS, "why"])
    for event in _security_events(by).filter(occurred_at__gte=since).order_by("-occurred_at", "-id").iterator(
        chunk_size=2000
    ):
        yield writer.writerow([_csv_value(event, c) for c in CSV_COLUMNS] + [str(event.detail.get("why", ""))])
