"""Experience versus outcome (the seeds' hypothesis, Dore 2019): is a stronger acute
experience in the induction (MEQ-30, CADSS/CADSS-6, EBI) associated with a larger
improvement at endpoint? Spearman's rho with a Fisher-z interval, responders against
non-responders, and a logistic regression of response on the experience adjusted for
baseline severity and route (statsmodels). Observational: association, not cause."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# scipy.stats is imported where it is used (see stats.py).

CAUTION = (
    "Observational data from routine care: an association here does not show that the "
    "experience caused the improvement (expectation, dose, diagnosis and who completed the "
    "questionnaires can all explain it). Read it with its n and its interval."
)
MIN_N = 10  # fewer patients: no statistics, only the count


@dataclass(frozen=True, slots=True)
class ExperienceCase:
    experience: float  # the patient's mean total over the induction
    percent_change: float  # at endpoint; negative = improvement
    responded: bool
    baseline: float
    route: str
    complete_mystical: bool | None = None  # MEQ-30 only: any induction session met it


def _sig(p: float) -> float:
    return float(f"{p:.4g}")  # small p-values keep their digits


def spearman(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict[str, Any] | None:
    """Spearman's rho, its p-value, and a Fisher-z interval with Bonett & Wright's (2000)
    variance 1.06 / (n - 3) for rank correlations."""
    from scipy import stats as sps
    n = len(x)
    if n < 4 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    result = sps.spearmanr(x, y)
    rho, p = float(result.statistic), float(result.pvalue)
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = float(sps.norm.ppf(0.5 + confidence / 2)) * math.sqrt(1.06 / (n - 3))
    return {"rho": round(rho, 3), "ci": [round(math.tanh(z - half), 3), round(math.tanh(z + half), 3)],
            "p": _sig(p), "n": n}


def _group(values: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=float)
    return {"n": len(arr), "mean": round(float(arr.mean()), 2) if len(arr) else None,
            "sd": round(float(arr.std(ddof=1)), 2) if len(arr) > 1 else None}


def logistic(cases: Sequence[ExperienceCase]) -> dict[str, Any]:
    """Response ~ experience (per SD) + baseline + route; odds ratios with Wald 95% CIs."""
    import statsmodels.api as sm  # imported on use: it is slow to import
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    y = np.array([c.responded for c in cases], dtype=float)
    if y.min() == y.max():
        return {"fitted": False, "why": "Everyone (or no one) responded: nothing to explain."}
    exp = np.array([c.experience for c in cases], dtype=float)
    sd = exp.std(ddof=1)
    if sd == 0:
        return {"fitted": False, "why": "The experience score does not vary."}
    columns = [(exp - exp.mean()) / sd]
    names = ["experience_per_sd"]
    baseline = np.array([c.baseline for c in cases], dtype=float)
    if baseline.std() > 0:  # a constant baseline would duplicate the intercept
        columns.append(baseline)
        names.append("baseline")
    routes = sorted({c.route for c in cases})
    for route in routes[1:]:  # the first route is the reference
        columns.append(np.array([c.route == route for c in cases], dtype=float))
        names.append(f"route={route}")
    x = sm.add_constant(np.column_stack(columns), has_constant="add")
    import warnings

    refused = {"fitted": False, "why": "The model could not be fitted: the experience (or another term) "
               "separates responders from non-responders perfectly, or the terms are collinear."}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = sm.Logit(y, x).fit(disp=0, maxiter=100)
    except (PerfectSeparationError, PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError):
        return refused
    conf = fit.conf_int()
    if not (np.all(np.isfinite(conf)) and np.all(np.abs(conf) < 50)):
        return refused  # odds ratios beyond e^50: a separated fit, not an estimate
    return {
        "fitted": True,
        "n": len(cases),
        "reference_route": routes[0],
        "terms": [
            {"term": name, "odds_ratio": round(math.exp(fit.params[i + 1]), 3),
             "ci": [round(math.exp(conf[i + 1][0]), 3), round(math.exp(conf[i + 1][1]), 3)],
             "p": _sig(float(fit.pvalues[i + 1]))}
            for i, name in enumerate(names)
        ],
    }


def analyse(measure: str, cases: Sequence[ExperienceCase]) -> dict[str, Any]:
    from scipy import stats as sps
    out: dict[str, Any] = {"measure": measure, "n": len(cases), "caution": CAUTION}
    if len(cases) < MIN_N:
        out["why"] = f"Fewer than {MIN_N} analysed patients have this measure from their induction."
        return out
    out["spearman_vs_percent_change"] = spearman([c.experience for c in cases], [c.percent_change for c in cases])
    out["responders"] = _group([c.experience for c in cases if c.responded])
    out["non_responders"] = _group([c.experience for c in cases if not c.responded])
    r = [c.experience for c in cases if c.responded]
    nr = [c.experience for c in cases if not c.responded]
    out["mann_whitney_p"] = _sig(float(sps.mannwhitneyu(r, nr).pvalue)) if r and nr else None
    out["logistic_regression"] = logistic(cases)
    flagged = [c for c in cases if c.complete_mystical is not None]
    if flagged:
        yes = [c for c in flagged if c.complete_mystical]
        no = [c for c in flagged if not c.complete_mystical]
        out["complete_mystical_experience"] = {
            "n_complete": len(yes), "n_not": len(no),
            "response_pct_complete": round(100 * sum(c.responded for c in yes) / len(yes), 1) if yes else None,
            "response_pct_not": round(100 * sum(c.responded for c in no) / len(no), 1) if no else None,
        }
    return out
