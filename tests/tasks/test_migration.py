"""The task inbox moved from the measures app to the tasks app without copying a row:
a task (with its assignee) written before the move is the same task after it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

MEASURES_BEFORE = ("measures", "0002_measureresponse_append_only")
BEFORE = [MEASURES_BEFORE, ("tasks", None)]


@pytest.mark.django_db(transaction=True)
def test_tasks_written_before_the_move_are_kept(org, nurse, patient):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state([MEASURES_BEFORE]).apps
    task = old.get_model("measures", "Task").objects.create(
        organization_id=org.id, patient_id=patient.id, kind="safety_flag", priority="urgent",
        title="Safety flag: PHQ-9 item 9 = 2", data={"flag_keys": ["phq9_item9:urgent"]},
    )
    old.get_model("measures", "TaskAssignee").objects.create(organization_id=org.id, task_id=task.id, user_id=nurse.id)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from openkap.tasks.models import Task

    moved = Task.objects.get(pk=task.pk)
    assert (moved.kind, moved.priority, moved.title, moved.patient_id) == (
        "safety_flag", "urgent", "Safety flag: PHQ-9 item 9 = 2", patient.id)
    assert moved.data == {"flag_keys": ["phq9_item9:urgent"]}
    assert list(moved.assignees.values_list("user_id", flat=True)) == [nurse.id]
    # New rows continue the same id sequence (PostgreSQL keeps the table's own sequence).
    later = Task.objects.create(organization=org, kind="integration_due", title="Integration due")
    assert later.pk > task.pk
