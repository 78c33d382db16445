"""IV curves against PyTCI 1.2.0, an independent implementation (exact integrator).

Same parameters (taken from our rate matrix, so population-scaled individuals
are covered too), same infusion, every second for 6 h.
"""

from __future__ import annotations

import numpy as np
import pytest
from PyTCI.models.base import Three

from openkap.core.pk.engine import LinearModel, solve
from openkap.core.pk.models import Regimen, build, parameter_sets, sample

SECONDS = 6 * 3600
TOLERANCE = 1e-6


class _Ketamine(Three):  # type: ignore[misc]
    """A PyTCI three-compartment model with the given micro-constants (per minute)."""

    def __init__(self, v1: float, k10: float, k12: float, k13: float, k21: float, k31: float):
        self.v1, self.k10, self.k12, self.k13, self.k21, self.k31 = v1, k10, k12, k13, k21, k31
        self.keo = 0.0
        self.setup()
        self.set_integrator("exact")


def _pytci_model(model: LinearModel, p: int) -> _Ketamine:
    a = model.rates[p]
    k12 = a[1, 0]
    k21 = a[0, 1]
    k13 = a[2, 0] if a.shape[0] > 2 else 0.0
    k31 = a[0, 2] if a.shape[0] > 2 else 0.0
    k10 = -a[0, 0] - k12 - k13
    v1 = 1000.0 / model.outputs[p, 0, 0]
    return _Ketamine(v1, k10, k12, k13, k21, k31)


def _pytci_curve(tci: _Ketamine, dose_mg: float, infusion_s: int) -> np.ndarray:
    """Plasma concentration (ng/mL) at every second, t = 0 .. SECONDS."""
    curve = np.empty(SECONDS + 1)
    if infusion_s == 0:
        tci.give_drug(dose_mg)
    curve[0] = tci.x1
    rate = dose_mg / infusion_s if infusion_s else 0.0
    for t in range(1, SECONDS + 1):
        if t <= infusion_s:
            tci.giveoverseconds(rate, 1)
        else:
            tci.wait_time(1)
        curve[t] = tci.x1
    return curve * 1000.0  # mg/L -> ng/mL


@pytest.mark.parametrize("disposition", ["clements", "domino", "joint"])
@pytest.mark.parametrize("infusion_min", [40.0, 0.0])
def test_iv_curve_matches_pytci(disposition: str, infusion_min: float) -> None:
    regimen = Regimen(
        route="iv",
        doses=((0.0, 35.0),),
        weight_kg=70.0,
        infusion_min=infusion_min,
        disposition=disposition,
    )
    # Patient 0 is the typical individual; 1 and 2 carry random effects.
    values = sample(parameter_sets(regimen), 3, np.random.default_rng(7))
    for name, v in values["racemic-iiv"].items():
        values["racemic-iiv"][name] = np.concatenate([[1.0], v[1:]])
    built = build(regimen, values)
    ours = solve(built.model, built.inputs, step_min=1 / 60, n_steps=SECONDS).conc[0]

    worst = 0.0
    for p in range(3):
        theirs = _pytci_curve(_pytci_model(built.model, p), 35.0, round(infusion_min * 60))
        positive = theirs > 0
        assert np.array_equal(positive, ours[:, p] > 0)
        worst = max(worst, float(np.max(np.abs(ours[positive, p] / theirs[positive] - 1.0))))
    print(
        f"\nPyTCI {disposition} infusion {infusion_min:g} min: max relative difference {worst:.2e}"
    )
    assert worst <= TOLERANCE
