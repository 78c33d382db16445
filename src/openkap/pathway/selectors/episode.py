"""The episode as pages and lists show it: the open episode, the checked and audited read
of a pathway page (``episode_view``), the Pathway tab's overview, the API's summaries and
the worklist."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead
from openkap.core.authz import Perm
from openkap.core.pathway import (
    STATE_LABELS,
    TERMINAL_STATES,
    TRANSITION_LABELS,
    ChecklistResult,
    EpisodeSnapshot,
    IntegrationDue,
    State,
    dosing_booking_requirements,
    evaluate_checklist,
    open_integrations,
    transitions_from,
)
from openkap.core.pathway.episode import measure_name
from openkap.core.pathway.guards import BOOKABLE_STATES
from openkap.core.pathway.integration import DEFAULT_INTEGRATION_WINDOW_DAYS, DosingRecord
from openkap.pathway.models import EligibilityDecision, Episode, EpisodeTransition, TreatmentPlan
from openkap.patients.models import Patient
from openkap.patients.selectors import Chart, chart_header, patient_for, visible_patients

from .intake import eligibility_in_force
from .integration import _dosing_record, integration_due
from .plan import episode_route, plan_in_force
from .preparation import ConsentStatus, consent_status
from .snapshot import _snapshots_and_reads, episode_snapshot, episode_snapshots

OPEN_STATES = [s.value for s in State if s not in TERMINAL_STATES]


# Compiled once per process: every pathway page and the Measures tab read it (ADR 0096).
_CURRENT_EPISODE = CompiledRead(Episode, lambda patient_id: Episode.objects.filter(
    patient_id=patient_id, state__in=OPEN_STATES).order_by("-opened_at")[:1], "patient_id")


def current_episode(patient: Patient) -> Episode | None:
    """The patient's open episode, if any (callers have already checked access)."""
    return _CURRENT_EPISODE.first(patient_id=patient.id)


# --- checked and audited reads --------------------------------------------------------


@dataclass(frozen=True)
class EpisodeView:
    """A patient's chart header and open episode, read for one pathway page."""

    chart: Chart
    episode: Episode | None

    @property
    def patient(self) -> Patient:
        return self.chart.patient


def episode_view(*, by: Actor, patient_id: int, part: str = "episode") -> EpisodeView:
    """Open a pathway page (``part`` names it in the audit log): checked and audited; the
    patient with the chart header's facts."""
    patient, glass = patient_for(by, patient_id, Perm.CLINICAL_VIEW, chart_facts=True)
    episode = current_episode(patient)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type=part,
        object_id=episode.id if episode else "", patient_id=patient.id, break_glass=glass,
    )
    # The header's latest weight and care team, compiled reads (only the chart page lists weights).
    return EpisodeView(chart_header(by=by, patient=patient, via_break_glass=glass), episode)


@dataclass(frozen=True)
class TransitionOption:
    name: str
    label: str
    target: State
    target_label: str
    unmet: list[str]
    needs_reason: bool

    @property
    def going_back(self) -> bool:
        return self.needs_reason


@dataclass(frozen=True)
class Overview:
    snapshot: EpisodeSnapshot
    state_label: str
    options: list[TransitionOption]
    history: list[EpisodeTransition]
    booking_unmet: list[str]
    checklist: ChecklistResult
    integration_due: list[IntegrationDue]
    plan: TreatmentPlan | None
    decision: EligibilityDecision | None
    consent: ConsentStatus

    @property
    def forward(self) -> list[TransitionOption]:
        return [o for o in self.options if not o.needs_reason]

    @property
    def back(self) -> list[TransitionOption]:
        return [o for o in self.options if o.needs_reason]

    @property
    def back_names(self) -> list[str]:
        return [o.name for o in self.back]

    @property
    def baseline(self) -> list[tuple[str, bool]]:
        """Each required baseline measure by name, and whether it is completed."""
        done = self.snapshot.baseline_measures_completed
        return [(measure_name(m), m in done) for m in self.snapshot.required_measures]


def _transition_options(snapshot: EpisodeSnapshot) -> list[TransitionOption]:
    return [
        TransitionOption(
            t.name,
            TRANSITION_LABELS[t.name],
            t.target,
            STATE_LABELS[t.target],
            t.unmet(snapshot, reason="given" if t.needs_reason else ""),
            t.needs_reason,
        )
        for t in transitions_from(snapshot.state)
    ]


def episode_overview(episode: Episode) -> Overview:
    """Everything the Pathway tab shows about an episode already read through ``episode_view``."""
    snapshot = episode_snapshot(episode)
    options = _transition_options(snapshot)
    plan = plan_in_force(episode)
    return Overview(
        snapshot=snapshot,
        state_label=STATE_LABELS[snapshot.state],
        options=options,
        history=list(episode.transitions.select_related("by").order_by("at", "id")),
        booking_unmet=dosing_booking_requirements(snapshot),
        checklist=evaluate_checklist(snapshot.contraindication_answers, snapshot.checklist_route),
        integration_due=integration_due(episode),
        plan=plan,
        decision=eligibility_in_force(episode),
        consent=consent_status(episode, episode_route(episode, plan)),
    )


@dataclass(frozen=True)
class EpisodeSummary:
    """An episode as a list shows it (the API's episode): the guards judged, the
    history and the integration sessions due."""

    episode: Episode
    snapshot: EpisodeSnapshot
    options: list[TransitionOption]
    history: list[EpisodeTransition]
    booking_unmet: list[str]
    integration_due: list[IntegrationDue]


def episode_summaries(episodes: Iterable[Episode]) -> list[EpisodeSummary]:
    """``EpisodeSummary`` of each episode, in order, in a fixed number of queries however
    many there are (callers have checked access and audited)."""
    episodes = list(episodes)
    snapshots, reads = _snapshots_and_reads(episodes)
    history: dict[int, list[EpisodeTransition]] = {}
    for t in reversed(reads.transitions):  # oldest first
        history.setdefault(t.episode_id, []).append(t)
    records: dict[int, list[DosingRecord]] = {}
    for s in reads.held:
        records.setdefault(s.episode_id, []).append(_dosing_record(s))
    plans = reads.plans
    today = timezone.localdate()
    summaries = []
    for e in episodes:
        snapshot = snapshots[e.id]
        plan = plans.get(e.id)
        window = plan.integration_cadence_days if plan else DEFAULT_INTEGRATION_WINDOW_DAYS
        due = open_integrations(records.get(e.id, []), today=today, window_days=window)
        summaries.append(EpisodeSummary(
            e, snapshot, _transition_options(snapshot), history.get(e.id, []),
            dosing_booking_requirements(snapshot), due,
        ))
    return summaries


@dataclass(frozen=True)
class WorklistRow:
    episode: Episode
    state_label: str
    bookable: bool  # preparation, active series or maintenance: dosing may be booked
    to_do: list[str]  # before booking (when bookable) or before the next step
    next_step: str


WORKLIST_ROWS = 100  # each row judges the guards: a page, not the whole clinic


def _worklist_row(episode: Episode, snapshot: EpisodeSnapshot) -> WorklistRow:
    state = snapshot.state
    bookable = state in BOOKABLE_STATES
    forward = [t for t in transitions_from(state) if not t.needs_reason]
    if bookable:
        to_do, next_step = dosing_booking_requirements(snapshot), "Book a dosing session"
    elif forward:
        to_do, next_step = forward[0].unmet(snapshot), TRANSITION_LABELS[forward[0].name]
    else:
        to_do, next_step = [], ""
    return WorklistRow(episode, STATE_LABELS[state], bookable, to_do, next_step)


def _open_episodes(by: Actor, state: str) -> QuerySet[Episode]:
    require(by, Perm.CLINICAL_VIEW)
    episodes = (
        Episode.objects.filter(organization=by.organization, state__in=OPEN_STATES)
        .filter(patient__in=visible_patients(by))
        .select_related("patient")
        .order_by("patient__legal_family_name", "patient__legal_given_name", "id")
    )
    return episodes.filter(state=state) if state else episodes


def _audit_episode_list(by: Actor, state: str, ids: list[int]) -> None:
    audit_record(by=by, action=AuditAction.SEARCH, object_type="episode",
                 detail={"state": state, "result_ids": ids})


def episode_worklist(*, by: Actor, state: str = "") -> list[WorklistRow]:
    """Open episodes of the patients the actor may see, optionally in one state; audited."""
    page = list(_open_episodes(by, state)[:WORKLIST_ROWS])
    snapshots = episode_snapshots(page)
    rows = [_worklist_row(e, snapshots[e.id]) for e in page]
    _audit_episode_list(by, state, [r.episode.id for r in rows])
    return rows


def episode_list(*, by: Actor, state: str = "", limit: int = 50) -> list[EpisodeSummary]:
    """The worklist's episodes as ``EpisodeSummary`` (the API's list); audited."""
    summaries = episode_summaries(_open_episodes(by, state)[:limit])
    _audit_episode_list(by, state, [s.episode.id for s in summaries])
    return summaries
