"""MEQ-30. Source: reference/instruments.md §8 (test vector; subscale = sum / (n x 5) x 100;
complete mystical experience = at least 60% on every subscale, Barrett et al. 2015).

Positions below are the reference's stand-alone-form positions, written out here rather than
taken from the engine, so the engine's MEQ43-number mapping is checked against them.
"""

from __future__ import annotations

import pytest

from openkap.core.instruments import IncompleteResponseError, score

MYSTICAL = (4, 5, 6, 9, 14, 15, 16, 18, 20, 21, 23, 24, 25, 26, 28)
POSITIVE_MOOD = (2, 8, 12, 17, 27, 30)
TRANSCENDENCE = (1, 7, 11, 13, 19, 22)
INEFFABILITY = (3, 10, 29)


def answers_by_subscale(
    mystical: int, mood: int, transcendence: int, ineffability: int
) -> list[int]:
    answers = [0] * 30
    for positions, value in (
        (MYSTICAL, mystical),
        (POSITIVE_MOOD, mood),
        (TRANSCENDENCE, transcendence),
        (INEFFABILITY, ineffability),
    ):
        for position in positions:
            answers[position - 1] = value
    return answers


def test_meq30_reference_vector_is_complete_mystical_experience() -> None:
    # instruments.md §8: mystical 45/75 = 60%, mood 24/30 = 80%, transcendence 18/30 = 60%,
    # ineffability 9/15 = 60% -> complete (60% counts). Total 96/150 = 64%.
    result = score("meq30", answers_by_subscale(3, 4, 3, 3))
    assert dict(result.subscales) == {
        "mystical": 60.0,
        "positive_mood": 80.0,
        "transcendence": 60.0,
        "ineffability": 60.0,
    }
    assert result.indicators["complete_mystical_experience"] is True
    assert (result.raw_total, result.total) == (96, 64.0)


def test_meq30_reference_vector_one_ineffability_item_lower_is_not_complete() -> None:
    # instruments.md §8: one ineffability item 2 -> 8/15 = 53.3% -> not complete.
    answers = answers_by_subscale(3, 4, 3, 3)
    answers[INEFFABILITY[0] - 1] = 2
    result = score("meq30", answers)
    assert result.subscales["ineffability"] == pytest.approx(53.333, abs=0.001)
    assert result.indicators["complete_mystical_experience"] is False
    assert result.total == pytest.approx(95 * 100 / 150)


def test_meq30_all_extreme_is_100_percent() -> None:
    result = score("meq30", [5] * 30)
    assert (result.total, result.raw_total) == (100.0, 150)
    assert set(result.subscales.values()) == {100.0}


def test_meq30_all_none_is_0_percent() -> None:
    result = score("meq30", [0] * 30)
    assert result.total == 0
    assert result.indicators["complete_mystical_experience"] is False


def test_meq30_just_below_60_percent_on_mystical_is_not_complete() -> None:
    # Hand: mystical sum 44/75 = 58.7% (one item 2 instead of 3) with the rest at 60%+.
    answers = answers_by_subscale(3, 3, 3, 3)
    answers[MYSTICAL[0] - 1] = 2
    result = score("meq30", answers)
    assert result.subscales["mystical"] == pytest.approx(44 * 100 / 75)
    assert result.indicators["complete_mystical_experience"] is False


def test_meq30_has_no_bands() -> None:
    assert score("meq30", [3] * 30).band is None


def test_meq30_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("meq30", [3] * 29 + [None])
