"""Change from baseline, response, remission, reliable change.

Sources: reference/instruments.md §1 (PHQ-9 vectors), §6 (MADRS vectors); outcomes_literature.md
(response >= 50%, PHQ-9 < 5, GAD-7 < 5, MADRS <= 12); Jacobson & Truax 1991 (RCI).
Reliable change: IAPT PHQ-9 >= 6, GAD-7 >= 4 (BMC Psychiatry 2018, doi:10.1186/s12888-018-1987-1,
Table 1); PCL-5 >= 15 (Marx et al. Psychol Assess 2022;34:197-203, replacing the DSM-IV PCL's
5 points); PCL-5 10 points clinically meaningful (Blanchard et al. J Trauma Stress 2023, MID
9-12). QIDS-SR16 remission <= 5: Trivedi et al. Am J Psychiatry 2006;163:28-40 (STAR*D).
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
    change_rules,
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
        ("pcl5", 50, 35, IMPROVED),
        ("pcl5", 50, 36, UNCHANGED),
        ("pcl5", 30, 45, DETERIORATED),
        ("pcl5", 30, 44, UNCHANGED),
        ("pcl5", 50, 45, UNCHANGED),
        ("phq9", 15, 9, IMPROVED),
        ("phq9", 15, 10, UNCHANGED),
        ("phq9", 10, 16, DETERIORATED),
        ("gad7", 12, 8, IMPROVED),
        ("gad7", 12, 9, UNCHANGED),
        ("gad7", 5, 9, DETERIORATED),
        ("gad7", 5, 8, UNCHANGED),
    ],
)
def test_reliable_change_points(
    instrument_id: str, baseline: int, current: int, expected: str
) -> None:
    assert assess_change(instrument_id, baseline, current).reliable_change == expected


def test_pcl5_clinically_meaningful_is_10_points() -> None:
    assert assess_change("pcl5", 50, 40).clinically_meaningful is True
    assert assess_change("pcl5", 50, 41).clinically_meaningful is False


def test_pcl5_meaningful_but_not_yet_reliable_between_10_and_14_points() -> None:
    # The anchor-based MID (about 10) is smaller than the distribution-based RCI (15).
    result = assess_change("pcl5", 50, 38)
    assert (result.clinically_meaningful, result.reliable_change) == (True, UNCHANGED)
    assert result.reliable_change_points == 15


@pytest.mark.parametrize(
    ("instrument_id", "points", "citation"),
    [
        ("phq9", 6, "s12888-018-1987-1"),
        ("gad7", 4, "s12888-018-1987-1"),
        ("pcl5", 15, "Psychol Assess 2022"),
    ],
)
def test_reliable_change_rules_are_verified_and_cited(
    instrument_id: str, points: int, citation: str
) -> None:
    rule = change_rules(instrument_id)
    assert rule is not None
    assert rule.reliable_change is not None
    assert (rule.reliable_change.points, rule.reliable_change.verified) == (points, True)
    assert citation in rule.reliable_change.source


@pytest.mark.parametrize(
    ("instrument_id", "verified"),
    [("phq9", True), ("qidssr16", True), ("madrs", True), ("gad7", False), ("pcl5", False)],
)
def test_default_remission_definition_verification(instrument_id: str, verified: bool) -> None:
    # GAD-7 < 5 (by analogy with the PHQ-9) and PCL-5 < 33 have no developer source.
    rule = change_rules(instrument_id)
    assert rule is not None
    assert rule.remission[0].verified is verified


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
