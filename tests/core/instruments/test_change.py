"""Change from baseline, response, remission, reliable change.

Sources: reference/instruments.md §1 (PHQ-9 vectors), §6 (MADRS vectors), §4 (PCL-5 5/10
points), §5 (QIDS remission <= 5); outcomes_literature.md (response >= 50%, PHQ-9 < 5,
GAD-7 < 5, MADRS <= 12); Jacobson & Truax 1991 (RCI).
"""

from __future__ import annotations

import json
import math

import pytest

from openkap.core.instruments import ScoringError
from openkap.core.instruments.change import (
    DETERIORATED,
    IMPROVED,
    UNCHANGED,
    assess_change,
    change_from_baseline,
    is_remission,
    is_response,
    percent_change,
    reliable_change_index,
)


def test_phq9_reference_20_to_9_is_response_not_remission() -> None:
    # instruments.md §1: 20 -> 9 is -55% -> response; 9 >= 5 -> no remission.
    result = assess_change("phq9", 20, 9)
    assert (result.change, result.percent_change) == (-11, -55.0)
    assert (result.response, result.remission) == (True, False)
    assert result.remission_definition == "phq9_lt5"


def test_phq9_reference_20_to_4_is_response_and_remission() -> None:
    result = assess_change("PHQ-9", 20, 4)
    assert (result.response, result.remission) == (True, True)


def test_madrs_reference_33_to_13_response_no_remission_either_definition() -> None:
    # instruments.md §6: 33 -> 13 = -60.6% -> response; remission no at <= 10 and <= 12.
    result = assess_change("madrs", 33, 13)
    assert result.percent_change == pytest.approx(-60.606, abs=0.001)
    assert result.response is True
    assert result.remission is False
    assert assess_change("madrs", 33, 13, remission_definition_id="madrs_le12").remission is False


@pytest.mark.parametrize(
    ("baseline", "current", "response"),
    [(20, 10, True), (20, 11, False), (9, 4, True), (9, 5, False), (10, 0, True), (10, 12, False)],
)
def test_response_boundary_exactly_50_percent(baseline: int, current: int, response: bool) -> None:
    assert is_response(baseline, current) is response


def test_response_undefined_for_zero_baseline() -> None:
    assert is_response(0, 0) is None
    assert percent_change(0, 3) is None
    assert assess_change("phq9", 0, 3).response is None


@pytest.mark.parametrize(
    ("instrument_id", "total", "remission", "definition"),
    [
        ("phq9", 4, True, None),
        ("phq9", 5, False, None),
        ("gad7", 4, True, None),
        ("gad7", 5, False, None),
        ("qidssr16", 5, True, None),
        ("qidssr16", 6, False, None),
        ("madrs", 10, True, None),
        ("madrs", 11, False, None),
        ("madrs", 12, True, "madrs_le12"),
        ("madrs", 13, False, "madrs_le12"),
        ("pcl5", 32, True, None),
        ("pcl5", 33, False, None),
    ],
)
def test_remission_threshold_both_sides(
    instrument_id: str, total: int, remission: bool, definition: str | None
) -> None:
    assert is_remission(instrument_id, total, definition_id=definition) is remission


@pytest.mark.parametrize(
    ("instrument_id", "baseline", "current", "expected"),
    [
        ("pcl5", 50, 45, IMPROVED),
        ("pcl5", 50, 46, UNCHANGED),
        ("pcl5", 40, 45, DETERIORATED),
        ("phq9", 15, 9, IMPROVED),
        ("phq9", 15, 10, UNCHANGED),
        ("phq9", 10, 16, DETERIORATED),
        ("gad7", 12, 8, IMPROVED),
        ("gad7", 12, 9, UNCHANGED),
    ],
)
def test_reliable_change_points(
    instrument_id: str, baseline: int, current: int, expected: str
) -> None:
    assert assess_change(instrument_id, baseline, current).reliable_change == expected


def test_pcl5_clinically_meaningful_is_10_points() -> None:
    assert assess_change("pcl5", 50, 40).clinically_meaningful is True
    assert assess_change("pcl5", 50, 41).clinically_meaningful is False


def test_madrs_has_no_reliable_change_rule() -> None:
    assert assess_change("madrs", 30, 10).reliable_change is None


def test_instrument_without_rules_gives_change_only() -> None:
    result = assess_change("cadss", 20, 5)
    assert (result.change, result.percent_change) == (-15, -75.0)
    assert (result.response, result.remission, result.reliable_change) == (None, None, None)


def test_reliable_change_index_worked_example() -> None:
    # Hand: SE = 5 x sqrt(1 - 0.84) = 2; S_diff = sqrt(2) x 2 = 2.828; -6 / 2.828 = -2.121.
    rci = reliable_change_index(20, 14, sd=5, reliability=0.84)
    assert rci == pytest.approx(-6 / (2 * math.sqrt(2)))
    assert abs(rci) > 1.96


def test_reliable_change_index_rejects_bad_parameters() -> None:
    with pytest.raises(ScoringError):
        reliable_change_index(1, 2, sd=0, reliability=0.8)
    with pytest.raises(ScoringError):
        reliable_change_index(1, 2, sd=5, reliability=1.0)


@pytest.mark.parametrize(("baseline", "current"), [(28, 5), (5, -1), (30, 5)])
def test_assess_change_rejects_totals_outside_range(baseline: int, current: int) -> None:
    with pytest.raises(ScoringError):
        assess_change("phq9", baseline, current)


def test_assess_change_rejects_triage_instrument() -> None:
    with pytest.raises(ScoringError):
        assess_change("asq", 1, 0)


def test_assess_change_unknown_remission_definition() -> None:
    with pytest.raises(ScoringError, match="madrs_le10"):
        assess_change("madrs", 30, 10, remission_definition_id="madrs_le99")


def test_change_from_baseline_sign() -> None:
    assert change_from_baseline(20, 9) == -11


def test_change_result_to_dict_is_json_serialisable() -> None:
    assert json.loads(json.dumps(assess_change("phq9", 20, 9).to_dict()))["response"] is True
