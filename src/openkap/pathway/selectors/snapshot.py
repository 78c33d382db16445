"""The snapshot of an episode: the plain-data facts the pathway guards judge, read for
any number of episodes in a fixed number of queries. No access check: the caller has
done it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.db.models import Count
from django.utils import timezone

from openkap.core.pathway import (
    CHECKLIST,
    EligibilityOutcome,
    EpisodeSnapshot,
    State,
    dosing_booking_requirements,
)
from openkap.core.pathway.plan import MeasureSchedule, parse_measure_schedule, safety_plan_missing
from openkap.core.routes import Route
from openkap.pathway.models import (
    ConsentDocument,
    ConsentSignature,
    ContraindicationAnswer,
    EligibilityDecision,
    Episode,
    EpisodeTransition,
    Intake,
    Intention,
    PreparationSession,
    ReassessmentReview,
    SafetyPlan,
    SessionArrangements,
    TreatmentPlan,
)

from .preparation import ConsentStatus, safety_plan_sections
from .registered import HeldSession, _completed_instruments_of, held_sessions_of

_T = TypeVar("_T")


_K = TypeVar("_K")


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
