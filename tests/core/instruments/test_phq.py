"""PHQ-9 and PHQ-2. Source: reference/instruments.md §1, §2a (Kroenke et al. 2001 bands)."""

from __future__ import annotations

import pytest

from openkap.core.instruments import IncompleteResponseError, Severity, get_instrument, score

from .helpers import with_total_last_zero

# -- PHQ-9 worked examples ---------------------------------------------------------------


def test_phq9_reference_vector_mild_without_flag() -> None:
    # instruments.md §1 test vector: [1,2,1,2,1,1,0,1,0] -> 9, mild, item 9 = 0.
    result = score("phq9", [1, 2, 1, 2, 1, 1, 0, 1, 0])
    assert (result.total, result.band, result.flag_ids) == (9, "mild", ())


def test_phq9_reference_vector_moderately_severe_with_item9_flag() -> None:
    # instruments.md §1 test vector: [3,3,2,2,2,2,2,1,1] -> 18, item 9 = 1 -> flag.
    result = score("phq9", [3, 3, 2, 2, 2, 2, 2, 1, 1])
    assert (result.total, result.band) == (18, "moderately_severe")
    assert result.flag_ids == ("phq9_item9",)
    assert result.flags[0].severity is Severity.REVIEW
    assert result.flags[0].items == ("q9",)


def test_phq9_hand_computed_moderate_with_urgent_flag() -> None:
    # Hand: 2+2+2+2+2+0+0+0+2 = 12 -> moderate (10-14); item 9 = 2 -> urgent (reference:
    # 2-3 = urgent review before any dosing that day).
    result = score("phq9", [2, 2, 2, 2, 2, 0, 0, 0, 2])
    assert (result.total, result.band) == (12, "moderate")
    assert [(f.id, f.severity) for f in result.flags] == [("phq9_item9", Severity.URGENT)]


def test_phq9_hand_computed_maximum_is_severe() -> None:
    # Hand: 9 x 3 = 27, the top of the 20-27 severe band.
    result = score("phq9", [3] * 9)
    assert (result.total, result.band) == (27, "severe")
    assert result.flags[0].severity is Severity.URGENT


def test_phq9_all_zero_is_minimal() -> None:
    result = score("phq9", [0] * 9)
    assert (result.total, result.band, result.flags) == (0, "minimal", ())


PHQ9_BOUNDARIES = [
    (0, "minimal"),
    (4, "minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "moderately_severe"),
    (19, "moderately_severe"),
    (20, "severe"),
    (24, "severe"),
]


@pytest.mark.parametrize(("total", "band"), PHQ9_BOUNDARIES)
def test_phq9_band_boundary_both_sides(total: int, band: str) -> None:
    # Kroenke 2001: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 mod. severe, 20-27 severe.
    result = score("phq9", with_total_last_zero(9, 3, total))
    assert (result.total, result.band) == (total, band)


def test_phq9_missing_item_not_scored() -> None:
    # The manual defines no missing-item rule (reference §1): no prorating.
    with pytest.raises(IncompleteResponseError) as info:
        score("phq9", [1, 1, None, 1, 1, 1, 1, 1, 0])
    assert info.value.missing == ("q3",)
    assert info.value.flags == ()


def test_phq9_missing_item_still_raises_item9_flag() -> None:
    # Reference §15: safety items are evaluated even when the total cannot be computed.
    with pytest.raises(IncompleteResponseError) as info:
        score("phq9", [None, 1, 1, 1, 1, 1, 1, 1, 3])
    assert [f.id for f in info.value.flags] == ["phq9_item9"]


def test_phq9_item_loinc_codes_match_reference() -> None:
    phq9 = get_instrument("phq9")
    assert [i.loinc for i in phq9.items] == [
        "44250-9",
        "44255-8",
        "44259-0",
        "44254-1",
        "44251-7",
        "44258-2",
        "44252-5",
        "44253-3",
        "44260-8",
    ]
    assert (phq9.loinc_panel, phq9.loinc_total) == ("44249-1", "44261-6")


# -- PHQ-2 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "total", "band"),
    [
        ([2, 1], 3, "positive"),  # instruments.md §2a test vector
        ([1, 1], 2, "negative"),  # hand: 1+1 = 2 < 3
        ([3, 3], 6, "positive"),  # hand: maximum
        ([0, 0], 0, "negative"),  # hand: minimum
    ],
)
def test_phq2_worked_examples(answers: list[int], total: int, band: str) -> None:
    result = score("phq2", answers)
    assert (result.total, result.band) == (total, band)


@pytest.mark.parametrize(("answers", "band"), [([2, 0], "negative"), ([2, 1], "positive")])
def test_phq2_band_boundary_both_sides(answers: list[int], band: str) -> None:
    assert score("phq2", answers).band == band


def test_phq2_has_no_suicide_flag_even_at_maximum() -> None:
    assert score("phq2", [3, 3]).flags == ()


def test_phq2_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("phq2", [None, 3])
