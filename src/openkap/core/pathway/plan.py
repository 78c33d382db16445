"""Treatment plan and preparation data the guards and the clinic share.

Dose levels until the dosing issue's protocol library names doses; the measure
schedule a plan sets; the sections a coping and safety plan must have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from .episode import CORE_BASELINE_MEASURES, measure_name


class DoseLevel(StrEnum):
    PSYCHOLYTIC = "psycholytic"
    PSYCHEDELIC = "psychedelic"

    @property
    def label(self) -> str:
        return DOSE_LEVEL_LABELS[self]


DOSE_LEVEL_LABELS: Mapping[DoseLevel, str] = MappingProxyType(
    {
        DoseLevel.PSYCHOLYTIC: "Psycholytic (low dose: talking stays possible)",
        DoseLevel.PSYCHEDELIC: "Psychedelic (moderate dose: inward, eyeshades and music)",
    }
)

# Instruments a plan may schedule, by id as in openkap.core.instruments.
SCHEDULABLE_MEASURES: tuple[str, ...] = (
    "phq9", "gad7", "cssrs-recent", "cssrs-slv", "pcl5", "qidssr16", "madrs", "auditc", "dast10",
)
# The occasions of the measures app's schedule (follow-up at 1, 3 and 6 months after
# the last dosing session, as the measures app schedules them).
MEASURE_PHASES: Mapping[str, str] = MappingProxyType(
    {
        "baseline": "At baseline",
        "before_dosing": "Before each dosing session",
        "after_integration": "After each integration session",
        "reassessment": "At reassessment",
        "follow_up": "At follow-up (1, 3 and 6 months)",
    }
)


@dataclass(frozen=True)
class MeasureSchedule:
    """Which instruments are due when; PHQ-9, GAD-7 and the C-SSRS screener are
    always part of the baseline."""

    baseline: tuple[str, ...] = CORE_BASELINE_MEASURES
    before_dosing: tuple[str, ...] = ()
    after_integration: tuple[str, ...] = ()
    reassessment: tuple[str, ...] = ()
    follow_up: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {phase: list(getattr(self, phase)) for phase in MEASURE_PHASES}

    def describe(self) -> list[str]:
        return [
            f"{label}: {', '.join(measure_name(i) for i in getattr(self, phase))}"
            for phase, label in MEASURE_PHASES.items()
            if getattr(self, phase)
        ]


# The clinic's default schedule (DESIGN.md §2): a first plan starts from it, so a plan
# signed without touching the measures still asks for them before each dosing session.
# C-SSRS since last visit is clinician-rated: staff complete it at check-in.
DEFAULT_MEASURE_SCHEDULE = MeasureSchedule(
    baseline=(*CORE_BASELINE_MEASURES, "pcl5", "auditc", "dast10"),
    before_dosing=("phq9", "gad7", "cssrs-slv"),
    after_integration=("phq9", "gad7"),
    reassessment=("phq9", "gad7", "cssrs-recent"),
    follow_up=("phq9", "gad7"),
)


def _measures(ids: Iterable[object], phase: str) -> tuple[str, ...]:
    chosen = []
    for value in ids:
        if not isinstance(value, str) or value not in SCHEDULABLE_MEASURES:
            raise ValueError(f"{value!r} is not a measure a plan can schedule ({phase}).")
        if value not in chosen:
            chosen.append(value)
    return tuple(sorted(chosen, key=SCHEDULABLE_MEASURES.index))


def parse_measure_schedule(data: Mapping[str, object]) -> MeasureSchedule:
    """Check a schedule from a form or JSON; unknown ids or phases raise ValueError."""
    unknown = set(data) - set(MEASURE_PHASES)
    if unknown:
        raise ValueError(f"Unknown measure schedule entries: {', '.join(sorted(unknown))}.")
    phases: dict[str, tuple[str, ...]] = {}
    for phase in MEASURE_PHASES:
        raw = data.get(phase, ())
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            raise ValueError(f"The {phase} measures must be a list of instrument ids.")
        phases[phase] = _measures(raw, phase)
    phases["baseline"] = _measures((*CORE_BASELINE_MEASURES, *phases["baseline"]), "baseline")
    return MeasureSchedule(**phases)


SAFETY_PLAN_SECTIONS: Mapping[str, str] = MappingProxyType(
    {
        "coping_plan": "Coping plan for the medicine session",
        "warning_signs": "Warning signs",
        "coping_strategies": "Coping strategies",
        "people_and_places": "People and places that help",
        "professionals_and_crisis_lines": "Professionals and crisis lines",
        "means_safety": "Making the environment safe (means safety)",
    }
)


def safety_plan_missing(sections: Mapping[str, str]) -> list[str]:
    """The sections still empty; a coping and safety plan counts when none is."""
    return [label for key, label in SAFETY_PLAN_SECTIONS.items() if not sections.get(key, "").strip()]
