"""Writing audit events. Called inside the caller's transaction, so the audit row
commits or rolls back with the change it describes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction, AuditEvent


def audit_record(*, by: Actor | None, **fields: Any) -> AuditEvent:
    """Write one audit event (``audit_event``'s arguments) in the caller's transaction."""
    event = audit_event(by=by, **fields)
    event.save(force_insert=True)
    return event


def audit_event(
    *,
    by: Actor | None,
    action: AuditAction,
    object_type: str = "",
    object_id: object = "",
    patient_id: int | None = None,
    reason: str = "",
    break_glass: bool = False,
    detail: dict[str, Any] | None = None,
    organization_id: int | None = None,
    actor_email: str = "",
    ip: str = "",
    user_agent: str = "",
) -> AuditEvent:
    """The event ``audit_record`` writes, not yet saved: for a writer that inserts it in
    one statement with its own rows (the ledger)."""
    if by is None and organization_id is None and object_type == "user" and str(object_id).isdigit():
        # Sign-in events (logins, failures, lock-outs, MFA, resets) happen before there is
        # an actor: they belong to the user's (first) organisation, so its admins see them.
        organization_id = _home_organization_id(int(str(object_id)))
    return AuditEvent(
        organization_id=by.organization.id if by else organization_id,
        actor_id=by.user.id if by else None,
        actor_email=by.user.email if by else actor_email,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id != "" else "",
        patient_id=patient_id,
        ip=by.ip if by else ip,
        user_agent=by.user_agent if by else user_agent[:400],
        via=by.via if by else "web",
        reason=reason,
        break_glass=break_glass,
        detail=detail or {},
    )


def _home_organization_id(user_id: int) -> int | None:
    from openkap.accounts.models import Membership

    return (Membership.objects.filter(user_id=user_id).order_by("-is_active", "id")
            .values_list("organization_id", flat=True).first())


class AuditedRefusal(ValidationError):
    """A refusal that must stay on the record although the service's transaction rolls
    back (a wrong signature password, say). Whoever turns it into a response — the
    form helper, the API's error handler, the error middleware — writes the audit row
    afterwards, outside the rolled-back transaction, through ``record_refusal``."""

    def __init__(self, message: Any, *, audit: dict[str, Any]):
        super().__init__(message)
        self.audit = audit
        self.recorded = False


def record_refusal(exc: BaseException) -> None:
    if isinstance(exc, AuditedRefusal) and not exc.recorded:
        audit_record(**exc.audit)
        exc.recorded = True
