"""Series, baseline, endpoint and exclusions on hand-built calendars."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from openkap.core.outcomes import (
    DEFAULT_DEFINITIONS,
    ExclusionReason,
    OutcomeDefinitions,
    PatientInput,
    Score,
    patient_outcome,
    split_series,
)

D0 = date(2026, 3, 2)
LATER = date(2027, 1, 1)


def days(*offsets: int) -> tuple[date, ...]:
    return tuple(D0 + timedelta(days=o) for o in offsets)


def test_series_split_on_a_gap_of_more_than_28_days():
    # 0 -> 7 -> 35 (28 days later: same series) -> 64 (29 days later: a new series)
    assert split_series(days(0, 7, 35, 64), gap_days=28) == [days(0, 7, 35), days(64)]


def test_series_sorted_whatever_the_input_order():
    assert split_series(days(7, 0), gap_days=28) == [days(0, 7)]
    assert split_series((), gap_days=28) == []


def _patient(sessions, scores):
    return PatientInput(1, days(*sessions), tuple(Score(D0 + timedelta(days=o), t) for o, t in scores))


def test_baseline_is_the_latest_score_within_30_days_up_to_the_first_session():
    # -31 is outside the window; -30 and 0 (the day of the first session) are inside.
    out = patient_outcome(_patient([0, 7], [(-31, 27), (-30, 20), (0, 18), (1, 2)]), "phq9", as_of=LATER)
    assert out.baseline.total == 18
    out = patient_outcome(_patient([0, 7], [(-31, 27), (-30, 20)]), "phq9", as_of=LATER)
    assert out.baseline.total == 20
    out = patient_outcome(_patient([0, 7], [(-31, 27)]), "phq9", as_of=LATER)
    assert out.baseline is None
    assert out.excluded is ExclusionReason.NO_BASELINE


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([13], None),  # a day too early
        ([14], 14),
        ([14, 31], 31),  # the latest in the window
        ([31, 32], 31),  # 32 days after is outside
        ([32], None),
    ],
)
def test_endpoint_is_the_latest_score_14_to_31_days_after_the_induction(offsets, expected):
    # Induction 0, 7, 14: the last session is day 14, so endpoint days are 28..45.
    scores = [(0, 20)] + [(14 + o, o) for o in offsets]
    out = patient_outcome(_patient([0, 7, 14], scores), "phq9", as_of=LATER)
    if expected is None:
        assert out.endpoint is None
        assert out.excluded is ExclusionReason.NO_ENDPOINT
    else:
        assert out.endpoint.total == expected
        assert out.excluded is None


def test_endpoint_follows_the_first_series_only():
    # A second series from day 60 does not move the endpoint: 14-31 days after day 7.
    out = patient_outcome(_patient([0, 7, 60, 67], [(0, 20), (25, 8), (80, 2)]), "phq9", as_of=LATER)
    assert out.induction == days(0, 7)
    assert out.endpoint.total == 8
    assert [s.total for s in out.later_scores] == [2]


def test_endpoint_window_still_open_is_its_own_exclusion():
    p = _patient([0, 7], [(0, 20), (22, 8)])
    # Window ends on day 38: on day 37 the patient is not yet countable.
    out = patient_outcome(p, "phq9", as_of=D0 + timedelta(days=37))
    assert out.excluded is ExclusionReason.ENDPOINT_WINDOW_OPEN
    assert out.endpoint is None
    assert patient_outcome(p, "phq9", as_of=D0 + timedelta(days=38)).excluded is None


def test_baseline_of_zero_is_excluded_because_percent_change_is_undefined():
    out = patient_outcome(_patient([0], [(0, 0), (20, 0)]), "phq9", as_of=LATER)
    assert out.excluded is ExclusionReason.BASELINE_ZERO


def test_no_session_means_not_enrolled():
    assert patient_outcome(_patient([], [(0, 20)]), "phq9", as_of=LATER) is None


def test_scores_before_each_session():
    out = patient_outcome(_patient([0, 7, 14], [(-3, 21), (0, 20), (5, 15), (7, 14), (10, 11)]), "phq9", as_of=LATER)
    # Before session 1: baseline (day 0); session 2: latest in days 1-7; session 3: days 8-14.
    assert [s.total for s in out.before_session] == [20, 14, 11]


def test_endpoint_window_is_configurable():
    defs = DEFAULT_DEFINITIONS.with_endpoint(7, 10)
    out = patient_outcome(_patient([0], [(0, 20), (9, 5), (20, 1)]), "phq9", as_of=LATER, definitions=defs)
    assert out.endpoint.total == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"endpoint_from_days": 20, "endpoint_to_days": 10}, {"series_gap_days": 0},
     {"response_reduction_percent": 0}, {"bootstrap_resamples": 10}, {"endpoint_to_days": 400}],
)
def test_nonsense_definitions_are_refused(kwargs):
    with pytest.raises(ValueError):  # noqa: PT011 - each message names its own rule
        OutcomeDefinitions(**kwargs)


def test_definitions_are_described_with_their_sources():
    text = DEFAULT_DEFINITIONS.describe("phq9")
    assert "30 days" in text["baseline"]
    assert "14–31 days" in text["endpoint"]
    assert "PHQ-9 below 5" in text["remission"]
    assert "6 points" in text["deterioration"]
    assert "No remission definition" in DEFAULT_DEFINITIONS.describe("cadss")["remission"]
