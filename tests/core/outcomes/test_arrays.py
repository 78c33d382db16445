"""The cohort selection over arrays (core.outcomes.arrays) equals the reference
`patient_outcome`, patient by patient, on random cohorts built to hit the rules' edges:
sessions exactly 28 or 29 days apart, several on one day, several series; scores on the
window edges (30 days before, 14/31 days after), several on one day, none, totals of 0;
open endpoint windows; other endpoint windows and gaps. And its summary equals the
summary loop it replaced (tests/core/outcomes/reference.py) over the reference's outcomes."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.instruments import get_instrument
from openkap.core.outcomes import (
    DEFAULT_DEFINITIONS,
    PatientInput,
    Score,
    patient_outcome,
    summarise,
)
from openkap.core.outcomes.arrays import Scores, select
from openkap.core.outcomes.cohort import (
    Tally,
    in_baseline_band,
    patient_ranges,
    reduce,
    reduce_chunks,
    summarise_reduced,
    summarise_selection,
)
from openkap.core.outcomes.days import day_number
from tests.core.outcomes.reference import reference_summarise
from tests.profiles import examples

D0 = date(2025, 1, 6)
# Offsets near the default windows' edges: baseline -30..0, gaps 28/29, endpoint +14/+31.
SESSION_OFFSETS = st.sampled_from([0, 0, 1, 7, 14, 27, 28, 29, 30, 56, 57, 85, 120])
SCORE_OFFSETS = st.sampled_from([-31, -30, -29, -1, 0, 1, 6, 7, 8, 13, 14, 15, 28, 29, 31, 42, 43, 45, 50,
                                 56, 59, 60, 70, 86, 88, 99, 100, 116, 130, 160, 200])
SCORE = st.tuples(SCORE_OFFSETS, st.sampled_from([0.0, 1.0, 4.0, 5.0, 9.0, 10.0, 12.0, 20.0, 27.0]),
                  st.one_of(st.none(), st.integers(0, 3)))
PATIENT = st.tuples(st.lists(SESSION_OFFSETS, max_size=7), st.lists(SCORE, max_size=10))
DEFINITIONS = st.sampled_from([
    DEFAULT_DEFINITIONS,
    DEFAULT_DEFINITIONS.with_endpoint(30, 30),
    DEFAULT_DEFINITIONS.with_endpoint(0, 14),
    DEFAULT_DEFINITIONS.with_endpoint(14, 60),
])
AS_OF = st.sampled_from([D0 + timedelta(days=d) for d in (0, 40, 45, 61, 90, 400)])


def _cohort(patients):
    inputs = []
    for pid, (sessions, scores) in enumerate(patients, start=1):
        ordered = sorted(scores, key=lambda s: s[0])  # completion order: days never go back
        inputs.append(PatientInput(pid * 3, tuple(D0 + timedelta(days=d) for d in sessions),
                                   tuple(Score(D0 + timedelta(days=d), t, i9) for d, t, i9 in ordered)))
    return inputs


def _arrays(inputs):
    sessions = [(p.patient_id, day_number(d)) for p in inputs for d in p.session_days]
    scores = [(p.patient_id, s) for p in inputs for s in p.scores]
    return (
        np.array([p for p, _ in sessions], np.int64), np.array([d for _, d in sessions], np.int64),
        Scores(np.array([p for p, _ in scores], np.int64), np.array([day_number(s.day) for _, s in scores], np.int64),
               np.array([s.total for _, s in scores], float),
               np.array([np.nan if s.item9 is None else s.item9 for _, s in scores], float)),
    )


@settings(max_examples=examples(300))
@given(patients=st.lists(PATIENT, max_size=8), definitions=DEFINITIONS, as_of=AS_OF,
       instrument=st.sampled_from(["phq9", "gad7"]))
def test_the_array_selection_equals_the_reference_patient_by_patient(patients, definitions, as_of, instrument):
    inputs = _cohort(patients)
    session_patient, session_day, scores = _arrays(inputs)
    selection = select(session_patient, session_day, scores, instrument, as_of=as_of, definitions=definitions)
    expected = [o for o in (patient_outcome(p, instrument, as_of=as_of, definitions=definitions) for p in inputs)
                if o is not None]
    assert list(selection.outcomes()) == expected
    # The summary of the arrays equals the loop over the reference's outcomes, and
    # `summarise` (the outcomes turned into arrays) gives the same.
    reference = reference_summarise(instrument, expected, definitions=definitions)
    assert_same_summary(summarise_selection(selection, definitions=definitions), reference)
    assert_same_summary(summarise(instrument, expected, definitions=definitions), reference)


def assert_same_summary(got, expected):
    """Equal field by field, except that the trajectory's means and intervals, summed per
    distinct (session, total) rather than patient by patient (ADR 0093), may differ from
    the oracle's in the last bits: equal to 12 significant digits (the report shows 2)."""
    assert [(p.label, p.n) for p in got.trajectory] == [(p.label, p.n) for p in expected.trajectory]
    for mine, theirs in zip(got.trajectory, expected.trajectory, strict=True):
        assert (mine.mean is None) == (theirs.mean is None)
        assert (mine.ci is None) == (theirs.ci is None)
        if mine.mean is not None:
            assert mine.mean == pytest.approx(theirs.mean, rel=1e-12, abs=1e-12)
        if mine.ci is not None:
            assert (mine.ci.low, mine.ci.high) == pytest.approx((theirs.ci.low, theirs.ci.high), rel=1e-12, abs=1e-12)
    assert dataclasses.replace(got, trajectory=[]) == dataclasses.replace(expected, trajectory=[])


def test_sessions_in_any_order_and_a_patient_without_sessions():
    inputs = [PatientInput(5, (D0 + timedelta(days=7), D0), (Score(D0, 20.0, 1), Score(D0 + timedelta(days=25), 8.0, 0))),
              PatientInput(2, (), (Score(D0, 20.0, 1),))]
    session_patient, session_day, scores = _arrays(inputs)
    selection = select(session_patient, session_day, scores, "phq9", as_of=D0 + timedelta(days=100))
    (outcome,) = selection.outcomes()
    assert outcome.patient_id == 5
    assert outcome.induction == (D0, D0 + timedelta(days=7))
    assert (outcome.baseline.total, outcome.endpoint.total) == (20.0, 8.0)
    assert outcome.analysed


def _chunks(session_patient, session_day, scores, size):
    """The cohort cut into chunks of `size` whole patients, as the database reader cuts it."""
    for low, high in patient_ranges(np.unique(session_patient), size):
        sessions = (session_patient >= low) & (session_patient <= high)
        yield (session_patient[sessions], session_day[sessions],
               scores.take(np.flatnonzero((scores.patient >= low) & (scores.patient <= high))))


@settings(max_examples=examples(200))
@given(patients=st.lists(PATIENT, max_size=12), definitions=DEFINITIONS, as_of=AS_OF,
       instrument=st.sampled_from(["phq9", "gad7"]), band=st.sampled_from(["", "mild", "severe"]))
def test_chunk_boundaries_do_not_change_the_result(patients, definitions, as_of, instrument, band):
    inputs = _cohort(patients)
    session_patient, session_day, scores = _arrays(inputs)
    whole = reduce(select(session_patient, session_day, scores, instrument, as_of=as_of, definitions=definitions),
                   definitions=definitions)
    expected = summarise_reduced(whole, definitions=definitions)
    # One chunk through reduce_chunks equals the selection's summary over all patients at once.
    assert expected == summarise_selection(
        select(session_patient, session_day, scores, instrument, as_of=as_of, definitions=definitions),
        definitions=definitions)
    banded = band and band in {b.id for b in get_instrument(instrument).bands}
    for size in (1, 2, 7, max(len(inputs), 1)):
        parts = list(reduce_chunks(_chunks(session_patient, session_day, scores, size), instrument, as_of=as_of,
                                   definitions=definitions))
        # Folded chunk by chunk: the same counts and pairs as the whole at once, so the same summary.
        chunked = Tally.of(instrument, parts)
        assert chunked == Tally.of(instrument, [whole])
        assert chunked.summary(definitions) == expected
        if banded:  # the band filter applied to each chunk as it comes
            assert (Tally.of(instrument, (p.subset(in_baseline_band(p, band)) for p in parts)).summary(definitions)
                    == summarise_reduced(whole.subset(in_baseline_band(whole, band)), definitions=definitions))


def test_chunks_out_of_patient_order_are_refused():
    inputs = _cohort([([0], [(0, 10.0, None)]), ([0], [(0, 12.0, None)])])
    session_patient, session_day, scores = _arrays(inputs)
    backwards = list(_chunks(session_patient, session_day, scores, 1))[::-1]
    with pytest.raises(ValueError, match="ascending"):
        Tally.of("phq9", reduce_chunks(backwards, "phq9", as_of=D0))
