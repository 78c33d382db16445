"""The snapshot refuses data that cannot be right, rather than judging it."""

from __future__ import annotations

import pytest

from openkap.core.pathway import EpisodeSnapshot, Route, State


def test_defaults_are_all_unmet() -> None:
    s = EpisodeSnapshot(state=State.INTAKE)
    assert not s.intake_completed
    assert s.eligibility_outcome is None
    assert s.contraindication_answers == {}
    assert s.preparation_sessions_held == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"contraindication_answers": {"gout": True}}, "Unknown contraindication checklist item"),
        ({"justified_relative_contraindications": frozenset({"gout"})}, "Unknown contraindication"),
        ({"contraindication_answers": {"pregnancy": 1}}, "must be yes or no"),
        ({"preparation_sessions_held": -1}, "cannot be negative"),
        ({"dosing_sessions_held": 1, "dosing_sessions_without_integration": 2}, "More dosing"),
        ({"state": "active"}, "Unknown episode state"),
    ],
)
def test_impossible_snapshot_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"state": State.INTAKE, **kwargs}
    with pytest.raises(ValueError, match=message):
        EpisodeSnapshot(**fields)


def test_checklist_route_is_the_plan_route_once_planned() -> None:
    s = EpisodeSnapshot(state=State.PLANNED, intended_route=Route.INTRAMUSCULAR)
    assert s.checklist_route is Route.INTRAMUSCULAR
    planned = EpisodeSnapshot(
        state=State.PLANNED, intended_route=Route.INTRAMUSCULAR, plan_route=Route.INTRANASAL_ESKETAMINE
    )
    assert planned.checklist_route is Route.INTRANASAL_ESKETAMINE


def test_required_measures_core_first_then_plan_sorted() -> None:
    s = EpisodeSnapshot(
        state=State.SCREENING, plan_baseline_measures=frozenset({"dast10", "auditc", "phq9"})
    )
    assert s.required_measures == ("phq9", "gad7", "cssrs-recent", "auditc", "dast10")


def test_unknown_measure_id_is_named_as_is() -> None:
    from openkap.core.pathway.guards import BASELINE_MEASURES

    s = EpisodeSnapshot(
        state=State.SCREENING,
        baseline_measures_completed=frozenset({"phq9", "gad7", "cssrs-recent"}),
        plan_baseline_measures=frozenset({"wsas"}),
    )
    assert BASELINE_MEASURES(s) == ["Baseline wsas not completed."]
