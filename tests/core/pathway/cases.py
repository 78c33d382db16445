"""A snapshot with every requirement met, and one breaker per way to miss each.

Messages are written out here, not imported, so the tests hold the module to
the clinic's exact words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from openkap.core.pathway import CHECKLIST, EligibilityOutcome, EpisodeSnapshot, Route, State

S = State

ALL_ABSENT = {item.id: False for item in CHECKLIST.items}

READY = EpisodeSnapshot(
    state=S.INTAKE,
    intake_completed=True,
    intended_route=Route.INTRANASAL_ESKETAMINE,
    baseline_measures_completed=frozenset({"phq9", "gad7", "cssrs-recent", "pcl5"}),
    plan_baseline_measures=frozenset({"pcl5"}),
    # One relative contraindication, justified by the prescriber.
    contraindication_answers={**ALL_ABSENT, "cns_depressants": True},
    justified_relative_contraindications=frozenset({"cns_depressants"}),
    eligibility_outcome=EligibilityOutcome.ELIGIBLE,
    eligibility_reasons_written=True,
    eligibility_signed_by_prescriber=True,
    plan_signed_by_prescriber=True,
    plan_route=Route.INTRANASAL_ESKETAMINE,
    plan_protocol_id="spravato-trd-induction",
    consent_current_version="v2",
    consent_signed_version="v2",
    preparation_sessions_held=1,
    intentions_recorded=True,
    safety_plan_recorded=True,
    escort_arranged=True,
    dosing_sessions_held=4,
    reassessment_measures_completed=frozenset({"phq9", "gad7", "cssrs-recent", "pcl5"}),
    reassessment_signed_by_prescriber=True,
)


@dataclass(frozen=True)
class Breaker:
    key: str  # the requirement it breaks
    name: str
    apply: Callable[[EpisodeSnapshot], EpisodeSnapshot]
    message: str
    group: str = ""  # breakers in one group could undo each other: draw at most one

    def __repr__(self) -> str:
        return self.name


def _set(**changes: object) -> Callable[[EpisodeSnapshot], EpisodeSnapshot]:
    return lambda s: dataclasses.replace(s, **changes)


def _answer(item_id: str, value: bool | None) -> Callable[[EpisodeSnapshot], EpisodeSnapshot]:
    def apply(s: EpisodeSnapshot) -> EpisodeSnapshot:
        answers = dict(s.contraindication_answers)
        if value is None:
            answers.pop(item_id, None)
        else:
            answers[item_id] = value
        return dataclasses.replace(s, contraindication_answers=answers)

    return apply


def _without(field: str, *values: str) -> Callable[[EpisodeSnapshot], EpisodeSnapshot]:
    return lambda s: dataclasses.replace(s, **{field: getattr(s, field) - set(values)})


def _with_conditions_unwritten(s: EpisodeSnapshot) -> EpisodeSnapshot:
    return dataclasses.replace(
        s,
        eligibility_outcome=EligibilityOutcome.ELIGIBLE_WITH_CONDITIONS,
        eligibility_conditions_written=False,
    )


AVD_LABEL = (
    "Aneurysmal vascular disease (thoracic or abdominal aorta, intracranial or peripheral arteries)"
)
CNS_LABEL = "Takes benzodiazepines, opioids or other sedating medicines"

BREAKERS: tuple[Breaker, ...] = (
    Breaker(
        "intake_completed", "intake", _set(intake_completed=False), "Intake form not completed."
    ),
    Breaker(
        "baseline_measures",
        "no baseline phq9",
        _without("baseline_measures_completed", "phq9"),
        "Baseline PHQ-9 not completed.",
    ),
    Breaker(
        "baseline_measures",
        "no baseline gad7",
        _without("baseline_measures_completed", "gad7"),
        "Baseline GAD-7 not completed.",
    ),
    Breaker(
        "baseline_measures",
        "no baseline cssrs",
        _without("baseline_measures_completed", "cssrs-recent"),
        "Baseline C-SSRS screener not completed.",
    ),
    Breaker(
        "baseline_measures",
        "no baseline pcl5 (plan)",
        _without("baseline_measures_completed", "pcl5"),
        "Baseline PCL-5 not completed.",
    ),
    Breaker(
        "contraindication_checklist",
        "one question unanswered",
        _answer("mania", None),
        "Contraindication checklist not completed (1 question unanswered).",
    ),
    Breaker(
        "contraindication_checklist",
        "two questions unanswered",
        lambda s: _answer("breastfeeding", None)(_answer("cystitis", None)(s)),
        "Contraindication checklist not completed (2 questions unanswered).",
    ),
    Breaker(
        "eligible",
        "no decision",
        _set(eligibility_outcome=None),
        "No eligibility decision recorded.",
        group="outcome",
    ),
    Breaker(
        "eligible",
        "not eligible",
        _set(eligibility_outcome=EligibilityOutcome.NOT_ELIGIBLE),
        "The prescriber decided the patient is not eligible.",
        group="outcome",
    ),
    Breaker(
        "eligibility_signed",
        "eligibility unsigned",
        _set(eligibility_signed_by_prescriber=False),
        "Eligibility decision not signed by a prescriber.",
    ),
    Breaker(
        "eligibility_reasons",
        "no reasons",
        _set(eligibility_reasons_written=False),
        "Eligibility decision has no written reasons.",
    ),
    Breaker(
        "eligibility_conditions",
        "conditions unwritten",
        _with_conditions_unwritten,
        "Eligibility conditions not written.",
        group="outcome",
    ),
    Breaker(
        "no_absolute_contraindication",
        "aneurysm",
        _answer("aneurysmal_vascular_disease", True),
        f"Absolute contraindication: {AVD_LABEL}.",
    ),
    Breaker(
        "no_absolute_contraindication",
        "intracerebral haemorrhage",
        _answer("intracerebral_haemorrhage", True),
        "Absolute contraindication: History of intracerebral haemorrhage.",
    ),
    Breaker(
        "relative_contraindications_justified",
        "justification removed",
        _without("justified_relative_contraindications", "cns_depressants"),
        f"Relative contraindication without a written justification: {CNS_LABEL}.",
    ),
    Breaker(
        "relative_contraindications_justified",
        "pregnancy unjustified",
        _answer("pregnancy", True),
        "Relative contraindication without a written justification: Pregnancy.",
    ),
    Breaker(
        "plan_signed",
        "plan unsigned",
        _set(plan_signed_by_prescriber=False),
        "Treatment plan not signed by a prescriber.",
    ),
    Breaker("plan_route", "no route", _set(plan_route=None), "Treatment plan has no route."),
    Breaker(
        "plan_protocol", "no protocol", _set(plan_protocol_id=""), "Treatment plan has no protocol."
    ),
    Breaker(
        "plan_protocol",
        "blank protocol",
        _set(plan_protocol_id="  "),
        "Treatment plan has no protocol.",
    ),
    Breaker(
        "consent_current",
        "no consent document",
        _set(consent_current_version=""),
        "No consent document is in force for this route.",
    ),
    Breaker(
        "consent_current",
        "consent withdrawn",
        _set(consent_withdrawn=True),
        "The patient has withdrawn consent.",
    ),
    Breaker(
        "consent_current",
        "consent unsigned",
        _set(consent_signed_version=""),
        "Consent not signed.",
    ),
    Breaker(
        "consent_current",
        "consent on old version",
        _set(consent_signed_version="v1"),
        "Consent signed on version v1; the patient must sign the current version v2.",
    ),
    Breaker(
        "preparation_session",
        "no preparation",
        _set(preparation_sessions_held=0),
        "No preparation session held.",
    ),
    Breaker(
        "intentions", "no intentions", _set(intentions_recorded=False), "Intentions not recorded."
    ),
    Breaker(
        "safety_plan",
        "no safety plan",
        _set(safety_plan_recorded=False),
        "Coping and safety plan not recorded.",
    ),
    Breaker("escort", "no escort", _set(escort_arranged=False), "Escort (driver) not arranged."),
    Breaker(
        "dosing_held",
        "no dosing yet",
        _set(dosing_sessions_held=0, dosing_sessions_without_integration=0),
        "No dosing session held yet.",
        group="series",
    ),
    Breaker(
        "every_dosing_integrated",
        "one integration missing",
        _set(dosing_sessions_without_integration=1),
        "1 dosing session has no integration session yet.",
        group="series",
    ),
    Breaker(
        "every_dosing_integrated",
        "three integrations missing",
        _set(dosing_sessions_without_integration=3),
        "3 dosing sessions have no integration session yet.",
        group="series",
    ),
    Breaker(
        "reassessment_measures",
        "no reassessment phq9",
        _without("reassessment_measures_completed", "phq9"),
        "Reassessment PHQ-9 not completed.",
    ),
    Breaker(
        "reassessment_measures",
        "no reassessment pcl5 (plan)",
        _without("reassessment_measures_completed", "pcl5"),
        "Reassessment PCL-5 not completed.",
    ),
    Breaker(
        "reassessment_signed",
        "reassessment unsigned",
        _set(reassessment_signed_by_prescriber=False),
        "Reassessment not signed by a prescriber.",
    ),
)

READINESS_KEYS = frozenset(
    {
        "eligible",
        "eligibility_signed",
        "no_absolute_contraindication",
        "relative_contraindications_justified",
        "plan_signed",
        "plan_route",
        "plan_protocol",
        "consent_current",
        "preparation_session",
        "intentions",
        "safety_plan",
        "escort",
    }
)
ELIGIBILITY_KEYS = frozenset(
    {
        "contraindication_checklist",
        "eligible",
        "eligibility_signed",
        "eligibility_reasons",
        "eligibility_conditions",
        "no_absolute_contraindication",
        "relative_contraindications_justified",
    }
)
REASSESSMENT_KEYS = frozenset({"reassessment_measures", "reassessment_signed"})
NON_TERMINAL = tuple(s for s in S if s not in (S.COMPLETED, S.DISCONTINUED))

# (source, name) -> (target, requirement keys, needs a reason)
EXPECTED: dict[tuple[State, str], tuple[State, frozenset[str], bool]] = {
    (S.INTAKE, "start_screening"): (S.SCREENING, frozenset({"intake_completed"}), False),
    (S.SCREENING, "request_eligibility"): (
        S.ELIGIBILITY,
        frozenset({"baseline_measures", "contraindication_checklist"}),
        False,
    ),
    (S.ELIGIBILITY, "confirm_eligibility"): (S.PLANNED, ELIGIBILITY_KEYS, False),
    (S.PLANNED, "start_preparation"): (
        S.PREPARATION,
        frozenset({"plan_signed", "plan_route", "plan_protocol"}),
        False,
    ),
    (S.PREPARATION, "start_series"): (S.ACTIVE, READINESS_KEYS, False),
    (S.ACTIVE, "end_series"): (
        S.REASSESSMENT,
        frozenset({"dosing_held", "every_dosing_integrated"}),
        False,
    ),
    (S.REASSESSMENT, "start_maintenance"): (S.MAINTENANCE, REASSESSMENT_KEYS, False),
    (S.REASSESSMENT, "complete"): (S.COMPLETED, REASSESSMENT_KEYS, False),
    (S.MAINTENANCE, "complete"): (S.COMPLETED, frozenset({"every_dosing_integrated"}), False),
    (S.REASSESSMENT, "resume_series"): (S.ACTIVE, READINESS_KEYS, True),
    (S.MAINTENANCE, "resume_series"): (S.ACTIVE, READINESS_KEYS, True),
    **{
        (s, "rescreen"): (S.SCREENING, frozenset(), True)
        for s in (S.ELIGIBILITY, S.PLANNED, S.PREPARATION, S.ACTIVE, S.REASSESSMENT, S.MAINTENANCE)
    },
    **{
        (s, "revise_plan"): (S.PLANNED, frozenset(), True)
        for s in (S.PREPARATION, S.ACTIVE, S.MAINTENANCE)
    },
    (S.ACTIVE, "more_preparation"): (S.PREPARATION, frozenset(), True),
    **{(s, "discontinue"): (S.DISCONTINUED, frozenset(), True) for s in NON_TERMINAL},
}
NAMES = sorted({name for _, name in EXPECTED})
