from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from openkap.pathway.services import integration_overdue_tasks


class Command(BaseCommand):
    help = (
        "Raise a task for each dosing session whose integration session is overdue "
        "(run daily, e.g. from cron; a session gets one task)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        raised = integration_overdue_tasks()
        self.stdout.write(f"{len(raised)} integration task(s) raised.")
