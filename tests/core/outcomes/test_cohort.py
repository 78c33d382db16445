"""Cohort statistics: a hand-computed four-patient cohort, a seeded synthetic cohort
whose true rates are known by construction, and the disclosure rule."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core.outcomes import (
    DEFAULT_DEFINITIONS,
    ExclusionReason,
    PatientInput,
    Score,
    patient_outcome,
    stats,
    summarise,
    suppress_count,
)

D0 = date(2026, 1, 5)
AS_OF = date(2027, 1, 1)


def _input(pid, baseline, endpoint, *, sessions=(0, 3, 7, 10), endpoint_day=None, item9=(None, None), later=()):
    last = sessions[-1]
    scores = []
    if baseline is not None:
        scores.append(Score(D0, baseline, item9[0]))
    if endpoint is not None:
        scores.append(Score(D0 + timedelta(days=endpoint_day if endpoint_day is not None else last + 20), endpoint, item9[1]))
    scores += [Score(D0 + timedelta(days=last + 20 + d), t) for d, t in later]
    return PatientInput(pid, tuple(D0 + timedelta(days=s) for s in sessions), tuple(scores))


def _summary(inputs, instrument="phq9", **kwargs):
    outcomes = [patient_outcome(p, instrument, as_of=AS_OF) for p in inputs]
    return summarise(instrument, [o for o in outcomes if o is not None], **kwargs)


# Baselines 20, 16, 12, 18 and endpoints 10, 10, 3, 25, worked by hand:
# baseline mean 16.5, SD sqrt(35/3) = 3.41565; endpoint mean 12; mean change -4.5.
# d = 4.5 / 3.41565 = 1.31747. Improvements 10, 6, 9, -7: mean 4.5, SD sqrt(185/3) =
# 7.85281, d_z = 0.573044. Paired t = -4.5 / (7.85281 / 2) = -1.14608 on 3 df.
# Response: 20->10 (exactly 50 %) and 12->3; remission (< 5): 12->3; deterioration
# (>= 6 up): 18->25. Wilcoxon: |differences| 10, 6, 9, 7 rank 4, 1, 3, 2; W+ = 2, and
# exactly 3 of the 16 sign patterns give W+ <= 2, so the two-sided exact p = 6/16.
HAND = [(20, 10), (16, 10), (12, 3), (18, 25)]


def test_hand_computed_cohort():
    s = _summary([_input(i, b, e) for i, (b, e) in enumerate(HAND)])
    out = s.to_dict(suppress=False)
    assert (out["n_enrolled"], out["n_with_baseline"], out["n_with_endpoint"], out["n_analysed"]) == (4, 4, 4, 4)
    assert out["baseline_mean"] == 16.5
    assert out["baseline_sd"] == pytest.approx(math.sqrt(35 / 3), abs=0.005)
    assert out["endpoint_mean"] == 12
    assert out["mean_change"] == -4.5
    assert s.stat("cohens_d") == pytest.approx(4.5 / math.sqrt(35 / 3))
    assert s.stat("cohens_d") == pytest.approx(1.31747, abs=1e-5)
    assert s.stat("cohens_dz") == pytest.approx(0.573044, abs=1e-6)
    assert (out["response_pct"], out["remission_pct"], out["deteriorated_pct"]) == (50.0, 25.0, 25.0)
    assert s.stat("wilcoxon_p") == pytest.approx(6 / 16)
    # t distribution with 3 df in closed form: F(t) = 1/2 + (1/pi)(t/(sqrt3 (1 + t^2/3)) + atan(t/sqrt3)).
    t = -4.5 / (math.sqrt(185 / 3) / 2)
    cdf = 0.5 + (t / (math.sqrt(3) * (1 + t * t / 3)) + math.atan(t / math.sqrt(3))) / math.pi
    assert s.stat("t_test_p") == pytest.approx(2 * cdf)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = random.Random(3)
    pairs = [(b, max(0, b - rng.randint(-3, 14))) for b in (rng.randint(10, 27) for _ in range(60))]
    first = _summary([_input(i, b, e) for i, (b, e) in enumerate(pairs)])
    again = _summary([_input(i, b, e) for i, (b, e) in enumerate(pairs)])
    ci = first.stat("cohens_d_ci")
    assert ci == again.stat("cohens_d_ci")
    assert ci.low < first.stat("cohens_d") < ci.high
    dz = first.stat("cohens_dz_ci")
    assert dz.low < first.stat("cohens_dz") < dz.high


def test_exclusions_by_reason_and_the_flow():
    inputs = [
        _input(1, 20, 8),
        _input(2, None, 8),  # no baseline
        _input(3, 20, None),  # no endpoint
        _input(4, 20, 8, endpoint_day=10 + 35),  # endpoint outside the window
        _input(5, 0, 0),  # baseline 0
    ]
    s = _summary(inputs)
    assert s.exclusions[ExclusionReason.NO_BASELINE] == 1
    assert s.exclusions[ExclusionReason.NO_ENDPOINT] == 2
    assert s.exclusions[ExclusionReason.BASELINE_ZERO] == 1
    assert (s.n_enrolled, s.n_with_baseline, s.n_with_endpoint, s.n_analysed) == (5, 4, 2, 1)


def test_an_empty_cohort_says_why_and_divides_by_nothing():
    s = _summary([])
    out = s.to_dict(suppress=False)
    assert out["n_analysed"] == 0
    assert out["response_pct"] is None
    assert out["cohens_d"] is None
    assert out["why_empty"] == "No patient matching the filters had a held dosing session."
    s = _summary([_input(1, None, 8), _input(2, None, 9), _input(3, 20, None)])
    out = s.to_dict(suppress=True)
    assert "none of the 3 enrolled patients" in out["why_empty"].lower()
    assert "no score in the 30 days up to the first session" in out["why_empty"].lower()


def synthetic_cohort(seed: int):
    """A cohort whose truth is known by construction: 60 remitters (also responders), 40
    responders who do not remit, 80 non-responders, 20 who deteriorate, plus patients
    who must be excluded and distracting scores outside every window."""
    rng = random.Random(seed)
    patients, pid = [], 0

    def add(baseline, endpoint, *, with_baseline=True, with_endpoint=True):
        nonlocal pid
        pid += 1
        n_sessions = rng.randint(4, 8)
        span = rng.randint(7, 28)
        offsets = sorted({0, span} | {rng.randint(0, span) for _ in range(n_sessions - 2)})
        last = offsets[-1]
        scores = [Score(D0 - timedelta(days=45), 27)]  # outside the baseline window
        if with_baseline:
            scores.append(Score(D0 - timedelta(days=rng.randint(0, 30)), baseline))
        if with_endpoint:
            scores.append(Score(D0 + timedelta(days=last + rng.randint(14, 31)), endpoint))
        scores.append(Score(D0 + timedelta(days=last + 60), 27))  # after the window
        scores.sort(key=lambda s: s.day)
        patients.append(PatientInput(pid, tuple(D0 + timedelta(days=o) for o in offsets), tuple(scores)))

    for _ in range(60):  # remission (< 5) and response
        b = rng.randint(10, 27)
        add(b, rng.randint(0, min(4, b // 2)))
    for _ in range(40):  # response without remission: 5 <= e <= b/2
        b = rng.randint(10, 27)
        add(b, rng.randint(5, b // 2))
    for _ in range(80):  # neither, and not deteriorated: b/2 < e < b + 6
        b = rng.randint(10, 20)
        add(b, rng.randint(b // 2 + 1, b + 5))
    for _ in range(20):  # deterioration: e >= b + 6
        b = rng.randint(5, 18)
        add(b, rng.randint(b + 6, 27))
    for _ in range(15):
        add(20, 3, with_baseline=False)
    for _ in range(10):
        add(20, 3, with_endpoint=False)
    rng.shuffle(patients)
    return patients


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_cohort_reproduces_the_true_rates_exactly(seed):
    s = _summary(synthetic_cohort(seed))
    out = s.to_dict(suppress=False)
    assert (out["n_enrolled"], out["n_with_baseline"], out["n_with_endpoint"], out["n_analysed"]) == (225, 210, 200, 200)
    assert out["response_pct"] == 50.0  # 100 / 200
    assert out["remission_pct"] == 30.0  # 60 / 200
    assert out["deteriorated_pct"] == 10.0  # 20 / 200
    bands = {row["band"]: row for row in out["by_baseline_band"]}
    assert sum(row["n"] for row in bands.values()) == 200


def test_response_and_remission_by_baseline_band():
    # Two moderate (10-14) patients, one responds; one severe (20-27), remits.
    s = _summary([_input(1, 12, 6), _input(2, 14, 12), _input(3, 24, 2)])
    bands = {row["band"]: row for row in s.to_dict(suppress=False)["by_baseline_band"]}
    assert bands["moderate"] == {"band": "moderate", "label": "Moderate", "n": 2, "response_pct": 50.0, "remission_pct": 0.0}
    assert bands["severe"]["response_pct"] == 100.0
    assert bands["severe"]["remission_pct"] == 100.0
    assert bands["mild"]["n"] == 0
    assert bands["mild"]["response_pct"] is None


def test_suicidal_ideation_change_among_those_with_item9_above_zero():
    inputs = [
        _input(1, 20, 5, item9=(2, 0)),  # resolved (and reduced)
        _input(2, 20, 15, item9=(3, 1)),  # reduced
        _input(3, 20, 18, item9=(1, 1)),  # unchanged
        _input(4, 15, 14, item9=(0, 1)),  # no SI at baseline; increased
    ]
    si = _summary(inputs).to_dict(suppress=False)["suicidal_ideation"]
    assert si["n_with_si_at_baseline"] == 3
    assert si["reduced_pct"] == pytest.approx(66.7)
    assert si["resolved_pct"] == pytest.approx(33.3)
    assert si["increased_pct"] == 25.0  # 1 of the 4 analysed
    assert _summary([_input(1, 10, 5)], instrument="gad7").suicidal_ideation is None


def test_durability_kaplan_meier_of_loss_of_response():
    # Three responders from baseline 20: A loses response 30 days after the endpoint,
    # B is still responding when last seen 60 days after, C loses it at 12 days (all
    # later scores fall after the endpoint window, so the endpoint stays put).
    inputs = [
        _input(1, 20, 8, later=[(15, 9), (30, 15)]),
        _input(2, 20, 8, later=[(30, 9), (60, 10)]),
        _input(3, 20, 8, later=[(12, 12)]),
        _input(4, 20, 18, later=[(12, 3)]),  # not a responder at endpoint: not followed
    ]
    out = _summary(inputs).to_dict(suppress=False)["durability"]
    assert out["n_responders_followed"] == 3
    assert out["losses_of_response"] == 2
    # KM by hand: at 12 days 1 of 3 lost -> 2/3; at 30 days 1 of 2 at risk lost -> 1/3.
    assert out["still_responding"]["day_28"] == pytest.approx(2 / 3, abs=1e-3)
    assert out["still_responding"]["day_56"] == pytest.approx(1 / 3, abs=1e-3)


def test_trajectory_by_session_number():
    inputs = [
        PatientInput(i, (D0, D0 + timedelta(days=7)),
                     (Score(D0, b), Score(D0 + timedelta(days=7), m), Score(D0 + timedelta(days=25), e)))
        for i, (b, m, e) in enumerate([(20, 14, 8), (22, 16, 10)])
    ]
    traj = _summary(inputs).to_dict(suppress=False)["trajectory"]
    assert [(p["label"], p["n"], p["mean"]) for p in traj] == [
        ("Baseline", 2, 21.0), ("Before session 2", 2, 15.0), ("Endpoint", 2, 9.0)
    ]


def test_instrument_without_remission_or_reliable_change():
    out = _summary([_input(1, 40, 10), _input(2, 30, 20)], instrument="cadss").to_dict(suppress=False)
    assert out["remission_pct"] is None
    assert out["deteriorated_pct"] is None
    assert out["response_pct"] == 50.0


# --- the disclosure rule (OpenSAFELY) ----------------------------------------------------


@pytest.mark.parametrize(("n", "shown"), [(0, 0), (1, "≤7"), (7, "≤7"), (8, 10), (12, 10), (13, 15), (100, 100), (102, 100), (103, 105)])
def test_suppression_examples(n, shown):
    assert suppress_count(n) == shown


@given(st.integers(min_value=0, max_value=10**7))
def test_suppression_never_shows_a_small_count_and_stays_close(n):
    shown = suppress_count(n)
    if 1 <= n <= 7:
        assert shown == "≤7"
    else:
        assert shown % 5 == 0
        assert abs(shown - n) <= 2


def test_suppressed_report_hides_small_counts_and_their_statistics():
    s = _summary([_input(i, b, e) for i, (b, e) in enumerate(HAND)])
    out = s.to_dict(suppress=True)
    assert out["n_analysed"] == "≤7"
    assert out["n_enrolled"] == "≤7"
    assert out["baseline_mean"] is None
    assert out["cohens_d"] is None
    assert out["response_pct"] is None
    assert out["suppression_rule"].startswith("Counts of 1–7")
    big = _summary(synthetic_cohort(1)).to_dict(suppress=True)
    assert big["n_enrolled"] == 225
    assert big["n_analysed"] == 200
    assert big["response_pct"] == 50.0
    assert big["baseline_mean"] is not None


def test_wilson_interval_worked_example():
    # Newcombe 1998 (Stat Med 17:857), example: 81/263 -> 0.2553 to 0.3662.
    ci = stats.wilson(81, 263)
    assert ci.low == pytest.approx(25.53, abs=0.01)
    assert ci.high == pytest.approx(36.62, abs=0.01)


def test_definitions_travel_with_every_summary():
    out = _summary([_input(1, 20, 8)]).to_dict(suppress=False)
    assert out["definitions"]["parameters"] == {
        "series_gap_days": 28, "baseline_window_days": 30, "endpoint_from_days": 14, "endpoint_to_days": 31,
        "response_reduction_percent": 50, "bootstrap_resamples": 2000, "bootstrap_seed": 20260101, "confidence": 0.95,
    }
    assert DEFAULT_DEFINITIONS.describe("phq9") == out["definitions"]


def test_bootstrap_by_distinct_pairs_agrees_with_drawing_patients():
    """Integer totals are resampled as counts of each distinct (baseline, endpoint) pair;
    the same totals moved by 1e-9 are all distinct and are drawn patient by patient. Both
    estimate the same bootstrap distribution: the intervals agree to Monte-Carlo error
    (about 0.004 here), far inside 0.03."""
    rng = random.Random(7)
    baseline = [float(rng.randint(10, 27)) for _ in range(2000)]
    endpoint = [max(0.0, b - rng.randint(-3, 14)) for b in baseline]
    jittered = [b + 1e-9 * i for i, b in enumerate(baseline)]
    grouped = stats.bootstrap_d_ci(baseline, endpoint, resamples=4000, seed=1)
    drawn = stats.bootstrap_d_ci(jittered, endpoint, resamples=4000, seed=1)
    for a, b in zip(grouped, drawn, strict=True):
        assert a is not None
        assert b is not None
        assert a != b  # two different ways of drawing
        assert abs(a.low - b.low) < 0.03
        assert abs(a.high - b.high) < 0.03


DURATIONS = st.lists(st.tuples(st.integers(0, 60).map(float), st.booleans()), min_size=1, max_size=60)


@given(DURATIONS)
def test_kaplan_meier_of_counts_equals_the_patients_one_by_one(followed):
    """The cohort keeps one count per distinct (days, lost) (ADR 0093): lifelines given
    those counts as weights draws the same curve, exactly, as given every patient."""
    counts: dict[tuple[float, bool], int] = {}
    for key in followed:
        counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts)
    by_patient = stats.kaplan_meier([d for d, _ in followed], [e for _, e in followed], at_days=(28, 56))
    by_count = stats.kaplan_meier([d for d, _ in keys], [e for _, e in keys], at_days=(28, 56),
                                  counts=[counts[k] for k in keys])
    assert by_count == by_patient


@given(st.lists(st.integers(0, 80).map(float), min_size=1, max_size=200))
def test_mean_and_interval_of_counts_equal_those_of_the_values(values):
    """The trajectory's mean from counts of each distinct total is the values' mean exactly
    (whole totals sum exactly); its interval equals to rounding."""
    distinct = sorted(set(values))
    mean, ci = stats.mean_ci_of_counts(distinct, [values.count(v) for v in distinct])
    assert mean == stats.mean_sd(values)[0]
    expected = stats.mean_ci(values)
    if expected is None:
        assert ci is None
    else:
        assert (ci.low, ci.high) == pytest.approx((expected.low, expected.high), rel=1e-12, abs=1e-12)


@given(st.lists(st.tuples(st.sampled_from([0.0, -0.0, 1.0, 2.5, 27.0, 1e-9]), st.sampled_from([0.0, 3.0, 27.0, -1.0])),
                max_size=50))
def test_distinct_pairs_are_numpy_s_unique_rows(rows):
    """The bootstrap's categories: the same pairs, order and counts as np.unique(axis=0),
    which decides the multinomial's draws, so the intervals are unchanged."""
    import numpy as np

    b = np.array([x for x, _ in rows], float)
    e = np.array([y for _, y in rows], float)
    pairs, counts = stats.distinct_pairs(b, e)
    expected_pairs, expected_counts = np.unique(np.stack([b, e], axis=1).reshape(-1, 2), axis=0, return_counts=True)
    assert pairs.tolist() == expected_pairs.tolist()
    assert counts.tolist() == expected_counts.tolist()
