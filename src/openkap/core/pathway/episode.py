"""Episode states and the plain-data snapshot the guards judge.

The Django pathway app fills an ``EpisodeSnapshot`` from its records; the
guards never see a model. Every field defaults to "not done", so a field the
caller forgets to fill can only refuse a transition, never allow one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from openkap.core.routes import Route

from .contraindications import CHECKLIST, evaluate_checklist


class State(StrEnum):
    INTAKE = "intake"
    SCREENING = "screening"
    ELIGIBILITY = "eligibility"
    PLANNED = "planned"
    PREPARATION = "preparation"
    ACTIVE = "active"  # the series: dosing sessions, each followed by integration
    REASSESSMENT = "reassessment"
    MAINTENANCE = "maintenance"
    COMPLETED = "completed"
    DISCONTINUED = "discontinued"


STATE_LABELS: Mapping[State, str] = MappingProxyType(
    {
        State.INTAKE: "intake",
        State.SCREENING: "screening",
        State.ELIGIBILITY: "eligibility decision",
        State.PLANNED: "treatment planned",
        State.PREPARATION: "preparation",
        State.ACTIVE: "active series",
        State.REASSESSMENT: "reassessment",
        State.MAINTENANCE: "maintenance",
        State.COMPLETED: "completed",
        State.DISCONTINUED: "discontinued",
    }
)
TERMINAL_STATES = frozenset({State.COMPLETED, State.DISCONTINUED})


class EligibilityOutcome(StrEnum):
    ELIGIBLE = "eligible"
    ELIGIBLE_WITH_CONDITIONS = "eligible_with_conditions"
    NOT_ELIGIBLE = "not_eligible"


# Instrument ids as in openkap.core.instruments.
CORE_BASELINE_MEASURES: tuple[str, ...] = ("phq9", "gad7", "cssrs-recent")
MEASURE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "phq9": "PHQ-9",
        "gad7": "GAD-7",
        "cssrs-recent": "C-SSRS screener",
        "pcl5": "PCL-5",
        "auditc": "AUDIT-C",
        "dast10": "DAST-10",
        "qidssr16": "QIDS-SR16",
        "madrs": "MADRS",
    }
)


def measure_name(measure_id: str) -> str:
    return MEASURE_NAMES.get(measure_id, measure_id)


@dataclass(frozen=True)
class EpisodeSnapshot:
    state: State
    intake_completed: bool = False
    # Route named at intake, before a plan exists; the checklist is judged for
    # the plan's route once there is one, and for every route before that.
    intended_route: Route | None = None

    # Screening
    baseline_measures_completed: frozenset[str] = frozenset()
    plan_baseline_measures: frozenset[str] = frozenset()  # beyond PHQ-9, GAD-7, C-SSRS
    contraindication_answers: Mapping[str, bool] = field(default_factory=dict)
    justified_relative_contraindications: frozenset[str] = frozenset()

    # Eligibility decision
    eligibility_outcome: EligibilityOutcome | None = None
    eligibility_reasons_written: bool = False
    eligibility_conditions_written: bool = False
    eligibility_signed_by_prescriber: bool = False

    # Treatment plan (current version)
    plan_signed_by_prescriber: bool = False
    plan_route: Route | None = None
    plan_protocol_id: str = ""

    # Consent: the version in force for this organisation and route, and the
    # version the patient signed.
    consent_current_version: str = ""
    consent_signed_version: str = ""
    consent_withdrawn: bool = False

    # Preparation
    preparation_sessions_held: int = 0
    intentions_recorded: bool = False
    safety_plan_recorded: bool = False  # coping and safety plan
    escort_arranged: bool = False

    # Series
    dosing_sessions_held: int = 0
    dosing_sessions_without_integration: int = 0

    # Reassessment
    reassessment_measures_completed: frozenset[str] = frozenset()
    reassessment_signed_by_prescriber: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.state, State):
            raise ValueError(f"Unknown episode state {self.state!r}.")
        evaluate_checklist(self.contraindication_answers, None)  # unknown ids, non-yes/no
        for item_id in self.justified_relative_contraindications:
            CHECKLIST.item(item_id)
        for name in (
            "preparation_sessions_held",
            "dosing_sessions_held",
            "dosing_sessions_without_integration",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative.")
        if self.dosing_sessions_without_integration > self.dosing_sessions_held:
            raise ValueError("More dosing sessions without integration than dosing sessions held.")

    @property
    def checklist_route(self) -> Route | None:
        return self.plan_route or self.intended_route

    @property
    def required_measures(self) -> tuple[str, ...]:
        """PHQ-9, GAD-7 and the C-SSRS screener, then the plan's own, in a stable order."""
        extra = sorted(self.plan_baseline_measures - set(CORE_BASELINE_MEASURES))
        return (*CORE_BASELINE_MEASURES, *extra)
