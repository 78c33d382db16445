"""The episode state machine: transitions as data, each with its guard.

intake -> screening -> eligibility -> planned -> preparation -> active
(dosing sessions, each followed by integration) -> reassessment ->
maintenance | completed | discontinued.

Going back (re-screening after a hospitalisation, revising the plan, more
preparation, resuming a series) is a named transition with a required reason,
never an edit of history. Completed and discontinued are final: a new course
of care is a new episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import guards as g
from .episode import STATE_LABELS, TERMINAL_STATES, EpisodeSnapshot, State

S = State


@dataclass(frozen=True)
class Transition:
    name: str
    source: State
    target: State
    requirements: tuple[g.Requirement, ...] = ()
    needs_reason: bool = False

    def unmet(self, snapshot: EpisodeSnapshot, reason: str = "") -> list[str]:
        found = g.unmet(self.requirements, snapshot)
        if self.needs_reason and not reason.strip():
            found.append("Write the reason for this change.")
        return found


def _many(
    name: str,
    sources: tuple[State, ...],
    target: State,
    requirements: tuple[g.Requirement, ...] = (),
) -> tuple[Transition, ...]:
    return tuple(Transition(name, s, target, requirements, needs_reason=True) for s in sources)


_ELIGIBILITY_DECISION = (
    g.CHECKLIST_COMPLETED,
    g.ELIGIBLE,
    g.ELIGIBILITY_SIGNED,
    g.ELIGIBILITY_REASONS,
    g.ELIGIBILITY_CONDITIONS,
    g.NO_ABSOLUTE_CONTRAINDICATION,
    g.RELATIVE_CONTRAINDICATIONS_JUSTIFIED,
)
_REASSESSMENT = (g.REASSESSMENT_MEASURES, g.REASSESSMENT_SIGNED)

TRANSITIONS: tuple[Transition, ...] = (
    Transition("start_screening", S.INTAKE, S.SCREENING, (g.INTAKE_COMPLETED,)),
    Transition(
        "request_eligibility",
        S.SCREENING,
        S.ELIGIBILITY,
        (g.BASELINE_MEASURES, g.CHECKLIST_COMPLETED),
    ),
    Transition("confirm_eligibility", S.ELIGIBILITY, S.PLANNED, _ELIGIBILITY_DECISION),
    Transition(
        "start_preparation",
        S.PLANNED,
        S.PREPARATION,
        (g.PLAN_SIGNED, g.PLAN_ROUTE, g.PLAN_PROTOCOL),
    ),
    Transition("start_series", S.PREPARATION, S.ACTIVE, g.DOSING_READINESS),
    Transition("end_series", S.ACTIVE, S.REASSESSMENT, (g.DOSING_HELD, g.EVERY_DOSING_INTEGRATED)),
    Transition("start_maintenance", S.REASSESSMENT, S.MAINTENANCE, _REASSESSMENT),
    Transition("complete", S.REASSESSMENT, S.COMPLETED, _REASSESSMENT),
    Transition("complete", S.MAINTENANCE, S.COMPLETED, (g.EVERY_DOSING_INTEGRATED,)),
    *_many("resume_series", (S.REASSESSMENT, S.MAINTENANCE), S.ACTIVE, g.DOSING_READINESS),
    *_many(
        "rescreen",
        (S.ELIGIBILITY, S.PLANNED, S.PREPARATION, S.ACTIVE, S.REASSESSMENT, S.MAINTENANCE),
        S.SCREENING,
    ),
    *_many("revise_plan", (S.PREPARATION, S.ACTIVE, S.MAINTENANCE), S.PLANNED),
    *_many("more_preparation", (S.ACTIVE,), S.PREPARATION),
    *_many("discontinue", tuple(s for s in State if s not in TERMINAL_STATES), S.DISCONTINUED),
)


# What the clinic calls each transition (a button says this).
TRANSITION_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "start_screening": "Start screening",
        "request_eligibility": "Request the eligibility decision",
        "confirm_eligibility": "Confirm eligibility: plan treatment",
        "start_preparation": "Start preparation",
        "start_series": "Start the dosing series",
        "end_series": "End the series: reassess",
        "start_maintenance": "Start maintenance",
        "complete": "Complete the episode",
        "resume_series": "Resume the dosing series",
        "rescreen": "Back to screening",
        "revise_plan": "Revise the treatment plan",
        "more_preparation": "Back to preparation",
        "discontinue": "Discontinue the episode",
    }
)


def transitions_from(state: State) -> tuple[Transition, ...]:
    return tuple(t for t in TRANSITIONS if t.source is state)


def find_transition(state: State, name: str) -> Transition | None:
    for t in TRANSITIONS:
        if t.source is state and t.name == name:
            return t
    return None


def unmet_requirements(snapshot: EpisodeSnapshot, name: str, *, reason: str = "") -> list[str]:
    """Why transition ``name`` cannot happen now; an empty list means it may."""
    transition = find_transition(snapshot.state, name)
    if transition is None:
        return [
            f"The episode is at {STATE_LABELS[snapshot.state]}; "
            f"'{name.replace('_', ' ')}' is not possible from there."
        ]
    return transition.unmet(snapshot, reason)


class TransitionRefused(ValueError):
    def __init__(self, unmet: list[str]) -> None:
        super().__init__(" ".join(unmet))
        self.unmet = tuple(unmet)


def next_state(snapshot: EpisodeSnapshot, name: str, *, reason: str = "") -> State:
    """The state after transition ``name``, or ``TransitionRefused`` listing what is missing."""
    transition = find_transition(snapshot.state, name)
    found = unmet_requirements(snapshot, name, reason=reason)
    if transition is None or found:
        raise TransitionRefused(found)
    return transition.target
