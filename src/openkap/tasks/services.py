"""Writes of the task inbox: raising a task (in the caller's transaction), resolving it
with a note. Who may see a task is decided here once (``task_for``) and in
``selectors._visible_tasks`` for lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from openkap.accounts.authz import Actor, Denied, require
from openkap.accounts.models import Membership, Organization
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm, Role, allows
from openkap.patients.models import CareTeamMember, Patient
from openkap.patients.selectors import active_break_glass
from openkap.tasks.models import Task, TaskAssignee

# A task about a positive suicide-risk answer: clinical content (see _safety_task_visible).
SAFETY_TASK_KIND = "safety_flag"
NOTE_MIN_CHARS = 10
MAX_NOTE = 4000


def task_create(
    *,
    by: Actor | None,
    organization: Organization,
    kind: str,
    title: str,
    patient: Patient | None = None,
    priority: str = Task.Priority.ROUTINE,
    detail: str = "",
    data: Mapping[str, Any] | None = None,
    subject_type: str = "",
    subject_id: object = "",
    assignee_ids: Iterable[int] = (),
    assigned_role: str = "",
    due_at: datetime | None = None,
    notify: bool = False,
) -> Task:
    """Raise a task for named users and/or everyone holding a role. Runs in the caller's
    transaction (a task raised by a write commits or rolls back with that write).

    For other apps too: `kind` is a short slug of theirs ("integration_due", ...)."""
    if priority not in Task.Priority.values:
        raise ValidationError({"priority": "Choose routine, urgent or emergency."})
    if assigned_role and assigned_role not in {r.value for r in Role}:
        raise ValidationError({"assigned_role": "Unknown role."})
    user_ids = sorted(set(assignee_ids))
    if user_ids and Membership.objects.filter(
        organization=organization, user_id__in=user_ids, is_active=True
    ).values("user_id").distinct().count() != len(user_ids):
        raise ValidationError({"assignee_ids": "Every assignee must be staff of this organisation."})
    if not user_ids and not assigned_role:
        raise ValidationError({"assignee_ids": "A task needs an assignee or a role."})
    with transaction.atomic():
        task = Task.objects.create(
            organization=organization, patient=patient, kind=kind[:40], priority=priority,
            title=title[:200], detail=detail, data=dict(data or {}), subject_type=subject_type[:64],
            subject_id=str(subject_id)[:64], assigned_role=assigned_role, due_at=due_at,
            created_by=by.user if by else None,
        )
        TaskAssignee.objects.bulk_create(
            [TaskAssignee(organization=organization, task=task, user_id=u) for u in user_ids]
        )
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="task", object_id=task.id,
            patient_id=patient.id if patient else None, organization_id=organization.id,
            actor_email="" if by else "openkap",
            detail={"kind": kind, "priority": priority, "assignees": user_ids, "role": assigned_role},
        )
        if notify:
            _notify_assignees_on_commit(task, user_ids, assigned_role)
    return task


def _notify_assignees_on_commit(task: Task, user_ids: list[int], role: str) -> None:
    """An email without patient details: the task itself is behind sign-in and MFA."""
    recipients_q = Membership.objects.filter(organization_id=task.organization_id, is_active=True)
    recipients_q = recipients_q.filter(user_id__in=user_ids) if user_ids else recipients_q.filter(role=role)
    emails = sorted(set(recipients_q.values_list("user__email", flat=True)))
    if not emails:
        return
    link = settings.SITE_URL.rstrip("/") + reverse("tasks:detail", args=[task.id])
    label = task.get_priority_display()
    article = "An" if label[0] in "AEIOU" else "A"
    transaction.on_commit(
        lambda: send_mail(
            subject=f"[OpenKAP] {label} task for a patient in your care",
            message=f"{article} {label.lower()} task was raised for a patient in your care.\n\n"
            f"Sign in to review it: {link}\n",
            from_email=None,
            recipient_list=emails,
            fail_silently=True,
        )
    )


def _safety_task_visible(by: Actor, patient_id: int) -> bool:
    """A safety task shows a patient's answers about suicide: clinical content, for
    those who may read the clinical record (care team, nurses, break-glass), never
    for an admin's registry role."""
    on_team = CareTeamMember.objects.filter(
        patient_id=patient_id, user=by.user, ended_at__isnull=True
    ).exists()
    glass = not on_team and active_break_glass(user_id=by.user.id, patient_id=patient_id) is not None
    return allows(by.roles, Perm.CLINICAL_VIEW, on_care_team=on_team, break_glass_active=glass)


def _task_visible(by: Actor, task: Task) -> bool:
    if task.kind == SAFETY_TASK_KIND and task.patient_id is not None:
        return _safety_task_visible(by, task.patient_id)
    if by.roles & {Role.ADMIN, Role.NURSE}:
        return True
    if task.assigned_role and task.assigned_role in by.roles:
        return True
    if task.assignees.filter(user=by.user).exists():
        return True
    return task.patient_id is not None and CareTeamMember.objects.filter(
        patient_id=task.patient_id, user=by.user, ended_at__isnull=True
    ).exists()


def task_for(by: Actor, task_id: int, perm: Perm = Perm.TASK_VIEW) -> Task:
    """404 outside the organisation, 403 for a task the actor neither holds nor cares for."""
    task = Task.objects.filter(id=task_id, organization=by.organization).select_related("patient").first()
    if task is None:
        raise Http404("No such task in your organisation.")
    require(by, perm)
    if not _task_visible(by, task):
        if task.kind == SAFETY_TASK_KIND and by.can(Perm.CLINICAL_VIEW):
            raise Denied(
                "This safety task is for the patient's care team.", perm=perm, patient_id=task.patient_id,
                care_team=True,
            )
        raise Denied("This task is for another team.", perm=perm, patient_id=task.patient_id)
    return task


def task_resolve(*, by: Actor, task_id: int, note: str) -> Task:
    """Close a task with a note saying what was done (required)."""
    note = (note or "").strip()
    if len(note) < NOTE_MIN_CHARS:
        raise ValidationError({"note": f"Say what was done (at least {NOTE_MIN_CHARS} characters)."})
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": f"Keep the note under {MAX_NOTE} characters."})
    with transaction.atomic():
        task = task_for(by, task_id, Perm.TASK_RESOLVE)
        task = Task.objects.select_for_update().get(pk=task.pk)
        if task.resolved_at is not None:
            raise ValidationError({"note": "This task was already resolved."})
        task.resolved_at = timezone.now()
        task.resolved_by = by.user
        task.resolution_note = note
        task.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="task", object_id=task.id,
            patient_id=task.patient_id, reason=note, detail={"resolved": True, "kind": task.kind},
        )
    return task
