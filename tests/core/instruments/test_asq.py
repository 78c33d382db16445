"""ASQ. Source: NIMH ASQ tool ("yes to any of 1-4, or refuses to answer = positive; ask
question 5: yes = acute positive, no = non-acute positive"); reference/instruments.md §13.
"""

from __future__ import annotations

import pytest

from openkap.core.instruments import (
    MANUAL_RULE,
    SKIPPED_BY_DESIGN,
    ItemCountError,
    Severity,
    safety_flags,
    score,
)


def test_asq_all_no_is_negative_without_question5() -> None:
    # NIMH: "No" to all of 1-4 completes the screen; question 5 is not asked.
    result = score("asq", [0, 0, 0, 0])
    assert (result.total, result.band, result.flags) == (None, "negative", ())
    assert result.missing == ("q5",)
    assert result.missing_handling == SKIPPED_BY_DESIGN


def test_asq_all_no_with_question5_answered_no_is_negative() -> None:
    assert score("asq", [0, 0, 0, 0, 0]).band == "negative"


def test_asq_yes_to_question1_and_no_to_question5_is_non_acute_positive() -> None:
    result = score("asq", [1, 0, 0, 0, 0])
    assert result.band == "non_acute_positive"
    assert result.flag_ids == ("asq_positive",)
    assert result.flags[0].severity is Severity.URGENT


def test_asq_past_attempt_only_is_positive() -> None:
    # Question 4 (ever tried to kill yourself) counts like 1-3.
    assert score("asq", [0, 0, 0, 1, 0]).band == "non_acute_positive"


def test_asq_yes_to_question5_is_acute_positive_emergency() -> None:
    result = score("asq", [0, 0, 1, 0, 1])
    assert result.band == "acute_positive"
    assert result.flag_ids == ("asq_positive", "asq_acute_positive")
    assert result.flags[1].severity is Severity.EMERGENCY


def test_asq_refusal_counts_as_positive() -> None:
    # NIMH: a patient who refuses to answer is considered a positive screen.
    result = score("asq", [0, None, 0, 0, 0])
    assert result.band == "non_acute_positive"
    assert result.flag_ids == ("asq_positive",)
    assert result.missing_handling == MANUAL_RULE
    assert result.item_scores[1] == 1


def test_asq_positive_without_question5_flags_acuity_not_assessed() -> None:
    result = score("asq", [1, 0, 0, 0])
    assert result.band == "positive_acuity_not_assessed"
    assert result.flag_ids == ("asq_positive", "asq_acuity_not_assessed")
    assert result.flags[1].severity is Severity.EMERGENCY


def test_asq_question5_yes_is_honoured_even_after_four_noes() -> None:
    # Inconsistent with the skip logic, but a "yes, right now" is never dropped.
    result = score("asq", [0, 0, 0, 0, 1])
    assert result.band == "acute_positive"
    assert result.notes


@pytest.mark.parametrize("answers", [[0, 0, 0], [0, 0, 0, 0, 0, 0]])
def test_asq_wrong_item_count_rejected(answers: list[int]) -> None:
    with pytest.raises(ItemCountError):
        score("asq", answers)


def test_asq_partial_answers_raise_flags_before_completion() -> None:
    assert [f.id for f in safety_flags("asq", [0, 0, 1])] == [
        "asq_positive",
        "asq_acuity_not_assessed",
    ]


def test_asq_blank_question5_is_scored_not_incomplete() -> None:
    # An explicit blank for question 5 on a positive screen: acuity not assessed.
    result = score("asq", [1, 1, 0, 0, None])
    assert result.band == "positive_acuity_not_assessed"
    assert result.missing == ("q5",)
