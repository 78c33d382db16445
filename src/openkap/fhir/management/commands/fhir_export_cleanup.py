"""Delete the files of expired (and cancelled or failed) FHIR exports. Each export task
also does this when it starts; run this from cron where exports are rare."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from openkap.fhir.export import export_cleanup


class Command(BaseCommand):
    help = "Delete the NDJSON files of expired FHIR Bulk Data exports"

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{export_cleanup()} expired export(s) removed")
