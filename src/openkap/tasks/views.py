"""The task inbox pages: the list (mine, all I can see, resolved) and one task, resolved
with a note."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from openkap.accounts.authz import Actor
from openkap.core.authz import Perm
from openkap.tasks import selectors, services
from openkap.tasks.forms import TaskResolveForm
from openkap.tasks.models import Task
from openkap.web.decorators import apply_errors, staff_view
from openkap.web.paging import page_number


@staff_view(Perm.TASK_VIEW)
def task_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    scope = "all" if request.GET.get("scope") == "all" else "mine"
    state = "resolved" if request.GET.get("state") == "resolved" else "open"
    page = selectors.tasks_list(by=actor, scope=scope, state=state, page=page_number(request))
    return TemplateResponse(request, "tasks/task_list.html", {"page": page, "scope": scope, "state": state})


# Tasks other apps raise, and the page where the work is done (by name: no import of those apps).
_TASK_STEPS = {
    "rems_monitoring_form": ("Open the REMS form", "dosing:rems", "subject"),
    "integration_due": ("Record the integration session", "pathway:integration", "patient"),
    "referral_risk": ("Open the referral", "referrals:detail", "subject"),
}


def _task_step(task: Task) -> tuple[str, str] | None:
    step = _TASK_STEPS.get(task.kind)
    if step is None:
        return None
    label, name, arg = step
    if arg == "patient" and task.patient_id is None:
        return None
    return label, reverse(name, args=[task.subject_id if arg == "subject" else task.patient_id])


@staff_view(Perm.TASK_VIEW)
def task_detail(request: HttpRequest, actor: Actor, task_id: int) -> HttpResponse:
    task = selectors.task_get(by=actor, task_id=task_id)
    form = TaskResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.task_resolve(by=actor, task_id=task.id, note=form.cleaned_data["note"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Task resolved.")
            return redirect("tasks:list")
    response_id = task.data.get("response_id") if isinstance(task.data, dict) else None
    return TemplateResponse(
        request, "tasks/task_detail.html",
        {"task": task, "form": form, "step": _task_step(task), "can_resolve": actor.can(Perm.TASK_RESOLVE) and task.is_open,
         "response_id": response_id, "can_view_measures": actor.can(Perm.MEASURE_VIEW),
         "flags": task.data.get("flags", []) if isinstance(task.data, dict) else []},
        status=422 if request.method == "POST" else 200,
    )
