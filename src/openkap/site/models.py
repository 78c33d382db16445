from __future__ import annotations

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, User


class SiteSection(models.Model):
    """One version of one public page section of an organisation, in one language.

    Versions are only ever added: the newest is published, older ones are the history
    (who changed what, when). An organisation without a version shows the default text
    shipped in ``openkap/site/content/<language>/<key>.md``."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=32)
    language = models.CharField(max_length=8)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    description = models.CharField(max_length=300)
    body = models.TextField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key", "language", "version"], name="site_section_unique_version"
            )
        ]
        ordering = ["organization", "key", "language", "-version"]

    def __str__(self) -> str:
        return f"{self.key} ({self.language}) v{self.version}"
