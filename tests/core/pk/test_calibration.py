"""Every parameter marked calibrated=True is re-derived here (or, if jointly fitted, in test_fit.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq

from openkap.core.pk import params
from openkap.core.pk.engine import solve
from openkap.core.pk.fit import FITTED
from openkap.core.pk.models import Regimen, Saliva, build, parameter_sets, sample
from openkap.core.pk.params import IM_ABSORPTION, ParameterSet


def _typical_tmax(regimen: Regimen, set_key: str, name: str, value: float) -> float:
    values = sample(parameter_sets(regimen), 1, None)
    values[set_key][name] = np.array([value])
    built = build(regimen, values)
    return float(solve(built.model, built.inputs, step_min=1 / 60, n_steps=4 * 3600).tmax_min[0, 0])


CASES = [
    # (parameter set, name, route, disposition, saliva, target Tmax min, bracket)
    (IM_ABSORPTION, "ka", "im", "joint", "swallow", 10.0, (0.01, 0.045)),
]


@pytest.mark.parametrize(
    ("pset", "name", "route", "disposition", "saliva", "target", "bracket"), CASES
)
def test_calibrated_absorption_rate_reproduces_its_tmax(
    pset: ParameterSet,
    name: str,
    route: str,
    disposition: str,
    saliva: Saliva,
    target: float,
    bracket: tuple[float, float],
) -> None:
    regimen = Regimen(
        route=route,
        doses=((0.0, 25.0),),
        weight_kg=70.0,  # type: ignore[arg-type]
        disposition=disposition,
        saliva=saliva,
    )
    param = pset.params[name]
    assert param.calibrated
    fitted = brentq(
        lambda k: _typical_tmax(regimen, pset.key, name, k) - target, *bracket, xtol=1e-9
    )
    assert param.value == pytest.approx(fitted, rel=1e-3)
    assert _typical_tmax(regimen, pset.key, name, param.value) == pytest.approx(target, abs=0.1)


def test_every_calibrated_parameter_is_covered_and_says_what_it_was_fitted_to() -> None:
    # Jointly fitted parameters are re-fitted in test_fit.py.
    fitted = {tuple(key.split(".")) for key in json.loads(FITTED.read_text())["parameters"]}
    covered = {(pset.key, name) for pset, name, *_ in CASES} | fitted
    all_sets = [v for v in vars(params).values() if isinstance(v, ParameterSet)]
    calibrated = {
        (pset.key, name): p for pset in all_sets for name, p in pset.params.items() if p.calibrated
    }
    assert set(calibrated) == covered
    assert all(p.note for p in calibrated.values())
