"""Reads of the care pathway.

``episode_snapshot`` and ``dosing_booking_unmet`` are the contract the
scheduling and dosing apps call (their callers have already checked access);
the ``*_for`` readers below check access and audit, like every read of patient
data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from openkap import fieldcrypto
from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import consent_text
from openkap.core.authz import Perm
from openkap.core.pathway import (
    CHECKLIST,
    STATE_LABELS,
    TERMINAL_STATES,
    TRANSITION_LABELS,
    ChecklistResult,
    EligibilityOutcome,
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
from openkap.core.pathway.plan import (
    SAFETY_PLAN_SECTIONS,
    MeasureSchedule,
    parse_measure_schedule,
    safety_plan_missing,
)
from openkap.core.protocols import Protocol
from openkap.core.routes import Route
from openkap.pathway.models import (
    Commitment,
    ConsentDocument,
    ConsentSignature,
    ContraindicationAnswer,
    EligibilityDecision,
    Episode,
    EpisodeTransition,
    Intake,
    IntegrationNote,
    Intention,
    JournalEntry,
    PreparationSession,
    PsychotherapyNote,
    PsychotherapyNoteGrant,
    ReassessmentReview,
    SafetyPlan,
    SessionArrangements,
    TreatmentPlan,
)
from openkap.patients.models import Patient
from openkap.patients.selectors import Chart, patient_for, visible_patients

_T = TypeVar("_T")
_K = TypeVar("_K")

OPEN_STATES = [s.value for s in State if s not in TERMINAL_STATES]


def current_episode(patient: Patient) -> Episode | None:
    """The patient's open episode, if any (callers have already checked access)."""
    return (
        Episode.objects.filter(patient=patient, state__in=OPEN_STATES).order_by("-opened_at").first()
    )


# --- facts of one episode (no access check: the caller has done it) -----------------


def _last_transition_at(episode: Episode, **filters: str) -> datetime | None:
    last = episode.transitions.filter(**filters).order_by("-at", "-id").first()
    return last.at if last else None


def eligibility_in_force(episode: Episode) -> EligibilityDecision | None:
    """The latest signed decision since the episode last went back to screening."""
    decisions = episode.eligibility_decisions.all()
    since = _last_transition_at(episode, name="rescreen")
    if since is not None:
        decisions = decisions.filter(signed_at__gt=since)
    return decisions.order_by("-signed_at", "-id").first()


def plan_in_force(episode: Episode) -> TreatmentPlan | None:
    """The latest signed version of the treatment plan."""
    return episode.plans.order_by("-version").first()


def plans_in_force(episode_ids: Iterable[int]) -> dict[int, TreatmentPlan]:
    """``plan_in_force`` of many episodes in one query (a list must not query per row)."""
    plans: dict[int, TreatmentPlan] = {}
    for plan in TreatmentPlan.objects.filter(episode_id__in=set(episode_ids)).order_by("episode_id", "-version"):
        plans.setdefault(plan.episode_id, plan)
    return plans


def plan_measure_schedule(episode: Episode) -> MeasureSchedule:
    """Which measures are due when: the plan's schedule, or the core baseline before a plan."""
    plan = plan_in_force(episode)
    return parse_measure_schedule(plan.measure_schedule) if plan else MeasureSchedule()


def reassessment_in_force(episode: Episode) -> ReassessmentReview | None:
    since = _last_transition_at(episode, to_state=State.REASSESSMENT)
    reviews = episode.reassessments.all()
    if since is not None:
        reviews = reviews.filter(signed_at__gt=since)
    return reviews.order_by("-signed_at", "-id").first()


def episode_route(episode: Episode, plan: TreatmentPlan | None = None) -> Route | None:
    """The plan's route, or before a plan the route named at intake."""
    plan = plan if plan is not None else plan_in_force(episode)
    if plan is not None:
        return Route(plan.route)
    intake = Intake.objects.filter(episode=episode).first()
    return Route(intake.intended_route) if intake and intake.intended_route else None


@dataclass(frozen=True)
class ConsentStatus:
    route: Route | None
    document: ConsentDocument | None  # the version in force for the route
    signature: ConsentSignature | None  # the patient's latest signature for the route
    # The text to sign: the document's, its placeholders filled from the plan's protocol.
    text: str = ""
    # Why the placeholders cannot be filled yet ("" when they can, or there are none).
    unfilled: str = ""

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def withdrawn(self) -> bool:
        return self.signature is not None and self.signature.withdrawn_at is not None

    @property
    def current(self) -> bool:
        return (
            self.document is not None
            and self.signature is not None
            and not self.withdrawn
            and self.signature.document_id == self.document.id
        )


def consent_document_in_force(organization_id: int, route: Route | None) -> ConsentDocument | None:
    if route is None:
        return None
    return (
        ConsentDocument.objects.filter(organization_id=organization_id, route=route)
        .order_by("-version")
        .first()
    )


def consent_text_for(episode: Episode, document: ConsentDocument) -> tuple[str, str]:
    """(text to sign, why it cannot be filled): the document's placeholders filled from
    the approved protocol the treatment plan names."""
    if not consent_text.placeholders(document.text):
        return document.text, ""
    plan = plan_in_force(episode)
    if plan is None or not plan.protocol_id:
        return document.text, "The consent states the protocol's facts: sign the treatment plan (naming its protocol) first."
    protocol = _approved_protocol(episode.organization_id, plan.protocol_id)
    if protocol is None:
        return document.text, (
            f"The consent states the protocol's facts, and the plan's protocol {plan.protocol_id} has no approved "
            "version in the library yet."
        )
    try:
        return consent_text.fill(document.text, consent_text.protocol_facts(protocol)), ""
    except KeyError as exc:  # a placeholder refused at publishing; kept for documents older than that rule
        return document.text, f"The consent names an unknown fact {exc.args[0]!r}: publish a corrected version."


def consent_status(episode: Episode, route: Route | None = None) -> ConsentStatus:
    route = route if route is not None else episode_route(episode)
    document = consent_document_in_force(episode.organization_id, route)
    signature = (
        ConsentSignature.objects.filter(episode=episode, document__route=route)
        .select_related("document")
        .order_by("-signed_at", "-id")
        .first()
        if route is not None
        else None
    )
    text, unfilled = consent_text_for(episode, document) if document is not None else ("", "")
    return ConsentStatus(route, document, signature, text, unfilled)


def latest_safety_plan(episode: Episode) -> SafetyPlan | None:
    return episode.safety_plans.order_by("-recorded_at", "-id").first()


def safety_plan_sections(plan: SafetyPlan | None) -> dict[str, str]:
    return {key: getattr(plan, key) if plan else "" for key in SAFETY_PLAN_SECTIONS}


def arrangements_of(episode: Episode) -> SessionArrangements | None:
    return SessionArrangements.objects.filter(episode=episode).first()


@dataclass(frozen=True)
class PreSessionInstructions:
    """What the patient is told before each dosing session (reminders use it too)."""

    fasting: str
    medications_to_hold: str
    what_to_bring: str
    escort_name: str
    escort_phone: str

    def as_text(self) -> str:
        """The instructions as plain text in the active language (the caller activates
        the patient's)."""
        parts = [
            (_("Fasting"), self.fasting),
            (_("Medications to hold"), self.medications_to_hold),
            (_("What to bring"), self.what_to_bring),
        ]
        lines = [f"{label}: {text.strip()}" for label, text in parts if text.strip()]
        if self.escort_name:
            lines.append(_("Your escort home: %(name)s, %(phone)s.") % {"name": self.escort_name,
                                                                        "phone": self.escort_phone})
        return "\n".join(lines)


def pre_session_instructions(episode: Episode) -> PreSessionInstructions:
    a = arrangements_of(episode)
    if a is None:
        return PreSessionInstructions("", "", "", "", "")
    return PreSessionInstructions(
        a.fasting, a.medications_to_hold, a.what_to_bring, a.escort_name, a.escort_phone
    )


def held_dosing_sessions(episode: Episode) -> list[HeldSession]:
    """The episode's held dosing sessions, in the order they were booked."""
    return held_sessions_of([episode.id])


def integration_window_days(episode: Episode, plan: TreatmentPlan | None = None) -> int:
    plan = plan if plan is not None else plan_in_force(episode)
    return plan.integration_cadence_days if plan else DEFAULT_INTEGRATION_WINDOW_DAYS


def dosing_records(episode: Episode) -> list[DosingRecord]:
    """One record per held dosing session with the date of its first integration note."""
    return [_dosing_record(s) for s in held_dosing_sessions(episode)]


def _dosing_record(session: HeldSession) -> DosingRecord:
    return DosingRecord(str(session.id), session.dosed_on, session.integrated_on)


def integration_due(
    episode: Episode, today: date | None = None, window_days: int | None = None
) -> list[IntegrationDue]:
    """Dosing sessions still waiting for integration, soonest due first (overdue ones flagged).
    ``window_days``: the plan's window when the caller has already read it."""
    return open_integrations(
        dosing_records(episode),
        today=today or timezone.localdate(),
        window_days=window_days if window_days is not None else integration_window_days(episode),
    )


# Which instruments each episode completed for an occasion: the measures app owns the
# answers and registers its selector at start-up (measures.receivers), so pathway never
# imports measures. Unregistered, nothing counts as completed and the guards refuse.
CompletedInstruments = Callable[..., Mapping[int, frozenset[str]]]
_completed_instruments: list[CompletedInstruments] = []


def completed_instruments_from(selector: CompletedInstruments) -> None:
    """Register ``selector(episode_ids, phase=...)`` as the source of completed instruments."""
    _completed_instruments[:] = [selector]


def _completed_instruments_of(episode_ids: list[int], phase: str) -> dict[int, frozenset[str]]:
    if not _completed_instruments:
        return {}
    return dict(_completed_instruments[0](episode_ids, phase=phase))


# What pathway asks of the dosing app: the held sessions (integration is due after each)
# and the approved version of the plan's protocol (the consent states its facts). Dosing
# owns both and registers its selectors at start-up (DosingConfig.ready), so pathway never
# imports dosing (ADR 0064). Unregistered, no session was held and no protocol approved.
@dataclass(frozen=True)
class HeldSession:
    """A dosing session in which the medicine was given (the dosing app's rule)."""

    id: int
    episode_id: int
    dosed_on: date  # the local day of check-in, or of the booking
    integrated_on: date | None  # the day of its first integration session


HeldSessions = Callable[[Iterable[int] | QuerySet[Episode]], list[HeldSession]]
ApprovedProtocol = Callable[[int, str], Protocol | None]
_held_sessions: list[HeldSessions] = []
_approved_protocols: list[ApprovedProtocol] = []


def dosing_reads_from(*, held_sessions: HeldSessions, approved_protocol: ApprovedProtocol) -> None:
    """Register ``held_sessions(episodes)`` (episode ids or a queryset of episodes; in
    booking order) and ``approved_protocol(organization_id, protocol_id)`` (the newest
    approved version's protocol)."""
    _held_sessions[:] = [held_sessions]
    _approved_protocols[:] = [approved_protocol]


def held_sessions_of(episodes: Iterable[int] | QuerySet[Episode]) -> list[HeldSession]:
    return _held_sessions[0](episodes) if _held_sessions else []


def _approved_protocol(organization_id: int, protocol_id: str) -> Protocol | None:
    return _approved_protocols[0](organization_id, protocol_id) if _approved_protocols else None


def episode_snapshot(episode: Episode) -> EpisodeSnapshot:
    """The plain-data picture of the episode that the pathway guards judge.

    Every fact defaults to "not done" in the core, so a record that does not
    exist refuses rather than allows.
    """
    return episode_snapshots([episode])[episode.id]


def _first_per(rows: Iterable[_T], key: Callable[[_T], _K]) -> dict[_K, _T]:
    """The first row of each key, rows already in the order that decides."""
    first: dict[_K, _T] = {}
    for row in rows:
        first.setdefault(key(row), row)
    return first


def _latest_since(rows: Iterable[_T], since: dict[int, datetime]) -> dict[int, _T]:
    """Per episode, the first signed row (newest first) signed after ``since``, if given."""
    latest: dict[int, _T] = {}
    for row in rows:
        episode_id = row.episode_id  # type: ignore[attr-defined]
        cutoff = since.get(episode_id)
        if episode_id not in latest and (cutoff is None or row.signed_at > cutoff):  # type: ignore[attr-defined]
            latest[episode_id] = row
    return latest


@dataclass(frozen=True)
class _SnapshotReads:
    """Rows the snapshots read that a summary shows too: read once for both."""

    transitions: list[EpisodeTransition]  # newest first, with who made each
    held: list[HeldSession]
    plans: dict[int, TreatmentPlan]  # in force, by episode


def episode_snapshots(episodes: Iterable[Episode]) -> dict[int, EpisodeSnapshot]:
    """``episode_snapshot`` of each episode, by id, in a fixed number of queries however
    many episodes there are (the worklist judges every row's guards)."""
    return _snapshots_and_reads(episodes)[0]


def _snapshots_and_reads(episodes: Iterable[Episode]) -> tuple[dict[int, EpisodeSnapshot], _SnapshotReads]:
    episodes = list(episodes)
    ids = [e.id for e in episodes]
    today = timezone.localdate()
    intakes = {i.episode_id: i for i in Intake.objects.filter(episode_id__in=ids)}
    plans = _first_per(TreatmentPlan.objects.filter(episode_id__in=ids).order_by("-version"), lambda p: p.episode_id)
    transitions = list(EpisodeTransition.objects.filter(episode_id__in=ids).select_related("by").order_by("-at", "-id"))
    rescreened = {eid: t.at for eid, t in _first_per(
        (t for t in transitions if t.name == "rescreen"), lambda t: t.episode_id).items()}
    reassessing = {eid: t.at for eid, t in _first_per(
        (t for t in transitions if t.to_state == State.REASSESSMENT), lambda t: t.episode_id).items()}
    decisions = _latest_since(
        EligibilityDecision.objects.filter(episode_id__in=ids).order_by("-signed_at", "-id"), rescreened)
    reassessments = _latest_since(
        ReassessmentReview.objects.filter(episode_id__in=ids).order_by("-signed_at", "-id"), reassessing)
    routes: dict[int, Route | None] = {}
    for ep in episodes:
        plan, intake = plans.get(ep.id), intakes.get(ep.id)
        routes[ep.id] = (Route(plan.route) if plan is not None
                        else Route(intake.intended_route) if intake and intake.intended_route else None)
    documents = _first_per(
        ConsentDocument.objects.filter(
            organization_id__in={ep.organization_id for ep in episodes}, route__in={r for r in routes.values() if r}
        ).order_by("-version"),
        lambda d: (d.organization_id, d.route),
    )
    signatures = _first_per(
        ConsentSignature.objects.filter(episode_id__in=ids).select_related("document").order_by("-signed_at", "-id"),
        lambda s: (s.episode_id, s.document.route),
    )
    safety_plans = _first_per(
        SafetyPlan.objects.filter(episode_id__in=ids).order_by("-recorded_at", "-id"), lambda p: p.episode_id)
    arrangements = {a.episode_id: a for a in SessionArrangements.objects.filter(episode_id__in=ids)}
    known = {item.id for item in CHECKLIST.items}
    answers: dict[int, dict[str, bool]] = {}
    for a in ContraindicationAnswer.objects.filter(episode_id__in=ids, item_id__in=known):
        answers.setdefault(a.episode_id, {})[a.item_id] = a.present
    held: dict[int, list[bool]] = {}
    held_sessions = held_sessions_of(ids)
    for session in held_sessions:
        held.setdefault(session.episode_id, []).append(session.integrated_on is not None)
    prepared = dict(
        PreparationSession.objects.filter(episode_id__in=ids, held_on__lte=today)
        .values("episode_id").annotate(n=Count("id")).values_list("episode_id", "n")
    )
    with_intentions = set(Intention.objects.filter(episode_id__in=ids).values_list("episode_id", flat=True))
    baseline = _completed_instruments_of(ids, "baseline")
    reassessed = _completed_instruments_of(ids, "reassessment")

    snapshots = {}
    for episode in episodes:
        e = episode.id
        intake, plan, decision = intakes.get(e), plans.get(e), decisions.get(e)
        route = routes[e]
        document = documents.get((episode.organization_id, route)) if route else None
        signature = signatures.get((e, route)) if route else None
        consent = ConsentStatus(route, document, signature)
        safety = safety_plans.get(e)
        schedule = parse_measure_schedule(plan.measure_schedule) if plan else MeasureSchedule()
        sessions = held.get(e, [])
        snapshots[e] = EpisodeSnapshot(
            state=State(episode.state),
            intake_completed=bool(intake and intake.completed_at),
            intended_route=Route(intake.intended_route) if intake and intake.intended_route else None,
            baseline_measures_completed=baseline.get(e, frozenset()),
            plan_baseline_measures=frozenset(schedule.baseline),
            contraindication_answers=answers.get(e, {}),
            justified_relative_contraindications=frozenset(
                k for k, v in (decision.justifications if decision else {}).items()
                if k in known and str(v).strip()
            ),
            eligibility_outcome=EligibilityOutcome(decision.outcome) if decision else None,
            eligibility_reasons_written=bool(decision and decision.reasons.strip()),
            eligibility_conditions_written=bool(decision and decision.conditions.strip()),
            eligibility_signed_by_prescriber=decision is not None,
            plan_signed_by_prescriber=plan is not None,
            plan_route=Route(plan.route) if plan else None,
            plan_protocol_id=plan.protocol_id if plan else "",
            consent_current_version=consent.document.version_label if consent.document else "",
            consent_signed_version=(
                consent.signature.document.version_label if consent.signature else ""
            ),
            consent_withdrawn=consent.withdrawn,
            preparation_sessions_held=prepared.get(e, 0),
            intentions_recorded=e in with_intentions,
            safety_plan_recorded=safety is not None
            and not safety_plan_missing(safety_plan_sections(safety)),
            escort_arranged=bool(arrangements.get(e) and arrangements[e].escort_arranged),
            dosing_sessions_held=len(sessions),
            dosing_sessions_without_integration=sessions.count(False),
            reassessment_measures_completed=reassessed.get(e, frozenset()),
            reassessment_signed_by_prescriber=e in reassessments,
        )
    return snapshots, _SnapshotReads(transitions, held_sessions, plans)


def dosing_booking_unmet(episode: Episode) -> list[str]:
    """What is missing before a dosing session may be booked (empty: allowed)."""
    return dosing_booking_requirements(episode_snapshot(episode))


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
    weights = list(patient.weights.select_related("recorded_by")[:5])
    care_team = list(
        patient.care_team.filter(ended_at__isnull=True).select_related("user").order_by("role")
    )
    episode = current_episode(patient)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type=part,
        object_id=episode.id if episode else "", patient_id=patient.id, break_glass=glass,
    )
    chart = Chart(
        patient=patient,
        latest_weight=weights[0] if weights else None,
        weights=weights,
        care_team=care_team,
        age=patient.age_on(timezone.localdate()),
        via_break_glass=glass,
    )
    return EpisodeView(chart, episode)


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


def psychotherapy_notes_visible(by: Actor, patient: Patient) -> QuerySet[PsychotherapyNote]:
    """The notes the actor wrote or was granted; nobody else learns that others exist."""
    granted = Q(grants__user=by.user, grants__revoked_at__isnull=True)
    return (
        PsychotherapyNote.objects.filter(organization=by.organization, patient=patient)
        .filter(Q(author=by.user) | granted)
        .select_related("author")
        .distinct()
    )


def journal_of(patient: Patient) -> tuple[list[JournalEntry], list[Commitment]]:
    entries = list(JournalEntry.objects.filter(patient=patient).order_by("-written_at", "-id")[:100])
    commitments = list(
        Commitment.objects.filter(patient=patient).prefetch_related("checks").order_by("created_at", "id")
    )
    return entries, commitments


def recent_days(days: int = 14) -> list[date]:
    today = timezone.localdate()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def psychotherapy_note_read(*, by: Actor, patient_id: int, note_id: int) -> tuple[PsychotherapyNote, str]:
    """Decrypt one note for its author or a grantee; every read is audited."""
    patient, glass = patient_for(by, patient_id, Perm.PSYCHOTHERAPY_NOTES)
    note = psychotherapy_notes_visible(by, patient).filter(id=note_id).first()
    if note is None:
        raise Http404("No such note, or it is not shared with you.")
    text = fieldcrypto.decrypt_text(note.body_encrypted)
    audit_record(by=by, action=AuditAction.VIEW, object_type="psychotherapy_note", object_id=note.id,
                 patient_id=patient.id, break_glass=glass,
                 detail={"author_id": note.author_id, "as": "author" if note.author_id == by.user.id else "grantee"})
    return note, text


# --- records of an episode the page has already opened (episode_view audited it) ----------


def intake_of(episode: Episode | None) -> Intake | None:
    return Intake.objects.filter(episode=episode).select_related("weight").first() if episode else None


def preparation_sessions_of(episode: Episode | None) -> list[PreparationSession]:
    if episode is None:
        return []
    return list(PreparationSession.objects.filter(episode=episode).select_related("therapist"))


def integration_notes_of(episode: Episode | None) -> list[IntegrationNote]:
    if episode is None:
        return []
    return list(IntegrationNote.objects.filter(episode=episode).select_related("author", "dosing_session"))


# --- the consent library (documents, no patient data) ---------------------------------------


def consent_documents(*, by: Actor) -> list[ConsentDocument]:
    require(by, Perm.CONSENT_MANAGE)
    return list(ConsentDocument.objects.filter(organization=by.organization).select_related("published_by"))


def consent_document_of(*, by: Actor, document_id: int) -> ConsentDocument | None:
    """One of the organisation's consent documents (None in another organisation)."""
    require(by, Perm.CONSENT_MANAGE)
    return ConsentDocument.objects.filter(organization=by.organization, id=document_id).first()


def contraindication_answers_of(episode: Episode | None) -> dict[str, ContraindicationAnswer]:
    if episode is None:
        return {}
    return {a.item_id: a for a in episode.contraindication_answers.select_related("answered_by")}


def eligibility_decisions_of(episode: Episode | None) -> list[EligibilityDecision]:
    """Newest first."""
    return list(episode.eligibility_decisions.order_by("-signed_at", "-id")) if episode else []


def plans_of(episode: Episode | None) -> list[TreatmentPlan]:
    """Every signed version, newest first."""
    return list(episode.plans.order_by("-version")) if episode else []


def plan_version_of(episode: Episode | None, version: int) -> TreatmentPlan | None:
    return episode.plans.filter(version=version).first() if episode else None


def intentions_of(episode: Episode | None) -> list[Intention]:
    return list(episode.intentions.select_related("written_by")) if episode else []


def consent_signatures_of(episode: Episode | None) -> list[ConsentSignature]:
    if episode is None:
        return []
    return list(episode.consent_signatures.select_related("document", "recorded_by"))


def reassessments_of(episode: Episode | None) -> list[ReassessmentReview]:
    return list(episode.reassessments.all()) if episode else []


def signature_count(document: ConsentDocument) -> int:
    return document.signatures.count()


def note_grants_of(note: PsychotherapyNote) -> list[PsychotherapyNoteGrant]:
    """Who the author has let read the note, grants not revoked."""
    return list(note.grants.filter(revoked_at__isnull=True).select_related("user"))
