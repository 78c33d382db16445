"""The scheduler's guard for booking a dosing session."""

from __future__ import annotations

import dataclasses

import pytest

from openkap.core.pathway import State, dosing_booking_requirements

from .cases import BREAKERS, READINESS_KEYS, READY, Breaker

S = State
BOOKABLE = (S.PREPARATION, S.ACTIVE, S.MAINTENANCE)
LABELS = {
    S.INTAKE: "intake",
    S.SCREENING: "screening",
    S.ELIGIBILITY: "eligibility decision",
    S.PLANNED: "treatment planned",
    S.REASSESSMENT: "reassessment",
    S.COMPLETED: "completed",
    S.DISCONTINUED: "discontinued",
}


@pytest.mark.parametrize("state", BOOKABLE)
def test_booking_allowed_when_everything_is_in_place(state: State) -> None:
    assert dosing_booking_requirements(dataclasses.replace(READY, state=state)) == []


@pytest.mark.parametrize("state", sorted(LABELS))
def test_booking_refused_outside_preparation_series_and_maintenance(state: State) -> None:
    assert dosing_booking_requirements(dataclasses.replace(READY, state=state)) == [
        "Dosing sessions are booked during preparation, the active series or maintenance; "
        f"this episode is at {LABELS[state]}."
    ]


@pytest.mark.parametrize("state", BOOKABLE)
@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda b: b.name)
def test_each_missing_booking_requirement_is_named(state: State, breaker: Breaker) -> None:
    snapshot = breaker.apply(dataclasses.replace(READY, state=state))
    expected = [breaker.message] if breaker.key in READINESS_KEYS else []
    assert dosing_booking_requirements(snapshot) == expected


def test_new_consent_version_blocks_the_next_dosing() -> None:
    snapshot = dataclasses.replace(READY, state=S.ACTIVE, consent_current_version="v3")
    assert dosing_booking_requirements(snapshot) == [
        "Consent signed on version v2; the patient must sign the current version v3."
    ]


def test_a_contraindication_reported_mid_series_blocks_booking() -> None:
    answers = {**READY.contraindication_answers, "intracerebral_haemorrhage": True}
    snapshot = dataclasses.replace(READY, state=S.ACTIVE, contraindication_answers=answers)
    assert dosing_booking_requirements(snapshot) == [
        "Absolute contraindication: History of intracerebral haemorrhage."
    ]
