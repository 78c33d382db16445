"""AUDIT-C. Source: reference/instruments.md §10 (test vectors; positive: men >= 4,
women >= 3, common US/VA cut-offs)."""

from __future__ import annotations

import pytest

from openkap.core.instruments import (
    IncompleteResponseError,
    InvalidAnswerError,
    get_instrument,
    score,
)


@pytest.mark.parametrize("sex", ["female", "male", None])
def test_auditc_reference_vector_positive_for_both(sex: str | None) -> None:
    # instruments.md §10: [2,1,1] -> 4 -> positive for men and for women.
    result = score("auditc", [2, 1, 1], sex=sex)
    assert (result.total, result.band) == (4, "positive")


@pytest.mark.parametrize("sex", ["female", "male", None])
def test_auditc_reference_vector_negative(sex: str | None) -> None:
    # instruments.md §10: [1,0,0] -> 1 -> negative.
    assert score("auditc", [1, 0, 0], sex=sex).band == "negative"


def test_auditc_total_3_depends_on_sex() -> None:
    # Hand: 1+1+1 = 3: positive for women (>= 3), negative for men (< 4).
    assert score("auditc", [1, 1, 1], sex="female").band == "positive"
    assert score("auditc", [1, 1, 1], sex="male").band == "negative"
    # Issue 12: without a sex, total 3 is the cautious reading (women's cut-off >= 3,
    # Bradley KA et al. Alcohol Clin Exp Res 2007;31:1208), a possible positive with a note.
    unknown = score("auditc", [1, 1, 1])
    assert unknown.band == "positive"
    assert unknown.band_label == "Possible: Positive screen for alcohol misuse (sex not given)"
    assert any("sex was not given" in note for note in unknown.notes)


@pytest.mark.parametrize(("answers", "band"), [([1, 1, 0], "negative"), ([2, 1, 1], "positive")])
def test_auditc_without_sex_where_cutoffs_agree_has_no_note(answers: list[int], band: str) -> None:
    # Totals 2 and 4: both sexes' cut-offs agree, so the band is definite.
    result = score("auditc", answers)
    assert (result.band, result.notes) == (band, ())
    assert not result.band_label.startswith("Possible")


@pytest.mark.parametrize(
    ("answers", "sex", "band"),
    [
        ([2, 0, 0], "female", "negative"),
        ([2, 1, 0], "female", "positive"),
        ([2, 1, 0], "male", "negative"),
        ([2, 2, 0], "male", "positive"),
        ([4, 4, 4], "male", "positive"),
        ([0, 0, 0], "female", "negative"),
    ],
)
def test_auditc_band_boundary_both_sides(answers: list[int], sex: str, band: str) -> None:
    assert score("auditc", answers, sex=sex).band == band


def test_auditc_sex_is_case_insensitive() -> None:
    assert score("auditc", [1, 1, 1], sex="Female").band == "positive"


def test_auditc_unknown_sex_rejected() -> None:
    with pytest.raises(InvalidAnswerError):
        score("auditc", [1, 1, 1], sex="x")


def test_auditc_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("auditc", [1, None, 0])


def test_auditc_item_loinc_codes() -> None:
    # loinc.org panel 72110-0 (AUDIT) items 1-3; 68520-6 also in HL7 US Core's AUDIT-C.
    assert [item.loinc for item in get_instrument("auditc").items] == [
        "68518-0",
        "68519-8",
        "68520-6",
    ]
