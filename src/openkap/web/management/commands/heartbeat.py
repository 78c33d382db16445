from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from openkap.web.tasks import ensure_heartbeat, worker_heartbeat


class Command(BaseCommand):
    help = "Start the worker's heartbeat (it then re-queues itself every minute); run before `openkap db_worker`."

    def handle(self, *args: Any, **options: Any) -> None:
        if worker_heartbeat.get_backend().supports_defer:
            worker_heartbeat.enqueue()  # at once, so /readyz sees the worker as soon as it starts
        ensure_heartbeat()
        self.stdout.write("Heartbeat queued.")
