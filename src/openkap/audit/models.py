from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    VIEW = "view", "Viewed"
    SEARCH = "search", "Searched"
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    EXPORT = "export", "Exported"
    LOGIN = "login", "Logged in"
    LOGOUT = "logout", "Logged out"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOCKED_OUT = "locked_out", "Locked out"
    UNLOCK = "unlock", "Unlocked"
    MFA_ENROLLED = "mfa_enrolled", "MFA enrolled"
    MFA_FAILED = "mfa_failed", "MFA failed"
    MFA_RECOVERY_USED = "mfa_recovery_used", "Recovery code used"
    PASSWORD_RESET = "password_reset", "Password reset"
    PERMISSION_DENIED = "permission_denied", "Permission denied"
    REFUSED = "refused", "Refused by a rule"
    BREAK_GLASS = "break_glass", "Break-glass access"
    INVITE = "invite", "Invited"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API token revoked"


class AuditEvent(models.Model):
    """Append-only record of who did what to which record, when, from where and why.

    References are stored as plain values, not foreign keys, so that the log never
    cascades or blocks on changes elsewhere; UPDATE and DELETE are refused by a
    database trigger (migration 0002).
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    organization_id = models.BigIntegerField(null=True)  # indexed first in audit_org_time
    actor_id = models.BigIntegerField(null=True, db_index=True)
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)  # Meta.indexes: no LIKE copy
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, db_index=True)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    via = models.CharField(max_length=10, blank=True)
    reason = models.TextField(blank=True)
    break_glass = models.BooleanField(default=False)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization_id", "occurred_at"], name="audit_org_time"),
            models.Index(fields=["action"], name="audit_action"),
        ]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_email} {self.action} {self.object_type}:{self.object_id}"


class AuditSeal(models.Model):
    """A batch of audit events sealed into the log's hash chain (openkap.core.auditchain).

    Written only by ``openkap audit seal`` (run every few minutes), never on a user's
    request; append-only like the events (migration 0005)."""

    number = models.PositiveBigIntegerField(unique=True)
    first_event_id = models.BigIntegerField()
    last_event_id = models.BigIntegerField()
    # Every sealed id, as ranges ("1-500,502-900"): verify names exactly which are missing.
    event_ids = models.TextField()
    event_count = models.PositiveIntegerField()
    events_digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    seal_hash = models.CharField(max_length=64, unique=True)
    sealed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"seal #{self.number} (events {self.first_event_id}–{self.last_event_id})"
