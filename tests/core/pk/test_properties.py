"""Properties every linear PK model must have, over random doses, patients and routes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.pk.engine import Input, LinearModel, solve
from openkap.core.pk.models import ROUTES, Regimen, build, parameter_sets, sample
from openkap.core.pk.simulation import simulate
from tests.profiles import examples

RACEMIC = [r for r in ROUTES if r != "in-esketamine"]
doses = st.floats(min_value=1.0, max_value=300.0)
weights = st.floats(min_value=30.0, max_value=250.0)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
FAST = settings(max_examples=examples(60), deadline=None)


def _regimen(
    route: str,
    mg: float,
    weight: float,
    later: tuple[float, float] | None = None,
    **options: object,
) -> Regimen:
    if route == "in-esketamine":
        mg = 28.0 * max(1, round(mg / 28.0))
    doses_ = ((0.0, mg),) if later is None else ((0.0, mg), later)
    return Regimen(route=route, doses=doses_, weight_kg=weight, **options)  # type: ignore[arg-type]


def _solve(regimen: Regimen, seed: int, n: int = 4, scale: float = 1.0) -> np.ndarray:
    values = sample(parameter_sets(regimen), n, np.random.default_rng(seed))
    built = build(regimen, values)
    inputs = [
        Input(i.compartment, i.time_min, i.amount_mg * scale, i.duration_min) for i in built.inputs
    ]
    return solve(built.model, inputs, step_min=0.5, n_steps=480).conc


@FAST
@given(
    route=st.sampled_from(ROUTES),
    mg=doses,
    weight=weights,
    seed=seeds,
    population=st.integers(min_value=1, max_value=6),
    saliva=st.sampled_from(["swallow", "spit"]),
)
def test_concentration_is_never_negative(
    route: str, mg: float, weight: float, seed: int, population: int, saliva: str
) -> None:
    if route == "in-esketamine":
        mg = 28.0 * max(1, round(mg / 28.0))
    result = simulate(
        route=route,
        dose_mg=mg,
        weight_kg=weight,
        population=population,
        seed=seed,
        hours=8.0,
        step_s=60.0,
        keep_curves=True,
        saliva=saliva if route == "sublingual" else None,
    )
    for analyte in result.analytes:
        assert analyte.curves is not None
        assert np.all(analyte.curves >= 0.0)
        assert np.all(analyte.cmax_ng_ml > 0.0)


@FAST
@given(
    rates=st.lists(
        st.sampled_from([0.0, 0.01, 0.05, 0.05, 0.2, 1.0, 3.0]), min_size=16, max_size=16
    ),
    elimination=st.lists(st.sampled_from([0.001, 0.05, 0.2]), min_size=4, max_size=4),
)
def test_random_networks_with_repeated_rates_stay_non_negative(
    rates: list[float], elimination: list[float]
) -> None:
    # Repeated rate constants make the rate matrix defective: no eigenbasis exists.
    off = np.array(rates).reshape(4, 4)
    np.fill_diagonal(off, 0.0)
    a = off - np.diag(off.sum(axis=0) + np.array(elimination))
    model = LinearModel(a[None], np.eye(4)[None] * 1000.0)
    sol = solve(
        model,
        [Input(3, 0.0, np.array([1.0])), Input(1, 2.5, np.array([2.0]), 10.0)],
        step_min=1.0,
        n_steps=600,
    )
    assert np.all(sol.conc >= 0.0)
    assert np.all(np.isfinite(sol.auc_inf))


@FAST
@given(
    route=st.sampled_from(ROUTES),
    mg=doses,
    weight=weights,
    seed=seeds,
    factor=st.floats(min_value=0.01, max_value=10.0),
)
def test_concentration_is_linear_in_dose(
    route: str, mg: float, weight: float, seed: int, factor: float
) -> None:
    regimen = _regimen(route, mg, weight)
    base = _solve(regimen, seed)
    scaled = _solve(regimen, seed, scale=factor)
    np.testing.assert_allclose(scaled, factor * base, rtol=1e-9, atol=1e-12 * factor * base.max())
    if route != "in-esketamine":  # esketamine doses come in whole devices
        a = simulate(
            route=route,
            dose_mg=mg,
            weight_kg=weight,
            population=3,
            seed=seed,
            hours=4.0,
            step_s=60.0,
        )
        b = simulate(
            route=route,
            dose_mg=mg * factor,
            weight_kg=weight,
            population=3,
            seed=seed,
            hours=4.0,
            step_s=60.0,
        )
        np.testing.assert_allclose(b.parent.cmax_ng_ml, factor * a.parent.cmax_ng_ml, rtol=1e-9)


@FAST
@given(
    mg=doses,
    weight=weights,
    seed=seeds,
    infusion=st.sampled_from([0.0, 1.0, 40.0, 100.0]),
    disposition=st.sampled_from(["clements", "domino"]),
    hours=st.floats(0.5, 12.0),
)
def test_iv_auc_to_infinity_is_dose_over_clearance(
    mg: float, weight: float, seed: int, infusion: float, disposition: str, hours: float
) -> None:
    result = simulate(
        route="iv",
        dose_mg=mg,
        weight_kg=weight,
        infusion_min=infusion,
        disposition=disposition,
        population=5,
        seed=seed,
        hours=hours,
        step_s=60.0,
    )
    regimen = _regimen("iv", mg, weight, disposition=disposition)
    values = sample(parameter_sets(regimen), 5, np.random.default_rng(seed))
    d = values[disposition]
    clearance_l_min = d["k10"] * d["v1"] * weight * values["racemic-iiv"]["cl_factor"]
    expected_ng_h_ml = mg / clearance_l_min * 1000.0 / 60.0
    np.testing.assert_allclose(result.parent.auc_inf_ng_h_ml, expected_ng_h_ml, rtol=1e-6)


@FAST
@given(
    route=st.sampled_from(ROUTES),
    first=doses,
    second=doses,
    weight=weights,
    seed=seeds,
    when=st.floats(min_value=0.0, max_value=200.0),
)
def test_two_doses_superpose(
    route: str, first: float, second: float, weight: float, seed: int, when: float
) -> None:
    regimen = _regimen(route, first, weight)
    if route == "in-esketamine":
        second = 28.0 * max(1, round(second / 28.0))
    both = _solve(_regimen(route, first, weight, later=(when, second)), seed)
    alone = _solve(regimen, seed)
    later = _solve(Regimen(route=route, doses=((when, second),), weight_kg=weight), seed)  # type: ignore[arg-type]
    np.testing.assert_allclose(both, alone + later, rtol=1e-9, atol=1e-9 * both.max())


def _typical(regimen: Regimen, release_min: float | None = None) -> np.ndarray:
    values = sample(parameter_sets(regimen), 1, None)
    if release_min is not None and "oral" in values:
        values["oral"]["release_min"] = np.array([release_min])
    built = build(regimen, values)
    conc = solve(built.model, built.inputs, step_min=0.5, n_steps=480).conc
    assert conc is not None
    return conc


def test_a_swallowed_tablet_and_its_first_pass_norketamine_wait_for_release_and_lag() -> None:
    """Nothing, ketamine or first-pass norketamine, appears before the tablet has
    dissolved and the gut lag has passed; both appear right after (ADR 0080)."""
    regimen = _regimen("oral", 25.0, 70.0, norketamine=True)
    oral = sample(parameter_sets(regimen), 1, None)["oral"]
    delay = float(oral["release_min"][0] + oral["lag_min"][0])
    conc = _typical(regimen)
    times = np.arange(conc.shape[1]) * 0.5  # conc: (analyte, time, patient)
    assert np.all(conc[:, times < delay] == 0.0)
    assert np.all(conc[:, times >= delay + 1.0] > 0.0)


@pytest.mark.parametrize(
    ("route", "moves"), [("oral", True), ("sublingual", False), ("in-racemic", False)]
)
@pytest.mark.parametrize("norketamine", [False, True])
def test_the_release_time_delays_tablets_not_swallowed_saliva_or_spray(
    route: str, moves: bool, norketamine: bool
) -> None:
    regimen = _regimen(route, 25.0, 70.0, norketamine=norketamine)
    assert np.array_equal(_typical(regimen, 5.0), _typical(regimen, 40.0)) is not moves
