"""Experience versus outcome: finds an association that is built in, and no more false
signals than chance where there is none."""

from __future__ import annotations

import random

import pytest
from scipy import stats as sps

from openkap.core.outcomes.experience import CAUTION, ExperienceCase, analyse, spearman


def cohort(seed: int, *, associated: bool, n: int = 150):
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        pct = rng.uniform(-100, 20)
        baseline = rng.randint(10, 27)
        experience = (60 - 0.4 * pct + rng.gauss(0, 10)) if associated else rng.uniform(20, 100)
        cases.append(ExperienceCase(experience, pct, pct <= -50, baseline, rng.choice(["intramuscular", "iv_infusion"]),
                                    complete_mystical=experience >= 85))
    return cases


def test_built_in_association_is_found():
    out = analyse("MEQ-30", cohort(1, associated=True))
    rho = out["spearman_vs_percent_change"]
    assert rho["rho"] < -0.6
    assert rho["ci"][1] < 0
    assert rho["p"] < 1e-6
    assert out["responders"]["mean"] > out["non_responders"]["mean"]
    assert out["mann_whitney_p"] < 1e-6
    model = out["logistic_regression"]
    assert model["fitted"]
    experience = next(t for t in model["terms"] if t["term"] == "experience_per_sd")
    assert experience["odds_ratio"] > 2
    assert experience["ci"][0] > 1
    assert {t["term"] for t in model["terms"]} == {"experience_per_sd", "baseline", "route=iv_infusion"}
    cme = out["complete_mystical_experience"]
    assert cme["response_pct_complete"] > cme["response_pct_not"]
    assert out["caution"] == CAUTION


def test_no_association_gives_no_signal():
    out = analyse("CADSS", cohort(2, associated=False))
    rho = out["spearman_vs_percent_change"]
    assert rho["ci"][0] < 0 < rho["ci"][1]
    experience = next(t for t in out["logistic_regression"]["terms"] if t["term"] == "experience_per_sd")
    assert experience["ci"][0] < 1 < experience["ci"][1]


def test_false_positive_rate_is_that_of_chance():
    # 300 cohorts without an association: about 5% should reach p < 0.05, no more.
    hits = sum(
        spearman([c.experience for c in cs], [c.percent_change for c in cs])["p"] < 0.05
        for cs in (cohort(seed, associated=False, n=60) for seed in range(300))
    )
    assert 3 <= hits <= 30  # binomial(300, 0.05): mean 15, far outside 3-30 only by a fault


def test_spearman_interval_matches_fisher_z_by_hand():
    x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    y = [2, 1, 4, 3, 6, 5, 8, 7, 10, 9]
    out = spearman(x, y)
    # rho = 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 x 10 / 990 = 0.93939
    assert out["rho"] == pytest.approx(1 - 60 / 990, abs=1e-3)
    import math

    z, half = math.atanh(1 - 60 / 990), 1.959964 * math.sqrt(1.06 / 7)
    assert out["ci"] == pytest.approx([math.tanh(z - half), math.tanh(z + half)], abs=1e-3)
    assert out["p"] == pytest.approx(sps.spearmanr(x, y).pvalue, rel=1e-3)


def test_too_few_patients_or_nothing_to_explain():
    few = analyse("EBI", cohort(3, associated=True, n=5))
    assert few["n"] == 5
    assert "Fewer than 10" in few["why"]
    assert "spearman_vs_percent_change" not in few
    everyone = [ExperienceCase(float(i), -80.0, True, 20, "intramuscular") for i in range(20)]
    assert analyse("EBI", everyone)["logistic_regression"]["fitted"] is False
