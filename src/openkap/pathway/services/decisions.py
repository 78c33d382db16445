"""The prescriber's signed decisions: eligibility, the treatment plan and reassessment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.core.authz import Perm
from openkap.core.pathway import (
    STATE_LABELS,
    EligibilityOutcome,
    State,
    evaluate_checklist,
)
from openkap.core.pathway.plan import DEFAULT_MEASURE_SCHEDULE, DoseLevel, parse_measure_schedule
from openkap.core.protocols import example_ids, load_example
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.pathway import events
from openkap.pathway.models import (
    EligibilityDecision,
    ReassessmentReview,
    TreatmentPlan,
)
from openkap.pathway.selectors import (
    episode_snapshot,
)

from .common import _audit, _checked_for_signature, _open_episode, _raise, _signature, _text
from .screening import _route


def eligibility_sign(
    *, by: Actor, patient_id: int, outcome: str, reasons: str, password: str,
    conditions: str = "", justifications: Mapping[str, str] | None = None,
) -> EligibilityDecision:
    """A prescriber's signed eligibility decision. Absolute contraindications block
    'eligible'; each relative one present needs a written justification."""
    _checked_for_signature(by, patient_id, password)
    justifications = {str(k): str(v or "").strip() for k, v in (justifications or {}).items()}
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PATHWAY_SIGN)
        if episode.state != State.ELIGIBILITY:
            raise ValidationError(
                f"The episode is at {STATE_LABELS[State(episode.state)]}: the eligibility decision is "
                "signed once screening is done and the decision has been requested."
            )
        errors: dict[str, str] = {}
        if outcome not in EligibilityOutcome.__members__.values():
            errors["outcome"] = "Choose eligible, eligible with conditions or not eligible."
        reasons = _text(errors, {"reasons": reasons}, "reasons", required=True)
        conditions = _text(errors, {"conditions": conditions}, "conditions")
        _raise(errors)
        snapshot = episode_snapshot(episode)
        route = snapshot.checklist_route
        result = evaluate_checklist(snapshot.contraindication_answers, route)
        relative_ids = {f.item_id for f in result.relative}
        for item_id in set(justifications) - relative_ids:
            if justifications[item_id]:
                errors[f"justification_{item_id}"] = "Only relative contraindications found present are justified."
        if outcome != EligibilityOutcome.NOT_ELIGIBLE:
            blocks = []
            if not result.complete:
                blocks.append(
                    f"The contraindication checklist is not complete ({len(result.unanswered)} unanswered)."
                )
            blocks += [f"Absolute contraindication: {f.label}." for f in result.absolute]
            if blocks:
                errors["outcome"] = " ".join([*blocks, "The patient cannot be found eligible."])
            for f in result.relative:
                if not justifications.get(f.item_id):
                    errors[f"justification_{f.item_id}"] = (
                        f"Write why treatment is justified despite: {f.label}."
                    )
                elif len(justifications[f.item_id]) > 4000:
                    errors[f"justification_{f.item_id}"] = "Keep this under 4000 characters."
            if outcome == EligibilityOutcome.ELIGIBLE_WITH_CONDITIONS and not conditions:
                errors["conditions"] = "Write the conditions of eligibility."
        _raise(errors)
        decision = EligibilityDecision.objects.create(
            organization=by.organization, episode=episode, outcome=outcome, reasons=reasons,
            conditions=conditions,
            justifications={k: v for k, v in justifications.items() if k in relative_ids and v},
            route=route.value if route else "",
            findings={"absolute": [f.item_id for f in result.absolute],
                      "relative": sorted(relative_ids)},
            **_signature(by),
        )
        _audit(by, AuditAction.CREATE, decision, "eligibility_decision", patient.id, glass,
               outcome=outcome, signed=True)
    return decision


PLAN_STATES = {State.PLANNED, State.PREPARATION, State.ACTIVE, State.REASSESSMENT, State.MAINTENANCE}


def plan_sign(
    *, by: Actor, patient_id: int, password: str, indication: str, route: str, protocol_id: str,
    dose_level: str, dosing_sessions_planned: int, goals: str,
    measure_schedule: Mapping[str, Any] | None = None, integration_cadence_days: int = 7,
    change_reason: str = "",
) -> TreatmentPlan:
    """Sign a new version of the treatment plan (the first, or a change to the one in force).
    Without ``measure_schedule`` the plan keeps the measures of the version in force, or
    takes the clinic default (``DEFAULT_MEASURE_SCHEDULE``) if it is the first."""
    _checked_for_signature(by, patient_id, password)
    errors: dict[str, str] = {}
    fields = {"indication": indication, "goals": goals, "change_reason": change_reason}
    indication = _text(errors, fields, "indication", required=True)
    goals = _text(errors, fields, "goals", required=True)
    change_reason = _text(errors, fields, "change_reason")
    route = _route(errors, route, "route", required=True)
    if protocol_id not in example_ids():
        errors["protocol_id"] = "Choose a protocol from the library."
    elif route and load_example(protocol_id).route != route:
        errors["protocol_id"] = (
            f"This protocol is for {ROUTE_LABELS[load_example(protocol_id).route]}, "
            f"not {ROUTE_LABELS[Route(route)]}."
        )
    if dose_level not in DoseLevel.__members__.values():
        errors["dose_level"] = "Choose psycholytic or psychedelic."
    if isinstance(dosing_sessions_planned, bool) or not isinstance(dosing_sessions_planned, int) \
            or not 1 <= dosing_sessions_planned <= 52:
        errors["dosing_sessions_planned"] = "Plan between 1 and 52 dosing sessions."
    if isinstance(integration_cadence_days, bool) or not isinstance(integration_cadence_days, int) \
            or not 1 <= integration_cadence_days <= 30:
        errors["integration_cadence_days"] = "Integration is due within 1 to 30 days of each dosing session."
    schedule = None
    try:
        if measure_schedule is not None:
            schedule = parse_measure_schedule(measure_schedule)
    except ValueError as exc:
        errors["measure_schedule"] = str(exc)
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PATHWAY_SIGN)
        if State(episode.state) not in PLAN_STATES:
            raise ValidationError(
                f"The episode is at {STATE_LABELS[State(episode.state)]}: a treatment plan follows "
                "a confirmed eligibility decision."
            )
        previous = episode.plans.order_by("-version").first()
        if previous is not None and not change_reason:
            raise ValidationError({"change_reason": "Say what changes from the version in force, and why."})
        if schedule is None:  # not given: the version in force's measures, or the clinic default
            schedule = (parse_measure_schedule(previous.measure_schedule) if previous is not None
                        else DEFAULT_MEASURE_SCHEDULE)
        plan = TreatmentPlan.objects.create(
            organization=by.organization, episode=episode,
            version=(previous.version + 1) if previous else 1, indication=indication, route=route,
            protocol_id=protocol_id, dose_level=dose_level,
            dosing_sessions_planned=dosing_sessions_planned,
            integration_cadence_days=integration_cadence_days,
            measure_schedule=schedule.as_dict(), goals=goals, change_reason=change_reason,
            **_signature(by),
        )
        _audit(by, AuditAction.CREATE, plan, "treatment_plan", patient.id, glass,
               version=plan.version, route=route, protocol_id=protocol_id, signed=True)
        # The signed plan sets the episode's measure schedule (the measures app).
        events.plan_signed.send(sender=TreatmentPlan, by=by, episode=episode, plan=schedule.as_dict())
    return plan


def reassessment_sign(
    *, by: Actor, patient_id: int, password: str, summary: str, recommendation: str
) -> ReassessmentReview:
    _checked_for_signature(by, patient_id, password)
    errors: dict[str, str] = {}
    summary = _text(errors, {"summary": summary}, "summary", required=True)
    if recommendation not in ReassessmentReview.Recommendation.values:
        errors["recommendation"] = "Choose one of the listed recommendations."
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PATHWAY_SIGN)
        if episode.state != State.REASSESSMENT:
            raise ValidationError("A reassessment is signed when the episode is at reassessment.")
        review = ReassessmentReview.objects.create(
            organization=by.organization, episode=episode, summary=summary,
            recommendation=recommendation, **_signature(by),
        )
        _audit(by, AuditAction.CREATE, review, "reassessment", patient.id, glass,
               recommendation=recommendation, signed=True)
    return review
