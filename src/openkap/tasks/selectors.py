"""Reads of the task inbox: the lists (audited), one task (audited), and counts and
titles for the Today page (no patient data, not audited)."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm
from openkap.patients.models import BreakGlassGrant, CareTeamMember
from openkap.tasks import services
from openkap.tasks.models import Task

# Emergency, urgent, routine.
PRIORITY_ORDER = Case(
    When(priority=Task.Priority.EMERGENCY, then=Value(0)),
    When(priority=Task.Priority.URGENT, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def _visible_tasks(by: Actor) -> QuerySet[Task]:
    require(by, Perm.TASK_VIEW)
    qs = Task.objects.filter(organization=by.organization)
    cared_for = Exists(
        CareTeamMember.objects.filter(patient=OuterRef("patient"), user=by.user, ended_at__isnull=True)
    )
    # Safety tasks are clinical content (services._safety_task_visible says the same for one task).
    safety = Q(kind=services.SAFETY_TASK_KIND, patient__isnull=False)
    if not by.can(Perm.CLINICAL_VIEW):
        qs = qs.exclude(safety)
    if by.roles & ORGANIZATION_WIDE_ROLES:
        return qs
    glass = Exists(
        BreakGlassGrant.objects.filter(patient=OuterRef("patient"), user=by.user, expires_at__gt=timezone.now())
    )
    mine = Q(assignees__user=by.user) | Q(assigned_role__in=[r.value for r in by.roles])
    return qs.filter(
        (~safety & (mine | Q(cared_for))) | (safety & (Q(cared_for) | Q(glass)))
    ).distinct()


def tasks_list(
    *, by: Actor, scope: str = "mine", state: str = "open", page: int = 1, per_page: int = 25
) -> Page[Task]:
    """Open (or resolved) tasks: `mine` are assigned to the actor or their role, `all`
    adds every task the actor may see (their patients' tasks; clinic-wide for admins
    and nurses). Emergencies first, then urgent, oldest first."""
    qs = _visible_tasks(by)
    if scope == "mine":
        qs = qs.filter(Q(assignees__user=by.user) | Q(assigned_role__in=[r.value for r in by.roles])).distinct()
    if state == "resolved":
        qs = qs.filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")
    else:
        qs = qs.filter(resolved_at__isnull=True).order_by(PRIORITY_ORDER, "created_at", "id")
    qs = qs.select_related("patient", "resolved_by")
    result = Paginator(qs, per_page).get_page(page)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="task",
        detail={"scope": scope, "state": state, "task_ids": [t.id for t in result]},
    )
    return result


def _open_mine(by: Actor) -> QuerySet[Task]:
    qs = _visible_tasks(by).filter(resolved_at__isnull=True)
    return qs.filter(Q(assignees__user=by.user) | Q(assigned_role__in=[r.value for r in by.roles])).distinct()


def open_task_count_mine(by: Actor) -> int:
    """The actor's open tasks: one query (no patient data, not audited)."""
    return _open_mine(by).count() if by.can(Perm.TASK_VIEW) else 0


def open_tasks_mine_to_count(by: Actor) -> QuerySet[Task] | None:
    """The actor's open tasks as a query to count inside another (the navigation counts
    them with the hand-offs in one round trip); None without the permission."""
    return _open_mine(by) if by.can(Perm.TASK_VIEW) else None


def open_task_counts(by: Actor) -> dict[str, int]:
    """Counts for the Today page (no patient data, not audited)."""
    if not by.can(Perm.TASK_VIEW):
        return {}
    qs = _visible_tasks(by).filter(resolved_at__isnull=True)
    mine = _open_mine(by)
    return {
        "mine": mine.count(),
        "urgent": mine.exclude(priority=Task.Priority.ROUTINE).count(),
        "visible": qs.count(),
    }


def task_get(*, by: Actor, task_id: int) -> Task:
    task = services.task_for(by, task_id)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="task", object_id=task.id, patient_id=task.patient_id
    )
    return task



def top_open_tasks(by: Actor, limit: int = 5) -> list[Task]:
    """The actor's most pressing open tasks for the Today page: titles only (no patient
    identifiers, so not a read of patient data)."""
    if not by.can(Perm.TASK_VIEW):
        return []
    mine = Q(assignees__user=by.user) | Q(assigned_role__in=[r.value for r in by.roles])
    return list(
        _visible_tasks(by).filter(mine, resolved_at__isnull=True).distinct()
        .order_by(PRIORITY_ORDER, "created_at", "id")
        .only("id", "title", "priority", "created_at")[:limit]
    )
