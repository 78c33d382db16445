"""Every transition x every requirement, and the transitions that do not exist."""

from __future__ import annotations

import dataclasses

import pytest

from openkap.core.pathway import (
    TRANSITIONS,
    EligibilityOutcome,
    EpisodeSnapshot,
    State,
    TransitionRefused,
    find_transition,
    next_state,
    transitions_from,
    unmet_requirements,
)

from .cases import BREAKERS, EXPECTED, NAMES, NON_TERMINAL, READY, Breaker

S = State
REASON = "patient asked to pause after a hospital stay"


def test_transition_table_is_exactly_the_expected_one() -> None:
    actual = {
        (t.source, t.name): (t.target, frozenset(r.key for r in t.requirements), t.needs_reason)
        for t in TRANSITIONS
    }
    assert len(actual) == len(TRANSITIONS), "a (state, name) pair is defined twice"
    assert actual == EXPECTED


def test_every_requirement_in_the_table_has_a_breaker() -> None:
    used = {key for _, keys, _ in EXPECTED.values() for key in keys}
    assert used <= {b.key for b in BREAKERS}


@pytest.mark.parametrize(("source", "name"), sorted(EXPECTED))
def test_all_requirements_met_allows_the_transition(source: State, name: str) -> None:
    snapshot = dataclasses.replace(READY, state=source)
    assert unmet_requirements(snapshot, name, reason=REASON) == []
    assert next_state(snapshot, name, reason=REASON) is EXPECTED[(source, name)][0]


@pytest.mark.parametrize(("source", "name"), sorted(EXPECTED))
@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda b: b.name)
def test_each_missing_requirement_refuses_with_its_message(
    source: State, name: str, breaker: Breaker
) -> None:
    snapshot = breaker.apply(dataclasses.replace(READY, state=source))
    _, keys, _ = EXPECTED[(source, name)]
    expected = [breaker.message] if breaker.key in keys else []
    assert unmet_requirements(snapshot, name, reason=REASON) == expected
    if expected:
        with pytest.raises(TransitionRefused) as err:
            next_state(snapshot, name, reason=REASON)
        assert err.value.unmet == tuple(expected)


@pytest.mark.parametrize(("source", "name"), sorted(k for k, v in EXPECTED.items() if v[2]))
@pytest.mark.parametrize("reason", ["", "   "])
def test_going_back_or_stopping_needs_a_reason(source: State, name: str, reason: str) -> None:
    snapshot = dataclasses.replace(READY, state=source)
    assert unmet_requirements(snapshot, name, reason=reason) == [
        "Write the reason for this change."
    ]


@pytest.mark.parametrize(("source", "name"), sorted(k for k, v in EXPECTED.items() if not v[2]))
def test_forward_steps_need_no_reason(source: State, name: str) -> None:
    snapshot = dataclasses.replace(READY, state=source)
    assert unmet_requirements(snapshot, name) == []


UNDEFINED = [(s, n) for s in S for n in [*NAMES, "jump_to_active"] if (s, n) not in EXPECTED]


@pytest.mark.parametrize(("source", "name"), UNDEFINED)
def test_undefined_transition_refused(source: State, name: str) -> None:
    snapshot = dataclasses.replace(READY, state=source)
    assert find_transition(source, name) is None
    labels = {
        S.INTAKE: "intake",
        S.SCREENING: "screening",
        S.ELIGIBILITY: "eligibility decision",
        S.PLANNED: "treatment planned",
        S.PREPARATION: "preparation",
        S.ACTIVE: "active series",
        S.REASSESSMENT: "reassessment",
        S.MAINTENANCE: "maintenance",
        S.COMPLETED: "completed",
        S.DISCONTINUED: "discontinued",
    }
    message = (
        f"The episode is at {labels[source]}; "
        f"'{name.replace('_', ' ')}' is not possible from there."
    )
    assert unmet_requirements(snapshot, name, reason=REASON) == [message]
    with pytest.raises(TransitionRefused) as err:
        next_state(snapshot, name, reason=REASON)
    assert err.value.unmet == (message,)


@pytest.mark.parametrize("state", [S.COMPLETED, S.DISCONTINUED])
def test_final_states_have_no_way_out(state: State) -> None:
    assert transitions_from(state) == ()


@pytest.mark.parametrize("state", NON_TERMINAL)
def test_every_open_state_can_be_discontinued(state: State) -> None:
    assert next_state(dataclasses.replace(READY, state=state), "discontinue", reason=REASON) is (
        S.DISCONTINUED
    )


def test_eligible_with_conditions_written_is_allowed() -> None:
    snapshot = dataclasses.replace(
        READY,
        state=S.ELIGIBILITY,
        eligibility_outcome=EligibilityOutcome.ELIGIBLE_WITH_CONDITIONS,
        eligibility_conditions_written=True,
    )
    assert next_state(snapshot, "confirm_eligibility") is S.PLANNED


def test_refusal_lists_everything_missing_in_order() -> None:
    # A fresh episode that jumped to preparation: everything a dosing needs is missing.
    snapshot = EpisodeSnapshot(state=S.PREPARATION)
    assert unmet_requirements(snapshot, "start_series") == [
        "No eligibility decision recorded.",
        "Eligibility decision not signed by a prescriber.",
        "Treatment plan not signed by a prescriber.",
        "Treatment plan has no route.",
        "Treatment plan has no protocol.",
        "No consent document is in force for this route.",
        "No preparation session held.",
        "Intentions not recorded.",
        "Coping and safety plan not recorded.",
        "Escort (driver) not arranged.",
    ]


def test_a_fresh_episode_cannot_start_screening_without_intake() -> None:
    assert unmet_requirements(EpisodeSnapshot(state=S.INTAKE), "start_screening") == [
        "Intake form not completed."
    ]


def test_the_happy_path_walks_from_intake_to_completed() -> None:
    path = [
        "start_screening",
        "request_eligibility",
        "confirm_eligibility",
        "start_preparation",
        "start_series",
        "end_series",
        "start_maintenance",
        "complete",
    ]
    state = S.INTAKE
    visited = [state]
    for name in path:
        state = next_state(dataclasses.replace(READY, state=state), name)
        visited.append(state)
    assert visited == [
        S.INTAKE,
        S.SCREENING,
        S.ELIGIBILITY,
        S.PLANNED,
        S.PREPARATION,
        S.ACTIVE,
        S.REASSESSMENT,
        S.MAINTENANCE,
        S.COMPLETED,
    ]


def test_rescreen_after_hospitalisation_then_back_to_active() -> None:
    state = next_state(dataclasses.replace(READY, state=S.ACTIVE), "rescreen", reason=REASON)
    assert state is S.SCREENING
    for name in ("request_eligibility", "confirm_eligibility", "start_preparation", "start_series"):
        state = next_state(dataclasses.replace(READY, state=state), name)
    assert state is S.ACTIVE
