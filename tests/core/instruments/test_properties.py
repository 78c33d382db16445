"""Hypothesis properties over every instrument, driven by each instrument's answer scales."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.instruments import (
    Instrument,
    ScoringError,
    Severity,
    all_instruments,
    safety_flags,
    score,
    score_range,
)
from tests.profiles import examples

SEVERITY_ORDER = [Severity.REVIEW, Severity.URGENT, Severity.EMERGENCY]
TRIAGE_ORDER = {
    "asq": ["negative", "non_acute_positive", "positive_acuity_not_assessed", "acute_positive"],
    "cssrs-recent": ["none", "low", "moderate", "high"],
    "cssrs-slv": ["none", "low", "moderate", "high"],
}

INSTRUMENTS = all_instruments()
WITH_TOTAL = [i for i in INSTRUMENTS if score_range(i) is not None]
TRIAGE = [i for i in INSTRUMENTS if score_range(i) is None]


def full_answers(instrument: Instrument) -> st.SearchStrategy[list[int]]:
    return st.tuples(
        *(st.integers(item.scale.minimum, item.scale.maximum) for item in instrument.items)
    ).map(list)


@st.composite
def answers_and_bump(draw: st.DrawFn, instrument: Instrument) -> tuple[list[int], int]:
    """Full answers plus an item index whose answer can go one step up."""
    answers = draw(full_answers(instrument))
    bumpable = [i for i, item in enumerate(instrument.items) if answers[i] < item.scale.maximum]
    if not bumpable:
        answers[0] -= 1
        bumpable = [0]
    return answers, draw(st.sampled_from(bumpable))


def max_severity(flags: tuple[object, ...]) -> int:
    return max((SEVERITY_ORDER.index(f.severity) for f in flags), default=-1)  # type: ignore[attr-defined]


@pytest.mark.parametrize("instrument", WITH_TOTAL, ids=lambda i: i.id)
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data())
def test_total_within_range_property(instrument: Instrument, data: st.DataObject) -> None:
    result = score(instrument, data.draw(full_answers(instrument)))
    bounds = score_range(instrument)
    assert bounds is not None
    assert result.total is not None
    assert bounds[0] <= result.total <= bounds[1]
    json.dumps(result.to_dict())


@pytest.mark.parametrize("instrument", WITH_TOTAL, ids=lambda i: i.id)
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data())
def test_total_monotone_in_each_item_property(instrument: Instrument, data: st.DataObject) -> None:
    answers, index = data.draw(answers_and_bump(instrument))
    before = score(instrument, answers)
    bumped = list(answers)
    bumped[index] += 1
    after = score(instrument, bumped)
    assert before.total is not None
    assert after.total is not None
    if instrument.items[index].reverse:
        assert after.total <= before.total
    else:
        assert after.total >= before.total
        for name, value in before.subscales.items():
            assert after.subscales[name] >= value
        if instrument.bands:
            order = [b.id for b in instrument.bands]
            assert order.index(str(after.band)) >= order.index(str(before.band))


@pytest.mark.parametrize("instrument", INSTRUMENTS, ids=lambda i: i.id)
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data())
def test_flags_never_weaken_when_an_item_rises_property(
    instrument: Instrument, data: st.DataObject
) -> None:
    answers, index = data.draw(answers_and_bump(instrument))
    if instrument.items[index].reverse:
        return
    before = score(instrument, answers)
    bumped = list(answers)
    bumped[index] += 1
    after = score(instrument, bumped)
    assert set(before.flag_ids) <= set(after.flag_ids)
    assert max_severity(after.flags) >= max_severity(before.flags)
    if instrument.id in TRIAGE_ORDER:
        order = TRIAGE_ORDER[instrument.id]
        assert order.index(str(after.band)) >= order.index(str(before.band))


@pytest.mark.parametrize("instrument", TRIAGE, ids=lambda i: i.id)
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data())
def test_triage_result_has_level_and_no_total_property(
    instrument: Instrument, data: st.DataObject
) -> None:
    result = score(instrument, data.draw(full_answers(instrument)))
    assert result.total is None
    assert result.band in TRIAGE_ORDER[instrument.id]
    assert bool(result.flags) == (result.band != TRIAGE_ORDER[instrument.id][0])


@pytest.mark.parametrize("instrument", INSTRUMENTS, ids=lambda i: i.id)
@settings(max_examples=examples(100), deadline=None)
@given(data=st.data())
def test_safety_flags_agree_with_score_property(
    instrument: Instrument, data: st.DataObject
) -> None:
    answers = data.draw(full_answers(instrument))
    assert safety_flags(instrument, answers) == score(instrument, answers).flags


@pytest.mark.parametrize("instrument", INSTRUMENTS, ids=lambda i: i.id)
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data())
def test_any_input_scores_or_raises_scoring_error_property(
    instrument: Instrument, data: st.DataObject
) -> None:
    answers = data.draw(
        st.lists(st.one_of(st.none(), st.integers(-3, 110)), max_size=len(instrument.items) + 2)
    )
    try:
        result = score(instrument, answers)
    except ScoringError:
        return
    json.dumps(result.to_dict())
