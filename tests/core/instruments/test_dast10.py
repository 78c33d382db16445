"""DAST-10. Source: reference/instruments.md §11 (test vectors; yes = 1 except item 3,
reverse-scored). Bands 0 none, 1-2 low, 3-5 moderate, 6-8 substantial, 9-10 severe: NIDA
Common Data Elements 'DAST Score' valid values (cde.drugabuse.gov) and the Australian
comorbidity guidelines, Appendix W, Table 69."""

from __future__ import annotations

import pytest

from openkap.core.instruments import IncompleteResponseError, score


def test_dast10_reference_vector_moderate() -> None:
    # instruments.md §11: [Y,N,N,N,Y,N,N,N,N,N] -> 1 + 1 (item 3 no) + 1 = 3 -> moderate.
    result = score("dast10", [1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    assert (result.total, result.band) == (3, "moderate")
    assert result.item_scores[2] == 1


def test_dast10_all_no_scores_1_low() -> None:
    # instruments.md §11: all "No" -> 1 (item 3 no = 1) -> low.
    result = score("dast10", [0] * 10)
    assert (result.total, result.band) == (1, "low")


def test_dast10_all_yes_scores_9_severe() -> None:
    # Hand: nine yes = 9, item 3 yes = 0 -> 9 -> severe.
    result = score("dast10", [1] * 10)
    assert (result.total, result.band) == (9, "severe")


def test_dast10_maximum_is_10() -> None:
    # Hand: all yes except item 3 no -> 9 + 1 = 10.
    assert score("dast10", [1, 1, 0, 1, 1, 1, 1, 1, 1, 1]).total == 10


def test_dast10_minimum_is_0() -> None:
    result = score("dast10", [0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    assert (result.total, result.band) == (0, "none")


def dast_with_total(total: int) -> list[int]:
    # Item 3 "yes" (scores 0), then "yes" on items 1, 2, 4, ... until the total is reached;
    # totals of 10 need item 3 "no".
    answers = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    if total == 10:
        return [1, 1, 0, 1, 1, 1, 1, 1, 1, 1]
    for index in (0, 1, 3, 4, 5, 6, 7, 8, 9)[:total]:
        answers[index] = 1
    return answers


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "none"),
        (1, "low"),
        (2, "low"),
        (3, "moderate"),
        (5, "moderate"),
        (6, "substantial"),
        (8, "substantial"),
        (9, "severe"),
        (10, "severe"),
    ],
)
def test_dast10_band_boundary_both_sides(total: int, band: str) -> None:
    result = score("dast10", dast_with_total(total))
    assert (result.total, result.band) == (total, band)


def test_dast10_band_labels_match_nida_cde() -> None:
    # NIDA CDE value meanings, one total per band.
    labels = [score("dast10", dast_with_total(t)).band_label for t in (0, 1, 3, 6, 9)]
    assert labels == [
        "No problems reported",
        "Low level",
        "Moderate level",
        "Substantial level",
        "Severe level",
    ]


def test_dast10_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("dast10", [0] * 9 + [None])
