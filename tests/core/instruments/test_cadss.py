"""CADSS (23 items) and CADSS-6. Source: reference/instruments.md §7 (test vectors;
CADSS-6 = items 1, 2, 6, 7, 15, 22, Rodrigues et al. 2021)."""

from __future__ import annotations

import pytest

from openkap.core.instruments import (
    IncompleteResponseError,
    InvalidAnswerError,
    score,
    score_range,
)


def test_cadss_reference_full_example() -> None:
    # instruments.md §7: all 0 except 1=2, 2=3, 6=1, 7=2, 12=2, 15=1 -> 11 / 92.
    answers = [0] * 23
    for item, value in ((1, 2), (2, 3), (6, 1), (7, 2), (12, 2), (15, 1)):
        answers[item - 1] = value
    result = score("cadss", answers)
    assert (result.total, result.band, result.flags) == (11, None, ())


@pytest.mark.parametrize(("answers", "total"), [([0] * 23, 0), ([4] * 23, 92), ([1] * 23, 23)])
def test_cadss_hand_examples(answers: list[int], total: int) -> None:
    assert score("cadss", answers).total == total


def test_cadss_range_is_0_to_92() -> None:
    assert score_range("cadss") == (0, 92)


def test_cadss_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("cadss", [0] * 22 + [None])


def test_cadss6_reference_example() -> None:
    # instruments.md §7: items 1=2, 2=3, 6=1, 7=2, 15=1, 22=0 -> 9 / 24.
    assert score("cadss6", [2, 3, 1, 2, 1, 0]).total == 9


@pytest.mark.parametrize(
    ("answers", "total"), [([4] * 6, 24), ([0, 0, 0, 0, 0, 1], 1), ([0] * 6, 0)]
)
def test_cadss6_hand_examples(answers: list[int], total: int) -> None:
    assert score("cadss6", answers).total == total


def test_cadss6_rejects_value_above_four() -> None:
    with pytest.raises(InvalidAnswerError):
        score("cadss-6", [5, 0, 0, 0, 0, 0])
