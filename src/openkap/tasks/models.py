"""The task inbox's records. The tables keep the names they had when the inbox lived in
the measures app (moved without copying a row: tasks/migrations/0001)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, User
from openkap.patients.models import Patient


class Task(models.Model):
    """A piece of work for the care team (or a role), resolved with a note.

    Generic on purpose: other apps raise their own kinds (integration due, REMS form)
    with `task_create`. `subject_type`/`subject_id` name the record the task is about.
    """

    class Priority(models.TextChoices):
        ROUTINE = "routine", "Routine"
        URGENT = "urgent", "Urgent"
        EMERGENCY = "emergency", "Emergency"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    kind = models.CharField(max_length=40)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.ROUTINE)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    subject_type = models.CharField(max_length=64, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    assigned_role = models.CharField(max_length=20, blank=True, help_text="Everyone with this role may take it")
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolution_note = models.TextField(blank=True)

    class Meta:
        db_table = "measures_task"  # the table it had in the measures app, kept as it was
        indexes = [
            models.Index(fields=["organization", "resolved_at", "priority"], name="task_org_open"),
            models.Index(fields=["organization", "patient", "kind", "resolved_at"], name="task_org_patient"),
            models.Index(fields=["organization", "subject_type", "subject_id"], name="task_org_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.get_priority_display()} task: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class TaskAssignee(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignees")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "measures_taskassignee"
        constraints = [models.UniqueConstraint(fields=["task", "user"], name="task_assignee_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} on task {self.task_id}"
