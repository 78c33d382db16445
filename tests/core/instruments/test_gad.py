"""GAD-7 and GAD-2. Source: reference/instruments.md §2, §2a (Spitzer et al. 2006 bands)."""

from __future__ import annotations

import pytest

from openkap.core.instruments import IncompleteResponseError, get_instrument, score

from .helpers import with_total


@pytest.mark.parametrize(
    ("answers", "total", "band"),
    [
        ([1, 1, 2, 1, 0, 2, 1], 8, "mild"),  # instruments.md §2 test vector
        ([3, 3, 3, 2, 2, 2, 1], 16, "severe"),  # instruments.md §2 test vector
        ([2, 2, 2, 2, 2, 0, 0], 10, "moderate"),  # hand: 5 x 2 = 10
        ([0, 1, 1, 1, 1, 0, 0], 4, "minimal"),  # hand: 4
    ],
)
def test_gad7_worked_examples(answers: list[int], total: int, band: str) -> None:
    result = score("gad7", answers)
    assert (result.total, result.band, result.flags) == (total, band, ())


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_band_boundary_both_sides(total: int, band: str) -> None:
    # Spitzer 2006: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
    assert score("gad7", with_total(7, 3, total)).band == band


def test_gad7_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("gad7", [1, 1, 1, 1, 1, 1, None])


def test_gad7_item2_loinc_is_not_the_discharge_code() -> None:
    # Reference §2: some copies code item 2 as 69726-8 ("Discharge instructions").
    assert get_instrument("GAD-7").items[1].loinc == "68509-9"


@pytest.mark.parametrize(
    ("answers", "total", "band"),
    [
        ([1, 1], 2, "negative"),  # instruments.md §2a test vector
        ([2, 1], 3, "positive"),  # hand: boundary
        ([3, 3], 6, "positive"),  # hand: maximum
        ([0, 2], 2, "negative"),  # hand: other side of the boundary
    ],
)
def test_gad2_worked_examples(answers: list[int], total: int, band: str) -> None:
    result = score("gad2", answers)
    assert (result.total, result.band) == (total, band)


def test_gad2_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("gad2", [1, None])


def test_gad2_has_no_unverified_loinc_codes() -> None:
    gad2 = get_instrument("gad2")
    assert (gad2.loinc_panel, gad2.loinc_total) == (None, None)
