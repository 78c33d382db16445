"""Safety tasks: a flag raises an urgent task to the care team (through the tasks app)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.accounts.models import Organization
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Role
from openkap.core.instruments import (
    Flag,
    Instrument,
    Severity,
    highest_severity,
)
from openkap.measures.models import MeasureAssignment, MeasureResponse
from openkap.patients.models import Patient
from openkap.patients.selectors import care_team_user_ids
from openkap.tasks.models import Task
from openkap.tasks.services import SAFETY_TASK_KIND, task_create


def _flag_key(flag: Flag | Mapping[str, Any]) -> str:
    if isinstance(flag, Flag):
        return f"{flag.id}:{flag.severity}"
    return f"{flag['id']}:{flag['severity']}"


def _flag_summary(instrument: Instrument, flag: Flag, answers: Mapping[str, int | None]) -> str:
    """'item 9 = 2 (More than half the days)', 'high risk', 'asq positive'."""
    if flag.risk_level is not None:
        return f"{flag.risk_level} risk"
    if instrument.triage or len(flag.items) != 1:
        return flag.id.replace("_", " ")
    item = instrument.items[instrument.item_index(flag.items[0])]
    value = answers.get(item.id)
    label = next((o.label for o in item.scale.options if o.value == value), "")
    number = instrument.item_index(item.id) + 1
    return f"item {number} = {value}" + (f" ({label})" if label and label != str(value) else "")


def _safety_task(
    *,
    by: Actor | None,
    organization: Organization,
    patient: Patient,
    instrument: Instrument,
    flags: Sequence[Flag],
    answers: Mapping[str, int | None],
    assignment: MeasureAssignment | None,
    response: MeasureResponse | None,
    partial: bool,
) -> Task | None:
    """An urgent task for the care team (the nurses when there is none) for flags
    not already raised for the same assignment: a draft's flag is not raised twice when
    the response is submitted, but a new or more severe flag is."""
    if not flags:
        return None
    keys = sorted({_flag_key(f) for f in flags})
    earlier_tasks: list[Task] | None = None
    if assignment is not None:
        earlier_tasks = list(
            Task.objects.select_for_update().filter(
                organization=organization, kind=SAFETY_TASK_KIND,
                subject_type="measure_assignment", subject_id=str(assignment.id),
            )
        )
    elif response is not None:
        # An entry refused as incomplete raised its task unattached; the same answers
        # stored next (as incomplete, or completed) do not raise it twice.
        earlier_tasks = list(
            Task.objects.select_for_update().filter(
                organization=organization, patient=patient, kind=SAFETY_TASK_KIND,
                subject_type="measure_response", subject_id="", resolved_at__isnull=True,
                data__instrument_id=instrument.id, created_at__gte=timezone.now() - timedelta(days=1),
            )
        )
    if earlier_tasks is not None:
        earlier = {key for t in earlier_tasks for key in t.data.get("flag_keys", [])}
        if response is not None:
            _point_draft_tasks_to(response, [t for t in earlier_tasks if t.data.get("partial")], by=by)
        if set(keys) <= earlier:
            return None
    worst = highest_severity(f.severity for f in flags)
    team = care_team_user_ids(patient)
    summary = "; ".join(dict.fromkeys(_flag_summary(instrument, f, answers) for f in flags))
    where = "answers so far (not yet submitted)" if partial else "submitted response"
    title = f"Safety flag: {instrument.short_name} — {summary}"
    detail = "\n".join(dict.fromkeys(f.message for f in flags))
    return task_create(
        by=by,
        organization=organization,
        kind=SAFETY_TASK_KIND,
        title=title,
        patient=patient,
        priority=Task.Priority.EMERGENCY if worst == Severity.EMERGENCY else Task.Priority.URGENT,
        detail=f"{detail}\n\nFrom the patient's {where}.",
        data={
            "flag_keys": keys,
            "flags": [f.to_dict() for f in flags],
            "instrument_id": instrument.id,
            "response_id": response.id if response else None,
            "assignment_id": assignment.id if assignment else None,
            "partial": partial,
        },
        subject_type="measure_assignment" if assignment else "measure_response",
        subject_id=assignment.id if assignment else (response.id if response else ""),
        assignee_ids=team,
        # Nobody cares for the patient yet: the nurses, who may open every chart, take it.
        assigned_role="" if team else Role.NURSE.value,
        due_at=timezone.now(),
        notify=True,
    )


def _point_draft_tasks_to(response: MeasureResponse, tasks: list[Task], *, by: Actor | None) -> None:
    """Tasks raised while the patient was still answering now name the submitted response."""
    for task in tasks:
        task.data = {**task.data, "partial": False, "response_id": response.id}
        when = timezone.localtime(response.submitted_at)
        task.detail = f"{task.detail}\nThe questionnaire was submitted on {when:%Y-%m-%d at %H:%M}."
        task.save(update_fields=["data", "detail"])
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="task", object_id=task.id,
            patient_id=task.patient_id, organization_id=task.organization_id,
            actor_email="" if by else "questionnaire link", detail={"response_id": response.id},
        )
