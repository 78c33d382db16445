from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, User


class ExportJob(models.Model):
    """A Bulk Data $export: who asked, for what, and where its NDJSON files are. The
    public id is a random UUID so that a status or file URL cannot be guessed; it is
    still served only to the requester."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    class Level(models.TextChoices):
        SYSTEM = "system", "System"
        PATIENT = "patient", "All patients"
        GROUP = "group", "Group"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    backend_client = models.ForeignKey(
        "BackendClient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    api_token_id = models.BigIntegerField(null=True, blank=True)
    level = models.CharField(max_length=10, choices=Level.choices)
    group_id = models.CharField(max_length=64, blank=True)
    types = models.JSONField(default=list)
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.CharField(max_length=200, blank=True)
    output = models.JSONField(default=list, blank=True, help_text="[{type, file, count}]")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="fhir_export_org_time")]

    def __str__(self) -> str:
        return f"$export {self.id} ({self.status})"


class BackendClient(models.Model):
    """A system registered for SMART Backend Services: its public keys (JWKS) verify the
    signed assertions it sends for a token; its scopes bound what any token may do. It
    acts through a user of its own, so every audit row and record names it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    client_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    jwks = models.JSONField(help_text='{"keys": [public JWKs with kid, RS384 or ES384]}')
    scopes = models.TextField(help_text="Space-separated scopes the client may be granted")
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="backend_client")
    registered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class BackendToken(models.Model):
    """An access token issued to a backend client: only its hash is kept; it expires."""

    client = models.ForeignKey(BackendClient, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"token of {self.client_id} until {self.expires_at:%H:%M}"


class UsedAssertion(models.Model):
    """The jti of each accepted client assertion until it expires: a replayed assertion
    is refused."""

    client = models.ForeignKey(BackendClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "jti"], name="fhir_assertion_unique_jti")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.jti}"
