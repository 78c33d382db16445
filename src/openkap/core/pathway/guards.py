"""Requirements the pathway checks, each a pure function of the snapshot.

A requirement returns the unmet points in the clinic's words; an empty list
means it is met. Transitions (``machine.py``) and the scheduler's
``dosing_booking_requirements`` are built from these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .contraindications import evaluate_checklist
from .episode import STATE_LABELS, EligibilityOutcome, EpisodeSnapshot, State, measure_name


@dataclass(frozen=True)
class Requirement:
    key: str
    check: Callable[[EpisodeSnapshot], list[str]]

    def __call__(self, snapshot: EpisodeSnapshot) -> list[str]:
        return self.check(snapshot)


def _flag(key: str, ok: Callable[[EpisodeSnapshot], bool], message: str) -> Requirement:
    return Requirement(key, lambda s: [] if ok(s) else [message])


INTAKE_COMPLETED = _flag(
    "intake_completed", lambda s: s.intake_completed, "Intake form not completed."
)


def _baseline(s: EpisodeSnapshot) -> list[str]:
    return [
        f"Baseline {measure_name(m)} not completed."
        for m in s.required_measures
        if m not in s.baseline_measures_completed
    ]


BASELINE_MEASURES = Requirement("baseline_measures", _baseline)


def _checklist_complete(s: EpisodeSnapshot) -> list[str]:
    missing = len(evaluate_checklist(s.contraindication_answers, s.checklist_route).unanswered)
    if not missing:
        return []
    questions = "question" if missing == 1 else "questions"
    return [f"Contraindication checklist not completed ({missing} {questions} unanswered)."]


CHECKLIST_COMPLETED = Requirement("contraindication_checklist", _checklist_complete)


def _no_absolute(s: EpisodeSnapshot) -> list[str]:
    found = evaluate_checklist(s.contraindication_answers, s.checklist_route).absolute
    return [f"Absolute contraindication: {f.label}." for f in found]


NO_ABSOLUTE_CONTRAINDICATION = Requirement("no_absolute_contraindication", _no_absolute)


def _relative_justified(s: EpisodeSnapshot) -> list[str]:
    found = evaluate_checklist(s.contraindication_answers, s.checklist_route).relative
    return [
        f"Relative contraindication without a written justification: {f.label}."
        for f in found
        if f.item_id not in s.justified_relative_contraindications
    ]


RELATIVE_CONTRAINDICATIONS_JUSTIFIED = Requirement(
    "relative_contraindications_justified", _relative_justified
)


def _eligible(s: EpisodeSnapshot) -> list[str]:
    if s.eligibility_outcome is None:
        return ["No eligibility decision recorded."]
    if s.eligibility_outcome is EligibilityOutcome.NOT_ELIGIBLE:
        return ["The prescriber decided the patient is not eligible."]
    return []


ELIGIBLE = Requirement("eligible", _eligible)
ELIGIBILITY_SIGNED = _flag(
    "eligibility_signed",
    lambda s: s.eligibility_signed_by_prescriber,
    "Eligibility decision not signed by a prescriber.",
)
ELIGIBILITY_REASONS = _flag(
    "eligibility_reasons",
    lambda s: s.eligibility_reasons_written,
    "Eligibility decision has no written reasons.",
)
ELIGIBILITY_CONDITIONS = _flag(
    "eligibility_conditions",
    lambda s: (
        s.eligibility_outcome is not EligibilityOutcome.ELIGIBLE_WITH_CONDITIONS
        or s.eligibility_conditions_written
    ),
    "Eligibility conditions not written.",
)
PLAN_SIGNED = _flag(
    "plan_signed",
    lambda s: s.plan_signed_by_prescriber,
    "Treatment plan not signed by a prescriber.",
)
PLAN_ROUTE = _flag("plan_route", lambda s: s.plan_route is not None, "Treatment plan has no route.")
PLAN_PROTOCOL = _flag(
    "plan_protocol", lambda s: bool(s.plan_protocol_id.strip()), "Treatment plan has no protocol."
)


def _consent(s: EpisodeSnapshot) -> list[str]:
    if not s.consent_current_version:
        return ["No consent document is in force for this route."]
    if s.consent_withdrawn:
        return ["The patient has withdrawn consent."]
    if not s.consent_signed_version:
        return ["Consent not signed."]
    if s.consent_signed_version != s.consent_current_version:
        return [
            f"Consent signed on version {s.consent_signed_version}; "
            f"the patient must sign the current version {s.consent_current_version}."
        ]
    return []


CONSENT_CURRENT = Requirement("consent_current", _consent)
PREPARATION_SESSION = _flag(
    "preparation_session",
    lambda s: s.preparation_sessions_held >= 1,
    "No preparation session held.",
)
INTENTIONS = _flag("intentions", lambda s: s.intentions_recorded, "Intentions not recorded.")
SAFETY_PLAN = _flag(
    "safety_plan", lambda s: s.safety_plan_recorded, "Coping and safety plan not recorded."
)
ESCORT = _flag("escort", lambda s: s.escort_arranged, "Escort (driver) not arranged.")
DOSING_HELD = _flag(
    "dosing_held", lambda s: s.dosing_sessions_held >= 1, "No dosing session held yet."
)


def _integrated(s: EpisodeSnapshot) -> list[str]:
    n = s.dosing_sessions_without_integration
    if n == 0:
        return []
    if n == 1:
        return ["1 dosing session has no integration session yet."]
    return [f"{n} dosing sessions have no integration session yet."]


EVERY_DOSING_INTEGRATED = Requirement("every_dosing_integrated", _integrated)


def _reassessment_measures(s: EpisodeSnapshot) -> list[str]:
    return [
        f"Reassessment {measure_name(m)} not completed."
        for m in s.required_measures
        if m not in s.reassessment_measures_completed
    ]


REASSESSMENT_MEASURES = Requirement("reassessment_measures", _reassessment_measures)
REASSESSMENT_SIGNED = _flag(
    "reassessment_signed",
    lambda s: s.reassessment_signed_by_prescriber,
    "Reassessment not signed by a prescriber.",
)

BOOKABLE_STATES = frozenset({State.PREPARATION, State.ACTIVE, State.MAINTENANCE})


def _bookable(s: EpisodeSnapshot) -> list[str]:
    if s.state in BOOKABLE_STATES:
        return []
    return [
        "Dosing sessions are booked during preparation, the active series or maintenance; "
        f"this episode is at {STATE_LABELS[s.state]}."
    ]


BOOKABLE_STATE = Requirement("bookable_state", _bookable)

# What must hold before any dosing session: entering the active series and
# every dosing booking both check these.
DOSING_READINESS: tuple[Requirement, ...] = (
    ELIGIBLE,
    ELIGIBILITY_SIGNED,
    NO_ABSOLUTE_CONTRAINDICATION,
    RELATIVE_CONTRAINDICATIONS_JUSTIFIED,
    PLAN_SIGNED,
    PLAN_ROUTE,
    PLAN_PROTOCOL,
    CONSENT_CURRENT,
    PREPARATION_SESSION,
    INTENTIONS,
    SAFETY_PLAN,
    ESCORT,
)
DOSING_BOOKING: tuple[Requirement, ...] = (BOOKABLE_STATE, *DOSING_READINESS)


def unmet(requirements: tuple[Requirement, ...], snapshot: EpisodeSnapshot) -> list[str]:
    return [message for requirement in requirements for message in requirement(snapshot)]


def dosing_booking_requirements(snapshot: EpisodeSnapshot) -> list[str]:
    """What stops a dosing session being booked now; empty means it may be booked.

    The scheduler calls this for every dosing booking.
    """
    return unmet(DOSING_BOOKING, snapshot)
