"""Reads of measures. Functions with `by=` check access and audit; the episode-level
contract functions (`completed_instruments[_of]`, `planned_instruments`) are for other apps'
services, which have already checked access to the episode."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from openkap.accounts.authz import Actor, Denied
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead
from openkap.core.authz import Perm
from openkap.core.instruments import Instrument, Rater, all_instruments, presentation, score_range
from openkap.core.instruments.change import (
    RESPONSE_REDUCTION_PERCENT,
    ChangeResult,
    RemissionDefinition,
    assess_change,
    change_rules,
)
from openkap.dosing.models import DosingSession
from openkap.measures import licensed
from openkap.measures.charts import TrendChart, trend_chart
from openkap.measures.models import (
    AssignmentStatus,
    LicensedWording,
    MeasureAssignment,
    MeasureDraft,
    MeasurePlanEntry,
    MeasureResponse,
    Occasion,
)
from openkap.measures.schedule import DEFAULT_PLAN
from openkap.pathway.models import Episode
from openkap.pathway.selectors import current_episode
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for, portal_patient
from openkap.tasks.models import Task
from openkap.tasks.selectors import PRIORITY_ORDER
from openkap.tasks.services import SAFETY_TASK_KIND

LOOKAHEAD = timedelta(days=14)  # the Measures tab lists open measures due within two weeks

def completed_instruments(episode: Episode, phase: str = "baseline") -> frozenset[str]:
    """Core instrument ids ("phq9", "gad7", "cssrs-recent", ...) with a submitted, scored
    response for this episode and phase (an `Occasion` value). A response that was
    corrected counts through its correction only."""
    return completed_instruments_of([episode.id], phase=phase).get(episode.id, frozenset())


def completed_instruments_of(episode_ids: list[int], phase: str = "baseline") -> dict[int, frozenset[str]]:
    """``completed_instruments`` of many episodes in one query, by episode id."""
    completed: dict[int, set[str]] = {}
    for episode_id, instrument_id in MeasureResponse.objects.filter(
        episode_id__in=episode_ids, occasion=phase, is_scored=True, correction__isnull=True
    ).values_list("episode_id", "instrument_id"):
        completed.setdefault(episode_id, set()).add(instrument_id)
    return {e: frozenset(ids) for e, ids in completed.items()}


def planned_instruments(episode: Episode, occasion: str = Occasion.BASELINE) -> frozenset[str]:
    """Instrument ids on the episode's measure schedule for `occasion`: the episode's own
    schedule once it has one, the clinic default before that."""
    if not MeasurePlanEntry.objects.filter(episode=episode).exists():
        return frozenset(DEFAULT_PLAN.get(occasion, ()))
    return frozenset(
        MeasurePlanEntry.objects.filter(episode=episode, occasion=occasion).values_list(
            "instrument_id", flat=True
        )
    )


def current_responses(patient: Patient) -> QuerySet[MeasureResponse]:
    """Responses not replaced by a correction, oldest first."""
    return (
        MeasureResponse.objects.filter(patient=patient, correction__isnull=True)
        .select_related("entered_by")
        .order_by("completed_at", "id")
    )


def has_open_safety_task() -> Exists:
    """Whether the patient (the outer row) has an open safety task: the chart reads it with
    the patient (patients.selectors.CHART_FACTS), so the banner queries only when it shows."""
    return Exists(Task.objects.filter(patient=OuterRef("pk"), kind=SAFETY_TASK_KIND, resolved_at__isnull=True))


def open_safety_tasks(patient: Patient) -> list[Task]:
    return _OPEN_SAFETY_TASKS.read(patient_id=patient.id)


# The Measures tab's reads, compiled once per process (ADR 0096).
_OPEN_SAFETY_TASKS = CompiledRead(Task, lambda patient_id: Task.objects.filter(
    patient_id=patient_id, kind=SAFETY_TASK_KIND, resolved_at__isnull=True).order_by(PRIORITY_ORDER, "created_at"),
    "patient_id")
_PLAN_ENTRIES = CompiledRead(MeasurePlanEntry, lambda episode_id: MeasurePlanEntry.objects.filter(
    episode_id=episode_id), "episode_id")
_ASSIGNMENTS = CompiledRead(MeasureAssignment, lambda patient_id: MeasureAssignment.objects.filter(
    patient_id=patient_id).select_related("assigned_by").order_by("due_at", "id"), "patient_id")
_SESSIONS = CompiledRead(DosingSession, lambda patient_id: DosingSession.objects.filter(patient_id=patient_id)
                         .exclude(status=DosingSession.Status.CANCELLED).order_by("scheduled_start"), "patient_id")
_CURRENT_RESPONSES = CompiledRead(MeasureResponse, lambda patient_id: MeasureResponse.objects.filter(
    patient_id=patient_id, correction__isnull=True).select_related("entered_by").order_by("completed_at", "id"),
    "patient_id")


# --- the Measures tab ---------------------------------------------------------------------


@dataclass
class Trend:
    instrument: Instrument
    responses: list[MeasureResponse]
    baseline: MeasureResponse | None
    latest: MeasureResponse | None
    change: ChangeResult | None
    remission: RemissionDefinition | None
    chart: TrendChart | None
    sessions: list[DosingSession]


@dataclass
class TriageHistory:
    instrument: Instrument
    responses: list[MeasureResponse]


@dataclass
class MeasuresOverview:
    patient: Patient
    episode: Episode | None
    open_assignments: list[MeasureAssignment]
    recent_assignments: list[MeasureAssignment]
    trends: list[Trend]
    triage: list[TriageHistory]
    unscored: list[MeasureResponse]
    safety_tasks: list[Task]
    sessions: list[DosingSession]
    via_break_glass: bool
    plan: dict[str, list[str]] = field(default_factory=dict)


def _session_time(session: DosingSession) -> datetime:
    return session.started_at or session.scheduled_start


def _baseline(responses: Sequence[MeasureResponse]) -> MeasureResponse | None:
    scored = [r for r in responses if r.total is not None]
    for r in scored:
        if r.occasion == Occasion.BASELINE:
            return r
    return scored[0] if scored else None


def build_trend(
    instrument: Instrument, responses: list[MeasureResponse], sessions: Sequence[DosingSession],
    *, sex: str | None = None,
) -> Trend:
    scored = [r for r in responses if r.total is not None]
    baseline = _baseline(scored)
    latest = scored[-1] if scored else None
    change = None
    remission = None
    rules = change_rules(instrument.id)
    if rules is not None:
        remission = rules.remission[0]
    if baseline is not None and latest is not None and latest.id != baseline.id and latest.completed_at > baseline.completed_at:
        change = assess_change(instrument.id, baseline.total, latest.total)  # type: ignore[arg-type]
    chart = None
    bounds = score_range(instrument.id)
    if len(scored) > 1 and bounds is not None:
        response_line = None
        if rules is not None and baseline is not None and baseline.total:
            response_line = baseline.total * (100 - RESPONSE_REDUCTION_PERCENT) / 100
        chart = trend_chart(
            instrument,
            [(r.completed_at, r.total, r.has_safety_flag, r.id) for r in scored],  # type: ignore[misc]
            [_session_time(s) for s in sessions],
            bounds=bounds,
            baseline=baseline.total if baseline is not None else None,
            response_threshold=response_line,
            remission=remission,
            sex=sex,
        )
    return Trend(instrument, responses, baseline, latest, change, remission, chart, list(sessions))


def measures_overview(*, by: Actor, patient_id: int) -> MeasuresOverview:
    """Everything of the Measures tab: schedule, trends with change from baseline,
    triage screens, open safety tasks. Reads only: the schedule follows the events. The
    patient comes with the chart header's facts (the tab strip's badges)."""
    patient, glass = patient_for(by, patient_id, Perm.MEASURE_VIEW, chart_facts=True)
    episode = current_episode(patient)
    plan: dict[str, list[str]] = {}
    if episode is not None:
        for entry in _PLAN_ENTRIES.read(episode_id=episode.id):
            plan.setdefault(entry.occasion, []).append(entry.instrument_id)
    now = timezone.now()
    assignments = _ASSIGNMENTS.read(patient_id=patient.id)
    open_assignments = [a for a in assignments if a.is_open and a.due_at <= now + LOOKAHEAD]
    recent = sorted(
        (a for a in assignments if not a.is_open), key=lambda a: a.completed_at or a.cancelled_at or a.due_at, reverse=True
    )[:12]
    sessions = _SESSIONS.read(patient_id=patient.id)
    by_instrument: dict[str, list[MeasureResponse]] = {}
    for r in _CURRENT_RESPONSES.read(patient_id=patient.id):
        by_instrument.setdefault(r.instrument_id, []).append(r)
    sex = patient.sex_at_birth if patient.sex_at_birth in ("female", "male") else None
    trends, triage = [], []
    unscored: list[MeasureResponse] = []
    for instrument in all_instruments():
        responses = by_instrument.get(instrument.id)
        if not responses:
            continue
        unscored.extend(r for r in responses if not r.is_scored)
        if score_range(instrument.id) is None:
            triage.append(TriageHistory(instrument, list(reversed(responses))))
        else:
            trends.append(build_trend(instrument, responses, sessions, sex=sex))
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measures", object_id=patient.id,
        patient_id=patient.id, break_glass=glass,
    )
    return MeasuresOverview(
        patient=patient, episode=episode, open_assignments=open_assignments,
        recent_assignments=recent, trends=trends, triage=triage, unscored=unscored,
        # The patient came with whether one is open (ADR 0089): none, nothing to read.
        safety_tasks=open_safety_tasks(patient) if getattr(patient, "chart_open_safety_task", True) else [], sessions=sessions, via_break_glass=glass, plan=plan,
    )


def response_get(*, by: Actor, response_id: int) -> MeasureResponse:
    response = (
        MeasureResponse.objects.filter(id=response_id, organization=by.organization)
        .select_related("entered_by", "corrects", "assignment", "patient")
        .first()
    )
    if response is None:
        raise Http404("No such response in your organisation.")
    _patient, glass = patient_for(by, response.patient_id, Perm.MEASURE_VIEW)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measure_response", object_id=response.id,
        patient_id=response.patient_id, break_glass=glass,
    )
    return response


def responses_of(*, by: Actor, patient_id: int, instrument_id: str | None = None) -> list[MeasureResponse]:
    """Every response of the patient, oldest first, corrected ones included (API)."""
    patient, glass = patient_for(by, patient_id, Perm.MEASURE_VIEW)
    qs = MeasureResponse.objects.filter(patient=patient).order_by("completed_at", "id")
    if instrument_id:
        qs = qs.filter(instrument_id=instrument_id)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measure_response", patient_id=patient.id,
        break_glass=glass, detail={"instrument": instrument_id or "all"},
    )
    return list(qs)


def trend_of(*, by: Actor, patient_id: int, instrument_id: str) -> Trend:
    patient, glass = patient_for(by, patient_id, Perm.MEASURE_VIEW)
    instrument = licensed.instrument_for(by.organization.id, instrument_id)
    responses = list(current_responses(patient).filter(instrument_id=instrument.id))
    sessions = list(
        DosingSession.objects.filter(patient=patient)
        .exclude(status=DosingSession.Status.CANCELLED)
        .order_by("scheduled_start")
    )
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measure_trend", object_id=instrument.id,
        patient_id=patient.id, break_glass=glass,
    )
    sex = patient.sex_at_birth if patient.sex_at_birth in ("female", "male") else None
    return build_trend(instrument, responses, sessions, sex=sex)


def due_assignments(*, by: Actor, patient_id: int) -> list[MeasureAssignment]:
    """Open measures of the patient that are due, overdue or due within two weeks."""
    patient, glass = patient_for(by, patient_id, Perm.MEASURE_VIEW)
    now = timezone.now()
    rows = list(
        MeasureAssignment.objects.filter(
            patient=patient, completed_at__isnull=True, cancelled_at__isnull=True,
            due_at__lte=now + LOOKAHEAD,
        ).order_by("due_at", "id")
    )
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measure_assignment", patient_id=patient.id,
        break_glass=glass, detail={"due": len(rows)},
    )
    return rows


# --- the patient's own view ---------------------------------------------------------------


@dataclass
class PortalItem:
    assignment: MeasureAssignment
    instrument: Instrument
    status: AssignmentStatus
    answered: int
    total_items: int


# What the portal home lists, on every visit of every patient (ADR 0118).
_PORTAL_DUE = CompiledRead(MeasureAssignment, lambda patient_id, now: MeasureAssignment.objects.filter(
    patient_id=patient_id, completed_at__isnull=True, cancelled_at__isnull=True, due_at__lte=now,
).select_related("draft").order_by("overdue_at", "id"), "patient_id", datetimes=("now",))


def portal_questionnaires(*, by: Actor) -> list[PortalItem]:
    """The patient's questionnaires to complete now (self-report ones they may answer)."""
    patient = portal_patient(by)
    now = timezone.now()
    items = []
    due = _PORTAL_DUE.read(patient_id=patient.id, now=now)
    # The clinic's wording read once, not once per questionnaire.
    instruments = licensed.instruments_for(patient.organization_id, {a.instrument_id for a in due})
    for a in due:
        instrument = instruments[a.instrument_id]
        if not presentation.patient_can_complete(instrument):
            continue
        draft = getattr(a, "draft", None)
        items.append(
            PortalItem(a, instrument, a.status_at(now), len(draft.answers) if draft else 0, len(instrument.items))
        )
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measure_assignment", patient_id=patient.id,
        detail={"portal": True, "due": len(items)},
    )
    return items


def tasks_for_response(response: MeasureResponse) -> list[Task]:
    """Safety tasks raised by this response or by the answers given before it was
    submitted (the caller has already checked access to the response)."""
    condition = Q(subject_type="measure_response", subject_id=str(response.id))
    if response.assignment_id is not None:
        condition |= Q(subject_type="measure_assignment", subject_id=str(response.assignment_id))
    return list(
        Task.objects.filter(condition, organization_id=response.organization_id).order_by("created_at")
    )


def link_url(raw: str) -> str:
    """The address a patient opens a questionnaire link at (shown once, or emailed)."""
    return settings.SITE_URL.rstrip("/") + reverse("measures:link", args=[raw])


def patient_assignment(patient: Patient, assignment_id: int, *, lock: bool = False) -> tuple[MeasureAssignment, Instrument]:
    """One of this patient's questionnaires that they complete themselves (not audited: the
    portal selector and the portal writes, which lock it, audit their own use)."""
    qs = MeasureAssignment.objects.filter(id=assignment_id, patient=patient)
    if lock:
        qs = qs.select_for_update()
    assignment = qs.first()
    if assignment is None:
        raise Http404("No such questionnaire.")
    instrument = licensed.instrument_for(patient.organization_id, assignment.instrument_id)
    if instrument.rater is not Rater.SELF_REPORT:
        raise Denied("This scale is completed by your clinician, not in the portal.", patient_id=patient.id)
    if not presentation.patient_can_complete(instrument):
        raise Denied("Your clinic completes this questionnaire with you in person.", patient_id=patient.id)
    return assignment, instrument


def portal_assignment(*, by: Actor, assignment_id: int) -> tuple[MeasureAssignment, Instrument]:
    """One of the patient's own questionnaires; 404 for anyone else's, 403 for a scale
    that only staff complete."""
    patient = portal_patient(by)
    assignment, instrument = patient_assignment(patient, assignment_id)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measure_assignment", object_id=assignment.id,
        patient_id=patient.id,
    )
    return assignment, instrument


def portal_response(*, by: Actor, response_id: int) -> MeasureResponse:
    patient = portal_patient(by)
    response = MeasureResponse.objects.filter(id=response_id, patient=patient).first()
    if response is None:
        raise Http404("No such questionnaire.")
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="measure_response", object_id=response.id,
        patient_id=patient.id,
    )
    return response


# --- small reads of the pages (the page's own selector audited the chart) -------------------


def response_in_chart(*, by: Actor, patient_id: int, response_id: int) -> bool:
    """Whether the response belongs to this patient of the actor's organisation."""
    return MeasureResponse.objects.filter(
        id=response_id, patient_id=patient_id, organization=by.organization
    ).exists()


def assignment_in_chart(*, by: Actor, patient_id: int, assignment_id: int) -> bool:
    return MeasureAssignment.objects.filter(
        id=assignment_id, patient_id=patient_id, organization=by.organization
    ).exists()


def assignment_of(patient: Patient, assignment_id: int) -> MeasureAssignment | None:
    return MeasureAssignment.objects.filter(id=assignment_id, patient=patient).first()


def correction_of(response: MeasureResponse) -> MeasureResponse | None:
    return MeasureResponse.objects.filter(corrects=response).first()


def corrections_of(responses: Iterable[MeasureResponse]) -> dict[int, int]:
    """The correcting response's id of each corrected one, by the corrected one's id."""
    return dict(MeasureResponse.objects.filter(corrects__in=list(responses)).values_list("corrects_id", "id"))


def draft_of(assignment: MeasureAssignment) -> MeasureDraft | None:
    return MeasureDraft.objects.filter(assignment=assignment).first()


def licensed_wordings(*, by: Actor) -> dict[str, LicensedWording]:
    """The organisation's licensed instrument texts, by instrument id."""
    return {w.instrument_id: w for w in LicensedWording.objects.filter(organization=by.organization)}
