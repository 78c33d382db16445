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
