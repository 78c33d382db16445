"""EBI. Source: reference/instruments.md §9 (test vector; mean of six 0-100 items)."""

from __future__ import annotations

import pytest

from openkap.core.instruments import IncompleteResponseError, InvalidAnswerError, score


def test_ebi_reference_vector_mean_55() -> None:
    # instruments.md §9: [80,40,70,60,30,50] -> mean 55.0 (sum 330).
    result = score("ebi", [80, 40, 70, 60, 30, 50])
    assert (result.total, result.raw_total, result.band) == (55.0, 330, None)


@pytest.mark.parametrize(
    ("answers", "mean"),
    [([0] * 6, 0.0), ([100] * 6, 100.0), ([10, 20, 30, 40, 50, 61], 211 / 6)],
)
def test_ebi_hand_examples(answers: list[int], mean: float) -> None:
    assert score("ebi", answers).total == pytest.approx(mean)


def test_ebi_rejects_value_above_100() -> None:
    with pytest.raises(InvalidAnswerError):
        score("ebi", [101, 0, 0, 0, 0, 0])


def test_ebi_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("ebi", [50, 50, 50, 50, 50, None])
