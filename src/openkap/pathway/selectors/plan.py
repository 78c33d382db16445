"""Reads of the treatment plan: the version in force, its measure schedule and its route.
No access check: the caller has done it."""

from __future__ import annotations

from collections.abc import Iterable

from openkap.compiled import CompiledRead
from openkap.core.pathway.plan import MeasureSchedule, parse_measure_schedule
from openkap.core.routes import Route
from openkap.pathway.models import Episode, Intake, TreatmentPlan


def plan_in_force(episode: Episode) -> TreatmentPlan | None:
    """The latest signed version of the treatment plan."""
    return episode.plans.order_by("-version").first()


# Compiled once (ADR 0101): the monitoring board asks for today's arrivals' plans every 15 seconds.
_PLANS = CompiledRead(
    TreatmentPlan, lambda episode_ids: TreatmentPlan.objects.filter(episode_id__in=episode_ids)
    .order_by("episode_id", "-version"), lists=("episode_ids",))


def plans_in_force(episode_ids: Iterable[int]) -> dict[int, TreatmentPlan]:
    """``plan_in_force`` of many episodes in one query (a list must not query per row)."""
    plans: dict[int, TreatmentPlan] = {}
    ids = sorted(set(episode_ids))
    if not ids:  # the ORM asks nothing either, but builds the queryset first (ADR 0115)
        return plans
    for plan in _PLANS.read(episode_ids=ids):
        plans.setdefault(plan.episode_id, plan)
    return plans


def plan_measure_schedule(episode: Episode) -> MeasureSchedule:
    """Which measures are due when: the plan's schedule, or the core baseline before a plan."""
    plan = plan_in_force(episode)
    return parse_measure_schedule(plan.measure_schedule) if plan else MeasureSchedule()


def episode_route(episode: Episode, plan: TreatmentPlan | None = None) -> Route | None:
    """The plan's route, or before a plan the route named at intake."""
    plan = plan if plan is not None else plan_in_force(episode)
    if plan is not None:
        return Route(plan.route)
    intake = Intake.objects.filter(episode=episode).first()
    return Route(intake.intended_route) if intake and intake.intended_route else None


# --- records of an episode the page has already opened (episode_view audited it) ----------


def plans_of(episode: Episode | None) -> list[TreatmentPlan]:
    """Every signed version, newest first."""
    return list(episode.plans.order_by("-version")) if episode else []


def plan_version_of(episode: Episode | None, version: int) -> TreatmentPlan | None:
    return episode.plans.filter(version=version).first() if episode else None
