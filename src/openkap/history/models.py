"""What a history import wrote: one batch per accepted file, and one row per record
it created, keyed by the other system's identifiers so a re-import finds it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, User


class ImportBatch(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10)  # patients, sessions, measures
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    created = models.PositiveIntegerField()
    unchanged = models.PositiveIntegerField()
    skipped_invalid = models.PositiveIntegerField()
    imported_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    via = models.CharField(max_length=10)
    imported_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Import {self.id} of {self.kind} ({self.filename})"


class ImportedRecord(models.Model):
    """A record created by an import: a patient (key: external_id), an imported episode
    (external_id), a held dosing session (external_id|date) or a scored response
    (external_id|instrument|administered_at). `data` keeps what the record's own table
    has no column for (a session's route and dose) and the row's content, so a
    re-import of the same row changes nothing and a changed row is refused."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="records")
    kind = models.CharField(max_length=10)
    key = models.CharField(max_length=200)
    object_id = models.BigIntegerField()
    patient_id = models.BigIntegerField()
    data = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind", "key"], name="history_record_unique_key"),
        ]
        indexes = [models.Index(fields=["organization", "kind", "object_id"], name="history_record_object")]

    def __str__(self) -> str:
        return f"Imported {self.kind} {self.key}"
