"""Writes of measurement-based care: keyword-only, one transaction, checked and audited.

Scoring and safety flags come from `openkap.core.instruments`; this module stores what
the core says. A safety flag (of a submitted response, or of the answers given so far
in a draft) raises an urgent task in the same transaction as the answers that raised it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from openkap.accounts.authz import Actor, Denied, require
from openkap.accounts.models import Membership, Organization, User
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm, Role, allows
from openkap.core.instruments import (
    Flag,
    IncompleteResponseError,
    Instrument,
    Licence,
    Rater,
    ScoringError,
    Severity,
    get_instrument,
    parse_answer_text,
    safety_flags,
    score,
    with_licensed_text,
)
from openkap.dosing.models import DosingSession
from openkap.measures import schedule
from openkap.measures.models import (
    LicensedWording,
    MeasureAssignment,
    MeasureDraft,
    MeasureLink,
    MeasurePlanEntry,
    MeasureResponse,
    Occasion,
    Task,
    TaskAssignee,
    Via,
)
from openkap.pathway.models import Episode
from openkap.pathway.selectors import current_episode
from openkap.patients.models import CareTeamMember, Patient
from openkap.patients.selectors import active_break_glass, patient_for

Answers = dict[str, int | None]

SAFETY_TASK_KIND = "safety_flag"
LINK_DAYS = 7
MAX_LINK_DAYS = 30
NOTE_MIN_CHARS = 10
CORRECTION_MIN_CHARS = 5
MAX_BACKDATE = timedelta(days=365)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- instruments as the clinic has them ---------------------------------------------------


def instrument_for(organization_id: int, instrument_id: str) -> Instrument:
    """The core instrument with the organisation's licensed wording, if it loaded any.

    Raises ValidationError for an unknown instrument."""
    try:
        base = get_instrument(instrument_id)
    except ScoringError as exc:
        raise ValidationError({"instrument_id": str(exc)}) from None
    wording = LicensedWording.objects.filter(
        organization_id=organization_id, instrument_id=base.id
    ).first()
    if wording is None:
        return base
    known = {item.id for item in base.items}
    texts = {k: v for k, v in wording.texts.items() if k in known and str(v).strip()}
    return with_licensed_text(base, texts) if texts else base


def item_wording(item: Any) -> str:
    return item.licensed_text or item.text or item.label


def has_full_wording(instrument: Instrument) -> bool:
    return all(item.licensed_text or item.text for item in instrument.items)


def patient_can_complete(instrument: Instrument) -> bool:
    """Self-report only, and only with wording the clinic may show: instruments whose text
    needs permission go to patients once the organisation has loaded its licensed text."""
    if instrument.rater is not Rater.SELF_REPORT:
        return False
    return instrument.licence is not Licence.PERMISSION_REQUIRED or has_full_wording(instrument)


def is_asked(item: Any, answers: Mapping[str, int | None]) -> bool:
    """The form's skip logic (which items are shown); scoring stays in the core."""
    if item.asked_if is None:
        return True
    return any(all(answers.get(m.item) in m.values for m in clause) for clause in item.asked_if)


def _coerce_answers(instrument: Instrument, raw: Mapping[str, Any], *, field: str = "answers") -> Answers:
    known = {item.id for item in instrument.items}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValidationError({field: f"{instrument.short_name} has no item(s) {', '.join(unknown)}."})
    answers: Answers = {}
    for item in instrument.items:
        if item.id not in raw:
            continue
        value = raw[item.id]
        if value is None or value == "":
            answers[item.id] = None
            continue
        # The same strict reading as the core and the CLI: a plain int, or plain digits
        # from a form (not True, 1.0, "+1", "1_0" or another script's digits).
        if type(value) is int:
            number = value
        else:
            try:
                number = parse_answer_text(value, what=item.id)
            except ScoringError as exc:
                raise ValidationError({field: str(exc)}) from None
        if number not in item.scale.values:
            raise ValidationError(
                {field: f"{item.id} ({item.label}): {number} is not an answer; expected "
                        f"{item.scale.minimum} to {item.scale.maximum}."}
            )
        answers[item.id] = number
    return answers


def _coerce_supplementary(instrument: Instrument, raw: Mapping[str, Any]) -> Answers:
    items = {item.id: item for item in instrument.supplementary_items}
    out: Answers = {}
    for key, value in raw.items():
        item = items.get(key)
        if item is None:
            raise ValidationError({"supplementary": f"{instrument.short_name} has no extra item {key}."})
        if value is None or value == "":
            out[key] = None  # seen and left blank (these items are optional)
            continue
        if type(value) is int:
            number = value
        else:
            try:
                number = parse_answer_text(value, what=key)
            except ScoringError as exc:
                raise ValidationError({"supplementary": str(exc)}) from None
        if number not in item.scale.values:
            raise ValidationError({"supplementary": f"{key}: {number} is not an answer."})
        out[key] = number
    return out


def _answer_list(instrument: Instrument, answers: Mapping[str, int | None]) -> list[int | None]:
    return [answers.get(item.id) for item in instrument.items]


def given_so_far(instrument: Instrument, answers: Mapping[str, int | None]) -> list[int | None]:
    """Answers up to the last item seen: later items are not yet given (not refusals)."""
    ids = [item.id for item in instrument.items]
    last = max((ids.index(k) for k in answers if k in ids), default=-1)
    return [answers.get(i) for i in ids[: last + 1]]


def _sex_of(patient: Patient) -> str | None:
    return patient.sex_at_birth if patient.sex_at_birth in ("female", "male") else None


# --- safety tasks ---------------------------------------------------------------------------

_SEVERITY_RANK = {Severity.REVIEW: 0, Severity.URGENT: 1, Severity.EMERGENCY: 2}


def _flag_key(flag: Flag | Mapping[str, Any]) -> str:
    if isinstance(flag, Flag):
        return f"{flag.id}:{flag.severity}"
    return f"{flag['id']}:{flag['severity']}"


def highest_severity(flags: Sequence[Flag]) -> str:
    if not flags:
        return ""
    return str(max(flags, key=lambda f: _SEVERITY_RANK[f.severity]).severity)


def care_team_user_ids(patient: Patient) -> list[int]:
    return sorted(
        set(
            CareTeamMember.objects.filter(patient=patient, ended_at__isnull=True).values_list(
                "user_id", flat=True
            )
        )
    )


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
    link = settings.SITE_URL.rstrip("/") + reverse("measures:task_detail", args=[task.id])
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
    worst = highest_severity(flags)
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


def _safety_task_visible(by: Actor, task: Task) -> bool:
    """A safety task shows a patient's answers about suicide: clinical content, for
    those who may read the clinical record (care team, nurses, break-glass), never
    for an admin's registry role."""
    on_team = CareTeamMember.objects.filter(
        patient_id=task.patient_id, user=by.user, ended_at__isnull=True
    ).exists()
    glass = not on_team and active_break_glass(user_id=by.user.id, patient_id=task.patient_id) is not None
    return allows(by.roles, Perm.CLINICAL_VIEW, on_care_team=on_team, break_glass_active=glass)


def _task_visible(by: Actor, task: Task) -> bool:
    if task.kind == SAFETY_TASK_KIND and task.patient_id is not None:
        return _safety_task_visible(by, task)
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
    if len(note) > 4000:
        raise ValidationError({"note": "Keep the note under 4000 characters."})
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


# --- the episode's schedule -----------------------------------------------------------------


def _episode_for(by: Actor, episode_id: int, perm: Perm) -> tuple[Episode, bool]:
    episode = Episode.objects.filter(id=episode_id, organization=by.organization).first()
    if episode is None:
        raise Http404("No such episode in your organisation.")
    _patient, glass = patient_for(by, episode.patient_id, perm)
    return episode, glass


def _valid_instrument_id(instrument_id: str, field: str = "instrument_id") -> str:
    try:
        return get_instrument(instrument_id).id
    except ScoringError as exc:
        raise ValidationError({field: str(exc)}) from None


def _ensure_plan(episode: Episode) -> dict[str, list[str]]:
    rows = list(MeasurePlanEntry.objects.filter(episode=episode).values_list("occasion", "instrument_id"))
    if not rows:
        MeasurePlanEntry.objects.bulk_create(
            [
                MeasurePlanEntry(
                    organization_id=episode.organization_id, episode=episode, occasion=occasion,
                    instrument_id=instrument_id,
                )
                for occasion, ids in schedule.DEFAULT_PLAN.items()
                for instrument_id in ids
            ],
            ignore_conflicts=True,
        )
        rows = [(o, i) for o, ids in schedule.DEFAULT_PLAN.items() for i in ids]
    plan: dict[str, list[str]] = {}
    for occasion, instrument_id in rows:
        plan.setdefault(occasion, []).append(instrument_id)
    return plan


@dataclass(frozen=True)
class _Slot:
    occasion: str
    key: str
    label: str
    due_at: datetime
    overdue_at: datetime


def _slots(episode: Episode) -> tuple[list[_Slot], set[str]]:
    """Occasions the schedule derives from the episode's records, and the keys of
    dosing sessions that were cancelled."""
    opened = episode.opened_at
    slots = [_Slot(Occasion.BASELINE, "", "Baseline", opened, opened + schedule.BASELINE_WINDOW)]
    sessions = list(DosingSession.objects.filter(episode=episode).order_by("scheduled_start", "id"))
    active = [s for s in sessions if s.status != DosingSession.Status.CANCELLED]
    cancelled = {f"dosing:{s.id}" for s in sessions if s.status == DosingSession.Status.CANCELLED}
    for number, session in enumerate(active, 1):
        start = session.started_at or session.scheduled_start
        slots.append(
            _Slot(
                Occasion.BEFORE_DOSING, f"dosing:{session.id}", f"Before dosing session {number}",
                start - schedule.BEFORE_DOSING_LEAD, start,
            )
        )
    if active:
        anchor = max(s.started_at or s.scheduled_start for s in active)
        for months in schedule.FOLLOW_UP_MONTHS:
            due = schedule.follow_up_due(anchor, months)
            slots.append(
                _Slot(Occasion.FOLLOW_UP, schedule.follow_up_key(months), f"{months}-month follow-up",
                      due, due + schedule.FOLLOW_UP_WINDOW)
            )
    return slots, cancelled


def _place(
    episode: Episode, plan: Mapping[str, list[str]], slots: Iterable[_Slot], *, now: datetime
) -> list[MeasureAssignment]:
    existing = {
        (a.occasion, a.occasion_key, a.instrument_id): a
        for a in MeasureAssignment.objects.filter(episode=episode)
    }
    created = []
    for slot in slots:
        for instrument_id in plan.get(slot.occasion, ()):
            found = existing.get((slot.occasion, slot.key, instrument_id))
            if found is None:
                created.append(
                    MeasureAssignment(
                        organization_id=episode.organization_id, patient_id=episode.patient_id,
                        episode=episode, instrument_id=instrument_id, occasion=slot.occasion,
                        occasion_key=slot.key, occasion_label=slot.label, due_at=slot.due_at,
                        overdue_at=slot.overdue_at, created_at=now,
                    )
                )
            elif found.is_open and found.assigned_by_id is None and (
                (found.due_at, found.overdue_at, found.occasion_label)
                != (slot.due_at, slot.overdue_at, slot.label)
            ):
                # A session moved: its measures move with it.
                found.due_at, found.overdue_at, found.occasion_label = slot.due_at, slot.overdue_at, slot.label
                found.save(update_fields=["due_at", "overdue_at", "occasion_label"])
    if created:
        # ignore_conflicts: a concurrent sync may have placed the same row; read back ids.
        MeasureAssignment.objects.bulk_create(created, ignore_conflicts=True)
        keys = {(a.occasion, a.occasion_key, a.instrument_id) for a in created}
        created = [
            a for a in MeasureAssignment.objects.filter(
                episode=episode, occasion__in={k[0] for k in keys}, occasion_key__in={k[1] for k in keys}
            ).order_by("due_at", "id")
            if (a.occasion, a.occasion_key, a.instrument_id) in keys
        ]
    return created


def sync_schedule(episode: Episode, *, by: Actor | None, now: datetime | None = None) -> int:
    """Bring the episode's assignments in line with its schedule and dosing sessions.

    Idempotent; runs whenever measures of the episode are shown, so due and overdue
    measures are current without a background job. The caller has checked access.
    Returns how many assignments were created."""
    now = now or timezone.now()
    with transaction.atomic():
        plan = _ensure_plan(episode)
        slots, cancelled_keys = _slots(episode)
        created = _place(episode, plan, slots, now=now)
        stale = MeasureAssignment.objects.filter(
            episode=episode, occasion=Occasion.BEFORE_DOSING, occasion_key__in=cancelled_keys,
            completed_at__isnull=True, cancelled_at__isnull=True,
        )
        cancelled = stale.update(cancelled_at=now, cancel_reason="Dosing session cancelled")
        if created or cancelled:
            audit_record(
                by=by, action=AuditAction.UPDATE, object_type="measure_schedule",
                object_id=episode.id, patient_id=episode.patient_id,
                organization_id=episode.organization_id, actor_email="" if by else "openkap",
                detail={"created": [f"{a.occasion}:{a.occasion_key}:{a.instrument_id}" for a in created],
                        "cancelled": cancelled},
            )
    return len(created)


def schedule_ensure(*, by: Actor, episode_id: int) -> int:
    """For other apps after they change an episode (a dosing session booked, moved or
    cancelled): the measures due around it follow."""
    episode, _ = _episode_for(by, episode_id, Perm.MEASURE_ASSIGN)
    return sync_schedule(episode, by=by)


def schedule_after_integration(
    *, by: Actor, episode_id: int, dosing_session_id: int, held_at: datetime
) -> list[MeasureAssignment]:
    """The scheduling/pathway apps call this when an integration session is held: the
    plan's after-integration measures fall due at once (keyed by the dosing session it
    integrates, so a repeat call does not duplicate them)."""
    with transaction.atomic():
        episode, _ = _episode_for(by, episode_id, Perm.MEASURE_ASSIGN)
        if not DosingSession.objects.filter(id=dosing_session_id, episode=episode).exists():
            raise ValidationError({"dosing_session_id": "No such dosing session in this episode."})
        plan = _ensure_plan(episode)
        number = DosingSession.objects.filter(
            episode=episode, scheduled_start__lte=DosingSession.objects.get(id=dosing_session_id).scheduled_start
        ).exclude(status=DosingSession.Status.CANCELLED).count()
        slot = _Slot(Occasion.AFTER_INTEGRATION, f"dosing:{dosing_session_id}",
                     f"After integration of session {number}", held_at,
                     held_at + schedule.AFTER_INTEGRATION_WINDOW)
        created = _place(episode, plan, [slot], now=timezone.now())
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_schedule", object_id=episode.id,
            patient_id=episode.patient_id,
            detail={"after_integration_of": dosing_session_id, "created": len(created)},
        )
    return created


def schedule_reassessment(*, by: Actor, episode_id: int, at: datetime | None = None) -> list[MeasureAssignment]:
    """The plan's reassessment measures, due from `at` (now) for a week."""
    at = at or timezone.now()
    with transaction.atomic():
        episode, _ = _episode_for(by, episode_id, Perm.MEASURE_ASSIGN)
        plan = _ensure_plan(episode)
        slot = _Slot(Occasion.REASSESSMENT, "", "Reassessment", at, at + schedule.REASSESSMENT_WINDOW)
        created = _place(episode, plan, [slot], now=timezone.now())
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_schedule", object_id=episode.id,
            patient_id=episode.patient_id, detail={"reassessment": True, "created": len(created)},
        )
    return created


def measure_plan_update(*, by: Actor, episode_id: int, plan: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Replace the episode's measure schedule. Open measures of instruments taken off an
    occasion are cancelled; new ones are scheduled at once."""
    wanted: dict[str, set[str]] = {}
    for occasion, ids in plan.items():
        if occasion not in schedule.SCHEDULED_OCCASIONS:
            raise ValidationError({"plan": f"{occasion!r} is not a scheduled occasion."})
        wanted[occasion] = {_valid_instrument_id(i, "plan") for i in ids}
    with transaction.atomic():
        episode, glass = _episode_for(by, episode_id, Perm.MEASURE_ASSIGN)
        Episode.objects.select_for_update().filter(pk=episode.pk).first()  # one plan edit at a time
        before = {o: set(ids) for o, ids in _ensure_plan(episode).items()}
        after = {o: wanted.get(o, set()) for o in schedule.SCHEDULED_OCCASIONS}
        MeasurePlanEntry.objects.filter(episode=episode).delete()
        MeasurePlanEntry.objects.bulk_create(
            [
                MeasurePlanEntry(organization=by.organization, episode=episode, occasion=o, instrument_id=i)
                for o, ids in after.items() for i in sorted(ids)
            ]
        )
        now = timezone.now()
        for occasion in schedule.SCHEDULED_OCCASIONS:
            removed = before.get(occasion, set()) - after[occasion]
            if removed:
                MeasureAssignment.objects.filter(
                    episode=episode, occasion=occasion, instrument_id__in=removed,
                    completed_at__isnull=True, cancelled_at__isnull=True,
                ).update(cancelled_at=now, cancelled_by=by.user, cancel_reason="Taken off the measure schedule")
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_plan", object_id=episode.id,
            patient_id=episode.patient_id, break_glass=glass,
            detail={"before": {o: sorted(v) for o, v in before.items()},
                    "after": {o: sorted(v) for o, v in after.items()}},
        )
        sync_schedule(episode, by=by, now=now)
    return {o: sorted(v) for o, v in after.items()}


def measure_assign(
    *, by: Actor, patient_id: int, instrument_id: str, due_at: datetime | None = None,
    episode_id: int | None = None,
) -> MeasureAssignment:
    """An additional measure for the patient's open episode, due now (or at `due_at`)."""
    instrument_id = _valid_instrument_id(instrument_id)
    now = timezone.now()
    due_at = due_at or now
    if due_at > now + timedelta(days=366) or due_at < now - timedelta(days=1):
        raise ValidationError({"due_at": "Choose a due date from today to a year ahead."})
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.MEASURE_ASSIGN)
        episode = _open_episode(patient, episode_id)
        assignment = MeasureAssignment.objects.create(
            organization=by.organization, patient=patient, episode=episode, instrument_id=instrument_id,
            occasion=Occasion.AD_HOC, occasion_key=f"manual:{uuid.uuid4().hex[:16]}",
            occasion_label="Additional", due_at=due_at, overdue_at=due_at + schedule.AD_HOC_WINDOW,
            assigned_by=by.user,
        )
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="measure_assignment", object_id=assignment.id,
            patient_id=patient.id, break_glass=glass, detail={"instrument": instrument_id},
        )
    return assignment


def _open_episode(patient: Patient, episode_id: int | None) -> Episode:
    if episode_id is not None:
        episode = Episode.objects.filter(id=episode_id, patient=patient).first()
        if episode is None:
            raise ValidationError({"episode_id": "No such episode for this patient."})
        return episode
    episode = current_episode(patient)
    if episode is None:
        raise ValidationError({"__all__": "The patient has no open episode of care: open one first."})
    return episode


def assignment_cancel(*, by: Actor, assignment_id: int, reason: str) -> MeasureAssignment:
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 200:
        raise ValidationError({"reason": "Give a reason (3 to 200 characters)."})
    with transaction.atomic():
        assignment = _staff_assignment(by, assignment_id, Perm.MEASURE_ASSIGN, lock=True)
        if not assignment.is_open:
            raise ValidationError({"reason": "This measure is already completed or cancelled."})
        assignment.cancelled_at = timezone.now()
        assignment.cancelled_by = by.user
        assignment.cancel_reason = reason
        assignment.save(update_fields=["cancelled_at", "cancelled_by", "cancel_reason"])
        MeasureLink.objects.filter(assignment=assignment, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=assignment.cancelled_at
        )
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="measure_assignment", object_id=assignment.id,
            patient_id=assignment.patient_id, reason=reason, detail={"cancelled": True},
        )
    return assignment


def _staff_assignment(by: Actor, assignment_id: int, perm: Perm, *, lock: bool = False) -> MeasureAssignment:
    qs = MeasureAssignment.objects.filter(id=assignment_id, organization=by.organization)
    if lock:
        qs = qs.select_for_update()
    assignment = qs.first()
    if assignment is None:
        raise Http404("No such measure in your organisation.")
    patient_for(by, assignment.patient_id, perm)
    return assignment


# --- recording a response -------------------------------------------------------------------


class FlaggedIncompleteError(ValidationError):
    """A response refused as incomplete whose answered items raise safety flags: the
    refusal rolls back, and the caller raises the safety task after it (issue 12)."""

    def __init__(
        self, message: str, *, flags: Sequence[Flag], patient: Patient,
        assignment: MeasureAssignment | None,
    ) -> None:
        super().__init__({"answers": message})
        self.flags = tuple(flags)
        self.patient = patient
        self.assignment = assignment


@dataclass(frozen=True)
class _Source:
    """Who gave the answers and how, for the response row and the audit log."""

    via: str
    entered_by: User | None
    on_behalf: bool
    actor: Actor | None
    ip: str = ""
    user_agent: str = ""


def _record(
    *,
    organization: Organization,
    patient: Patient,
    instrument: Instrument,
    answers: Answers,
    supplementary: Answers,
    source: _Source,
    episode: Episode | None,
    assignment: MeasureAssignment | None,
    occasion: str,
    completed_at: datetime,
    allow_incomplete: bool,
    corrects: MeasureResponse | None = None,
    correction_reason: str = "",
    break_glass: bool = False,
) -> MeasureResponse:
    """Score with the core, store, raise a safety task, close the assignment, audit.
    The caller holds a transaction (and the assignment's row lock)."""
    sex = _sex_of(patient)
    values = _answer_list(instrument, answers)
    try:
        result = score(instrument, values, sex=sex)
    except IncompleteResponseError as exc:
        if not allow_incomplete:
            if source.via in (Via.PORTAL, Via.LINK):
                # The draft's save already raised the task for any flag these answers raise.
                wanted = ", ".join(m.replace("q", "question ") for m in exc.missing)
                raise ValidationError({"answers": f"Please answer {wanted} before submitting."}) from None
            message = f"{exc} Answer the missing items, or record it as incomplete."
            if exc.flags:
                raised = ", ".join(f"{f.id} ({f.severity})" for f in exc.flags)
                raise FlaggedIncompleteError(
                    f"{exc} Safety flags raised by the answered items: {raised}; a task was "
                    "raised for the care team. Answer the missing items, or record it as incomplete.",
                    flags=exc.flags, patient=patient, assignment=assignment,
                ) from None
            raise ValidationError({"answers": message}) from None
        flags: Sequence[Flag] = exc.flags
        stored: dict[str, Any] = {
            "instrument": instrument.id, "version": instrument.version, "total": None,
            "band": None, "band_label": None, "flags": [f.id for f in flags],
            "flag_details": [f.to_dict() for f in flags], "items": dict(answers),
            "missing": list(exc.missing), "missing_handling": "not_scored", "notes": [str(exc)],
        }
        total, band, band_label, scored = None, "", "", False
    except ScoringError as exc:
        raise ValidationError({"answers": str(exc)}) from None
    else:
        flags = result.flags
        stored = result.to_dict()
        total = None if result.total is None else float(result.total)
        band, band_label, scored = result.band or "", result.band_label or "", True
    response = MeasureResponse.objects.create(
        organization=organization, patient=patient, episode=episode, assignment=assignment,
        instrument_id=instrument.id, instrument_version=instrument.version, occasion=occasion,
        answers={item.id: answers.get(item.id) for item in instrument.items},
        supplementary=dict(supplementary), result=stored, is_scored=scored, total=total,
        band=band, band_label=band_label, flag_ids=[f.id for f in flags],
        has_safety_flag=bool(flags), highest_severity=highest_severity(flags),
        sex_used=sex or "", completed_at=completed_at, entered_by=source.entered_by,
        on_behalf=source.on_behalf, via=source.via, corrects=corrects,
        correction_reason=correction_reason,
    )
    if assignment is not None and assignment.completed_at is None:
        assignment.completed_at = response.submitted_at
        assignment.save(update_fields=["completed_at"])
        MeasureDraft.objects.filter(assignment=assignment).delete()
    audit_record(
        by=source.actor, action=AuditAction.CREATE, object_type="measure_response", object_id=response.id,
        patient_id=patient.id, organization_id=organization.id, break_glass=break_glass,
        actor_email="" if source.actor else "questionnaire link", ip=source.ip, user_agent=source.user_agent,
        detail={"instrument": instrument.id, "via": source.via, "on_behalf": source.on_behalf,
                "flags": [f.id for f in flags], "corrects": corrects.id if corrects else None,
                "scored": scored},
    )
    _safety_task(
        by=source.actor, organization=organization, patient=patient, instrument=instrument,
        flags=flags, answers=answers, assignment=assignment, response=response, partial=not scored,
    )
    return response


def _check_completed_at(completed_at: datetime | None) -> datetime:
    now = timezone.now()
    if completed_at is None:
        return now
    if timezone.is_naive(completed_at):
        raise ValidationError({"completed_at": "Give the time with its time zone."})
    if completed_at > now + timedelta(minutes=5):
        raise ValidationError({"completed_at": "The answers cannot have been given in the future."})
    if completed_at < now - MAX_BACKDATE:
        raise ValidationError({"completed_at": "Enter answers given within the last year."})
    return completed_at


def response_enter(
    *,
    by: Actor,
    patient_id: int,
    instrument_id: str,
    answers: Mapping[str, Any],
    supplementary: Mapping[str, Any] | None = None,
    assignment_id: int | None = None,
    occasion: str | None = None,
    completed_at: datetime | None = None,
    allow_incomplete: bool = False,
    corrects_id: int | None = None,
    correction_reason: str = "",
) -> MeasureResponse:
    """Staff record a response: a clinician-rated scale they administered, or the patient's
    own answers entered on their behalf (recorded as such). A correction names the
    response it replaces and says why; the original is kept."""
    require(by, Perm.MEASURE_ENTER)
    instrument = instrument_for(by.organization.id, instrument_id)
    clean = _coerce_answers(instrument, answers)
    extra = _coerce_supplementary(instrument, supplementary or {})
    when = _check_completed_at(completed_at)
    if occasion is not None and occasion not in Occasion.values:
        raise ValidationError({"occasion": "Unknown occasion."})
    correction_reason = (correction_reason or "").strip()
    try:
        return _response_enter(
            by=by, patient_id=patient_id, instrument=instrument, clean=clean, extra=extra, when=when,
            occasion=occasion, assignment_id=assignment_id, allow_incomplete=allow_incomplete,
            corrects_id=corrects_id, correction_reason=correction_reason,
        )
    except FlaggedIncompleteError as exc:
        with transaction.atomic():
            _safety_task(
                by=by, organization=by.organization, patient=exc.patient, instrument=instrument,
                flags=exc.flags, answers=clean, assignment=exc.assignment, response=None, partial=True,
            )
        raise


def _response_enter(
    *, by: Actor, patient_id: int, instrument: Instrument, clean: Answers, extra: Answers,
    when: datetime, occasion: str | None, assignment_id: int | None, allow_incomplete: bool,
    corrects_id: int | None, correction_reason: str,
) -> MeasureResponse:
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.MEASURE_ENTER)
        corrects = None
        assignment = None
        episode = None
        if corrects_id is not None:
            corrects = (
                MeasureResponse.objects.select_for_update()
                .filter(id=corrects_id, patient=patient).first()
            )
            if corrects is None:
                raise ValidationError({"corrects_id": "No such response for this patient."})
            if corrects.instrument_id != instrument.id:
                raise ValidationError({"corrects_id": "A correction must be of the same instrument."})
            if MeasureResponse.objects.filter(corrects=corrects).exists():
                raise ValidationError({"corrects_id": "That response was already corrected: correct the correction."})
            if len(correction_reason) < CORRECTION_MIN_CHARS:
                raise ValidationError({"correction_reason": "Say what was wrong (at least 5 characters)."})
            episode, assignment, occasion = corrects.episode, corrects.assignment, corrects.occasion
        elif assignment_id is not None:
            assignment = (
                MeasureAssignment.objects.select_for_update()
                .filter(id=assignment_id, patient=patient).first()
            )
            if assignment is None:
                raise ValidationError({"assignment_id": "No such measure for this patient."})
            if assignment.instrument_id != instrument.id:
                raise ValidationError({"assignment_id": "That measure is for another instrument."})
            if not assignment.is_open:
                raise ValidationError({"assignment_id": "That measure is already completed or cancelled."})
            episode, occasion = assignment.episode, assignment.occasion
        else:
            episode = current_episode(patient)
            occasion = occasion or Occasion.AD_HOC
        response = _record(
            organization=by.organization, patient=patient, instrument=instrument, answers=clean,
            supplementary=extra,
            source=_Source(Via.API if by.via in ("api", "fhir") else Via.STAFF, by.user,
                           instrument.rater is Rater.SELF_REPORT, by),
            episode=episode, assignment=assignment, occasion=occasion, completed_at=when,
            allow_incomplete=allow_incomplete, corrects=corrects, correction_reason=correction_reason,
            break_glass=glass,
        )
    return response


# --- the patient's own answers: portal and link ---------------------------------------------


def portal_patient(by: Actor) -> Patient:
    patient = Patient.objects.filter(user=by.user, organization=by.organization).first()
    if patient is None:
        raise Denied("This page is for patients of the clinic.")
    return patient


def patient_assignment(patient: Patient, assignment_id: int, *, lock: bool = False) -> tuple[MeasureAssignment, Instrument]:
    qs = MeasureAssignment.objects.filter(id=assignment_id, patient=patient)
    if lock:
        qs = qs.select_for_update()
    assignment = qs.first()
    if assignment is None:
        raise Http404("No such questionnaire.")
    instrument = instrument_for(patient.organization_id, assignment.instrument_id)
    if instrument.rater is not Rater.SELF_REPORT:
        raise Denied("This scale is completed by your clinician, not in the portal.", patient_id=patient.id)
    if not patient_can_complete(instrument):
        raise Denied("Your clinic completes this questionnaire with you in person.", patient_id=patient.id)
    return assignment, instrument


def _save_draft(
    *, assignment: MeasureAssignment, instrument: Instrument, given: Mapping[str, Any],
    supplementary: Mapping[str, Any], via: str, actor: Actor | None, ip: str = "", user_agent: str = "",
) -> MeasureDraft:
    """Merge answers into the draft, drop answers the skip logic no longer asks, and raise
    a safety task for any flag the answers so far raise (the moment it is given)."""
    if not assignment.is_open:
        raise ValidationError({"__all__": "This questionnaire is already completed or was withdrawn."})
    draft = MeasureDraft.objects.select_for_update().filter(assignment=assignment).first()
    if draft is None:
        draft = MeasureDraft(organization_id=assignment.organization_id, assignment=assignment, via=via)
    merged: Answers = {**draft.answers, **_coerce_answers(instrument, given)}
    for item in instrument.items:
        if item.id in merged and not is_asked(item, merged):
            del merged[item.id]
    draft.answers = {item.id: merged[item.id] for item in instrument.items if item.id in merged}
    draft.supplementary = {**draft.supplementary, **_coerce_supplementary(instrument, supplementary)}
    draft.via = via
    draft.updated_at = timezone.now()
    draft.save()
    try:
        flags = safety_flags(instrument, given_so_far(instrument, draft.answers))
    except ScoringError as exc:
        raise ValidationError({"answers": str(exc)}) from None
    audit_record(
        by=actor, action=AuditAction.UPDATE, object_type="measure_draft", object_id=assignment.id,
        patient_id=assignment.patient_id, organization_id=assignment.organization_id,
        actor_email="" if actor else "questionnaire link", ip=ip, user_agent=user_agent,
        detail={"items": sorted(given), "flags": [f.id for f in flags]},
    )
    _safety_task(
        by=actor, organization=assignment.organization, patient=assignment.patient,
        instrument=instrument, flags=flags, answers=draft.answers, assignment=assignment, response=None,
        partial=True,
    )
    return draft


def _submit_draft(
    *, assignment: MeasureAssignment, instrument: Instrument, source: _Source
) -> MeasureResponse:
    if not assignment.is_open:
        raise ValidationError({"__all__": "This questionnaire is already completed or was withdrawn."})
    draft = MeasureDraft.objects.select_for_update().filter(assignment=assignment).first()
    if draft is None:
        raise ValidationError({"__all__": "Answer the questions first."})
    return _record(
        organization=assignment.organization, patient=assignment.patient, instrument=instrument,
        answers=_coerce_answers(instrument, draft.answers),
        supplementary=_coerce_supplementary(instrument, draft.supplementary), source=source,
        episode=assignment.episode, assignment=assignment, occasion=assignment.occasion,
        completed_at=timezone.now(), allow_incomplete=False,
    )


def portal_answer(
    *, by: Actor, assignment_id: int, answers: Mapping[str, Any], supplementary: Mapping[str, Any] | None = None
) -> MeasureDraft:
    """Save the patient's answers so far (save and resume)."""
    with transaction.atomic():
        patient = portal_patient(by)
        assignment, instrument = patient_assignment(patient, assignment_id, lock=True)
        return _save_draft(
            assignment=assignment, instrument=instrument, given=answers,
            supplementary=supplementary or {}, via=Via.PORTAL, actor=by,
        )


def portal_submit(*, by: Actor, assignment_id: int) -> MeasureResponse:
    with transaction.atomic():
        patient = portal_patient(by)
        assignment, instrument = patient_assignment(patient, assignment_id, lock=True)
        return _submit_draft(
            assignment=assignment, instrument=instrument,
            source=_Source(Via.PORTAL, by.user, False, by),
        )


# --- single-use links -------------------------------------------------------------------------


def link_create(*, by: Actor, assignment_id: int, days: int = LINK_DAYS, send_email: bool = False) -> tuple[MeasureLink, str]:
    """A link to this one questionnaire, valid `days` days and until submitted; needs no
    login and opens nothing else. Returns the raw token once; only its hash is stored."""
    if not 1 <= days <= MAX_LINK_DAYS:
        raise ValidationError({"days": f"Choose 1 to {MAX_LINK_DAYS} days."})
    with transaction.atomic():
        assignment = _staff_assignment(by, assignment_id, Perm.MEASURE_ASSIGN, lock=True)
        if not assignment.is_open:
            raise ValidationError({"__all__": "This measure is already completed or cancelled."})
        instrument = instrument_for(by.organization.id, assignment.instrument_id)
        if not patient_can_complete(instrument):
            raise ValidationError(
                {"__all__": f"{instrument.short_name} is not completed by patients on their own "
                            "(clinician-rated, or licensed wording not loaded)."}
            )
        if send_email and not assignment.patient.email:
            raise ValidationError({"send_email": "The patient has no email address on file."})
        raw = secrets.token_urlsafe(32)
        link = MeasureLink.objects.create(
            organization=by.organization, assignment=assignment, token_hash=sha256(raw),
            created_by=by.user, expires_at=timezone.now() + timedelta(days=days),
        )
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="measure_link", object_id=link.id,
            patient_id=assignment.patient_id, detail={"assignment": assignment.id, "days": days, "emailed": send_email},
        )
        if send_email:
            url = link_url(raw)
            email, clinic = assignment.patient.email, by.organization.name
            transaction.on_commit(
                lambda: send_mail(
                    subject=f"A questionnaire from {clinic}",
                    message=f"{clinic} asks you to complete a short questionnaire.\n\n{url}\n\n"
                    f"The link works once and expires in {days} days.\n",
                    from_email=None,
                    recipient_list=[email],
                )
            )
    return link, raw


def link_url(raw: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("measures:link", args=[raw])


class LinkRefused(Exception):
    """The link is unknown, expired, revoked or used: say so and show nothing else."""

    def __init__(self, reason: str, organization: Organization | None = None):
        super().__init__(reason)
        self.reason = reason
        self.organization = organization


def link_open(raw: str, *, lock: bool = False) -> tuple[MeasureLink, MeasureAssignment, Instrument]:
    if not raw or len(raw) > 100:
        raise LinkRefused("unknown")
    qs = MeasureLink.objects.filter(token_hash=sha256(raw)).select_related("assignment", "organization")
    if lock:
        qs = qs.select_for_update()
    link = qs.first()
    if link is None:
        raise LinkRefused("unknown")
    if link.used_at is not None:
        raise LinkRefused("used", link.organization)
    if link.revoked_at is not None or not link.assignment.is_open:
        raise LinkRefused("withdrawn", link.organization)
    if link.expires_at <= timezone.now():
        raise LinkRefused("expired", link.organization)
    assignment = link.assignment
    instrument = instrument_for(link.organization_id, assignment.instrument_id)
    if not patient_can_complete(instrument):
        raise LinkRefused("withdrawn", link.organization)
    return link, assignment, instrument


def link_answer(
    *, raw: str, answers: Mapping[str, Any], supplementary: Mapping[str, Any] | None = None,
    ip: str = "", user_agent: str = "",
) -> MeasureDraft:
    with transaction.atomic():
        _link, assignment, instrument = link_open(raw, lock=True)
        return _save_draft(
            assignment=assignment, instrument=instrument, given=answers,
            supplementary=supplementary or {}, via=Via.LINK, actor=None, ip=ip, user_agent=user_agent,
        )


def link_submit(*, raw: str, ip: str = "", user_agent: str = "") -> MeasureResponse:
    """Submit through the link; the link is used up in the same transaction."""
    with transaction.atomic():
        link, assignment, instrument = link_open(raw, lock=True)
        response = _submit_draft(
            assignment=assignment, instrument=instrument,
            source=_Source(Via.LINK, None, False, None, ip, user_agent),
        )
        link.used_at = response.submitted_at
        link.save(update_fields=["used_at"])
    return response


# --- licensed wording -------------------------------------------------------------------------


def licensed_wording_save(
    *, by: Actor, instrument_id: str, texts: Mapping[str, str], licence_reference: str = ""
) -> LicensedWording:
    """The organisation's licensed item wording (C-SSRS, MADRS, QIDS, CADSS, ...)."""
    require(by, Perm.MEASURE_WORDING_MANAGE)
    try:
        instrument = get_instrument(instrument_id)
    except ScoringError as exc:
        raise ValidationError({"instrument_id": str(exc)}) from None
    if instrument.licence is not Licence.PERMISSION_REQUIRED and all(i.text for i in instrument.items):
        raise ValidationError({"instrument_id": f"{instrument.short_name} ships with its own free wording."})
    known = {item.id for item in instrument.items}
    unknown = sorted(set(texts) - known)
    if unknown:
        raise ValidationError({"texts": f"Unknown items: {', '.join(unknown)}."})
    clean = {k: str(v).strip() for k, v in texts.items() if str(v).strip()}
    if any(len(v) > 2000 for v in clean.values()):
        raise ValidationError({"texts": "Keep each item's wording under 2000 characters."})
    licence_reference = (licence_reference or "").strip()
    if len(licence_reference) > 200:
        raise ValidationError({"licence_reference": "Keep this under 200 characters."})
    if clean and not licence_reference:
        raise ValidationError({"licence_reference": "Name the licence or permission this wording is used under."})
    with transaction.atomic():
        wording, created = LicensedWording.objects.select_for_update().get_or_create(
            organization=by.organization, instrument_id=instrument.id,
            defaults={"texts": clean, "licence_reference": licence_reference, "updated_by": by.user},
        )
        if not created:
            wording.texts = clean
            wording.licence_reference = licence_reference
            wording.updated_by = by.user
            wording.updated_at = timezone.now()
            wording.save()
        audit_record(
            by=by, action=AuditAction.CREATE if created else AuditAction.UPDATE,
            object_type="licensed_wording", object_id=wording.id,
            detail={"instrument": instrument.id, "items": sorted(clean)},
        )
    return wording
