"""Issue 13, finding 9: /readyz beside /healthz: database, migrations, worker heartbeat."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from openkap.web import views

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def _beat(finished_ago: timedelta) -> None:
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.create(task_path="openkap.web.tasks.worker_heartbeat", status="SUCCESSFUL",
                                args_kwargs={"args": [], "kwargs": {}}, finished_at=timezone.now() - finished_ago)


def test_ready_when_tasks_run_in_process(db):
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready",
                               "checks": {"database": "ok", "migrations": "ok", "worker": "not used"}}


@pytest.mark.parametrize(("ago", "status", "worker"), [
    (timedelta(seconds=30), 200, "ok"),
    (timedelta(minutes=10), 503, "stale since"),
])
def test_the_worker_heartbeat_decides(db, settings, ago, status, worker):
    settings.TASKS = DB_TASKS
    _beat(ago)
    response = Client().get("/readyz")
    assert response.status_code == status
    assert response.json()["checks"]["worker"].startswith(worker)


def test_a_worker_never_seen_is_not_ready(db, settings):
    settings.TASKS = DB_TASKS
    assert Client().get("/readyz").json()["checks"]["worker"] == "never seen"


def test_unapplied_migrations_are_not_ready(db, monkeypatch):
    monkeypatch.setattr(views, "_unapplied_migrations", lambda: 2)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "2 not applied"


def test_the_heartbeat_task_requeues_itself_once(db, settings):
    from django_tasks_db.models import DBTaskResult

    from openkap.web.tasks import ensure_heartbeat

    settings.TASKS = DB_TASKS
    assert ensure_heartbeat()
    assert not ensure_heartbeat()  # one waiting is enough
    assert DBTaskResult.objects.filter(status="READY").count() == 1
