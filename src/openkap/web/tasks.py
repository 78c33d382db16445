"""The worker's heartbeat: a task that records that the worker runs, then queues itself
again a minute later. ``/readyz`` reports the worker stale when the last one finished
too long ago (docs/deployment.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django_tasks import task

HEARTBEAT_EVERY = timedelta(seconds=60)
TASK_PATH = "openkap.web.tasks.worker_heartbeat"


def ensure_heartbeat() -> bool:
    """Queue a heartbeat unless one is already waiting; True when one was queued."""
    backend = worker_heartbeat.get_backend()
    if not backend.supports_defer:
        return False
    from django_tasks_db.models import DBTaskResult

    if DBTaskResult.objects.filter(task_path=TASK_PATH, status="READY").exists():
        return False
    worker_heartbeat.using(run_after=timezone.now() + HEARTBEAT_EVERY).enqueue()
    return True


@task()
def worker_heartbeat() -> str:
    ensure_heartbeat()
    return "beat"


def last_heartbeat() -> datetime | None:
    """When the worker last finished a heartbeat (None: never), for /readyz."""
    from django_tasks_db.models import DBTaskResult

    return (DBTaskResult.objects.filter(task_path=TASK_PATH, status="SUCCESSFUL")
            .order_by("-finished_at").values_list("finished_at", flat=True).first())
