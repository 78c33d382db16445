"""A large cohort's statistics from the counts of its distinct (baseline, endpoint) pairs
(ADR 0105) equal the patient-by-patient ones: the means and the bootstrap's draws exactly,
the SDs, intervals and p-values to rounding; and a Tally that dropped its ordered pairs
gives the report the one that kept them gives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from openkap.core.outcomes import cohort as cohort_module
from openkap.core.outcomes import stats
from openkap.core.outcomes.arrays import ANALYSED
from openkap.core.outcomes.cohort import Reduced, Tally
from tests.profiles import examples

EXACT = ("baseline_mean", "endpoint_mean", "mean_change", "cohens_d_ci", "cohens_dz_ci")


def _summary(baseline: list[int], endpoint: list[int]):  # type: ignore[no-untyped-def]
    tally = Tally.of("phq9", [_reduced(np.array(baseline, float), np.array(endpoint, float))])
    return tally.summary()


def _reduced(b: np.ndarray, e: np.ndarray, first_id: int = 1) -> Reduced:
    n = len(b)
    empty, nothing = np.zeros(0, np.int64), np.zeros(0)
    return Reduced("phq9", np.arange(first_id, first_id + n), np.full(n, ANALYSED, np.int8), np.zeros(n, np.int64),
                   np.zeros(n, np.int64), b, e, np.full(n, np.nan), np.full(n, np.nan), empty, empty, nothing,
                   empty, nothing, np.zeros(0, bool))


def _close(a, b) -> bool:  # type: ignore[no-untyped-def]
    if a is None or b is None:
        return a is b
    if isinstance(a, stats.Interval):
        return _close(a.low, b.low) and _close(a.high, b.high)
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))


@settings(max_examples=examples(60), deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(8, 12), st.integers(0, 14)), min_size=2, max_size=400))
def test_statistics_from_counts_equal_the_patient_by_patient_ones(pairs):
    summary = _summary([b for b, _ in pairs], [e for _, e in pairs])
    by_patient = summary._compute()
    if len(summary.pairs.counts) * 8 > summary.pairs.n >= 3:  # drawn one by one: counts cannot
        with pytest.raises(ValueError, match="one by one"):
            summary._compute_from_counts()
        return
    from_counts = summary._compute_from_counts()
    for name, value in by_patient.items():
        if name in EXACT:
            assert from_counts[name] == value, name
        else:
            assert _close(from_counts[name], value), (name, from_counts[name], value)


@settings(max_examples=examples(60), deadline=None)
@given(diffs=st.lists(st.integers(-6, 6), min_size=2, max_size=300), baseline=st.integers(10, 20))
def test_wilcoxon_from_counts_is_scipy_s(diffs, baseline):
    b = np.full(len(diffs), float(baseline))
    e = b + np.array(diffs, float)
    got = stats.wilcoxon_p_of_pairs(stats.Pairs.of(b, e))
    if not np.any(e != b):
        assert got is None
        return
    assert _close(got, float(sps.wilcoxon(e - b).pvalue))


def test_a_large_tally_drops_its_ordered_pairs_and_reports_the_same(monkeypatch):
    """20,000 analysed patients in four chunks: past the limit the ordered pairs go (memory
    flat) and the report's numbers are those of the ordered pairs, to the digit shown."""
    rng = np.random.default_rng(7)
    b = rng.integers(10, 28, 20_000).astype(float)
    e = np.maximum(0, b - rng.integers(0, 20, 20_000)).astype(float)
    chunks = [_reduced(b[k:k + 5000], e[k:k + 5000], first_id=k + 1) for k in range(0, 20_000, 5000)]
    monkeypatch.setattr(cohort_module, "ORDERED_PAIRS", 0)  # past 8 x 28 x 28 pairs
    counted = Tally.of("phq9", chunks)
    assert not counted.ordered
    assert counted.baseline is None
    assert counted.pairs.total() == 20_000
    monkeypatch.setattr(cohort_module, "ORDERED_PAIRS", 10**9)
    kept = Tally.of("phq9", chunks)
    assert kept.ordered
    assert len(kept.baseline) == 20_000
    assert counted.summary().to_dict(suppress=False) == kept.summary().to_dict(suppress=False)
    assert counted.summary().to_dict(suppress=True) == kept.summary().to_dict(suppress=True)


def test_a_tally_with_totals_outside_whole_numbers_keeps_its_ordered_pairs():
    b = np.full(60_000, 20.5)
    e = np.full(60_000, 10.0)
    tally = Tally.of("phq9", [_reduced(b[k:k + 5000], e[k:k + 5000], first_id=k + 1) for k in range(0, 60_000, 5000)])
    assert tally.ordered
    assert len(tally.baseline) == 60_000
