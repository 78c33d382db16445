"""MADRS. Source: reference/instruments.md §6 (test vectors; Snaith 1986 bands as in
CamCOPS: 0-6 normal, 7-19 mild, 20-34 moderate, 35-60 severe).
"""

from __future__ import annotations

import pytest

from openkap.core.instruments import IncompleteResponseError, Severity, get_instrument, score

from .helpers import with_total_last_zero


def test_madrs_reference_baseline_vector() -> None:
    # instruments.md §6: [4,4,3,4,2,4,3,4,3,2] -> 33 moderate; item 10 = 2 -> C-SSRS flag.
    result = score("madrs", [4, 4, 3, 4, 2, 4, 3, 4, 3, 2])
    assert (result.total, result.band) == (33, "moderate")
    assert [(f.id, f.severity) for f in result.flags] == [("madrs_item10", Severity.REVIEW)]


def test_madrs_reference_follow_up_vector() -> None:
    # instruments.md §6: [2,2,2,1,0,2,1,2,1,0] -> 13 mild, item 10 = 0 -> no flag.
    result = score("madrs", [2, 2, 2, 1, 0, 2, 1, 2, 1, 0])
    assert (result.total, result.band, result.flags) == (13, "mild", ())


def test_madrs_maximum_is_severe_with_emergency_flag() -> None:
    # Hand: 10 x 6 = 60; item 10 = 6 (explicit plans) -> emergency pathway.
    result = score("madrs", [6] * 10)
    assert (result.total, result.band) == (60, "severe")
    assert result.flags[0].severity is Severity.EMERGENCY


def test_madrs_item10_four_is_urgent() -> None:
    # Hand: 9 x 3 + 4 = 31 moderate.
    result = score("madrs", [3] * 9 + [4])
    assert (result.total, result.band) == (31, "moderate")
    assert result.flags[0].severity is Severity.URGENT


@pytest.mark.parametrize(("value", "flagged"), [(1, False), (2, True), (3, True)])
def test_madrs_item10_threshold(value: int, flagged: bool) -> None:
    assert bool(score("madrs", [0] * 9 + [value]).flags) is flagged


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "normal"),
        (6, "normal"),
        (7, "mild"),
        (19, "mild"),
        (20, "moderate"),
        (34, "moderate"),
        (35, "severe"),
        (54, "severe"),
    ],
)
def test_madrs_band_boundary_both_sides(total: int, band: str) -> None:
    assert score("madrs", with_total_last_zero(10, 6, total)).band == band


def test_madrs_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("madrs", [1, 1, 1, 1, None, 1, 1, 1, 1, 1])


def test_madrs_is_clinician_rated_and_ships_no_text() -> None:
    madrs = get_instrument("madrs")
    assert str(madrs.rater) == "clinician-rated"
    assert all(item.text is None for item in madrs.items)
