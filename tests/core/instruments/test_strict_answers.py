"""Issue 12: answers are plain ints, and safety flags survive incomplete responses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.instruments import (
    IncompleteResponseError,
    InvalidAnswerError,
    ScoringError,
    all_instruments,
    parse_answer_text,
    safety_flags,
    score,
)
from tests.profiles import examples


@pytest.mark.parametrize("bad", [1.0, True, False, Decimal(1), "1", 0.0])
def test_score_refuses_answers_that_only_look_like_ints(bad: object) -> None:
    # 1.0 and True hash and compare equal to 1, so a dict look-up would score them.
    answers: list[object] = [0] * 9
    answers[3] = bad
    with pytest.raises(InvalidAnswerError, match="is not an answer"):
        score("phq9", answers)  # type: ignore[arg-type]


def test_safety_flags_refuses_a_float_too() -> None:
    with pytest.raises(InvalidAnswerError):
        safety_flags("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 3.0])  # type: ignore[list-item]


@pytest.mark.parametrize("text", ["0", "3", "10", "007"])
def test_parse_answer_text_reads_plain_digits(text: str) -> None:
    assert parse_answer_text(text) == int(text)


@pytest.mark.parametrize(
    "text", ["+1", "-0", "-1", "1_0", "\u0661", "\uff11", "\u00b9", " 1", "1 ", "1\n", "1.0", "", "1e0"]
)
def test_parse_answer_text_refuses_everything_else(text: str) -> None:
    with pytest.raises(ScoringError, match="plain digits"):
        parse_answer_text(text)


def test_phq9_item9_flag_survives_a_blank_item() -> None:
    # Kroenke 2001: PHQ-9 has no rule for missing items; item 9 > 0 still flags (DESIGN §2).
    with pytest.raises(IncompleteResponseError) as caught:
        score("phq9", [None, 0, 0, 0, 0, 0, 0, 0, 3])
    assert [f.id for f in caught.value.flags] == ["phq9_item9"]
    assert caught.value.missing == ("q1",)


_FLAGGED = [i for i in all_instruments() if i.item_flags]


@settings(max_examples=examples(300), deadline=None)
@given(data=st.data())
def test_item_flags_survive_any_blank_elsewhere(data: st.DataObject) -> None:
    """Property: for every instrument with item-level flags, blanking items that carry no
    flag rule never loses a flag the flagged items raise: the result or the refusal names it."""
    instrument = data.draw(st.sampled_from(_FLAGGED))
    values = [data.draw(st.sampled_from(item.scale.values)) for item in instrument.items]
    flagged_items = {rule.item for rule in instrument.item_flags}
    expected = {f.id for f in score(instrument, values).flags if set(f.items) <= flagged_items}
    blankable = [i for i, item in enumerate(instrument.items) if item.id not in flagged_items]
    blanks = data.draw(st.sets(st.sampled_from(blankable), min_size=1)) if blankable else set()
    partial = [None if i in blanks else v for i, v in enumerate(values)]
    try:
        raised = {f.id for f in score(instrument, partial).flags}
    except IncompleteResponseError as exc:
        raised = {f.id for f in exc.flags}
    assert expected <= raised
