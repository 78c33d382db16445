from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from openkap.measures.services import sync_all_schedules


class Command(BaseCommand):
    help = (
        "Bring every open episode's scheduled measures in line with its events (run once "
        "after upgrading: schedules used to be filled in when measures were read)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        episodes, created = sync_all_schedules()
        self.stdout.write(f"{episodes} open episode(s) checked, {created} measure(s) scheduled.")
