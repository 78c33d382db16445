"""The exact solver against closed-form solutions and a direct matrix exponential."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from openkap.core.pk.engine import Input, LinearModel, solve


def _one_compartment_oral(ka: np.ndarray, ke: np.ndarray, volume: float) -> LinearModel:
    """Compartment 0: central (elimination ke); 1: depot (absorption ka)."""
    n = ka.shape[0]
    rates = np.zeros((n, 2, 2))
    rates[:, 0, 0] = -ke
    rates[:, 0, 1] = ka
    rates[:, 1, 1] = -ka
    outputs = np.zeros((n, 1, 2))
    outputs[:, 0, 0] = 1000.0 / volume
    return LinearModel(rates, outputs)


def test_oral_absorption_matches_bateman_including_equal_rates() -> None:
    ka = np.array([0.05, 0.02, 0.02])
    ke = np.array([0.02, 0.02, 0.01])  # patient 1: ka == ke, where Bateman's formula is 0/0
    lag = 3.0
    sol = solve(
        _one_compartment_oral(ka, ke, 10.0),
        [Input(1, lag, np.full(3, 100.0))],
        step_min=0.5,
        n_steps=1000,
    )
    t = np.clip(sol.times_min - lag, 0.0, None)
    for p in range(3):
        if ka[p] == ke[p]:
            expected = 1e4 * ka[p] * t * np.exp(-ke[p] * t)
        else:
            expected = 1e4 * ka[p] / (ka[p] - ke[p]) * (np.exp(-ke[p] * t) - np.exp(-ka[p] * t))
        np.testing.assert_allclose(sol.conc[0, :, p], expected, rtol=1e-12, atol=1e-10)
        assert sol.cmax[0, p] == pytest.approx(expected.max(), rel=1e-12)
        assert sol.tmax_min[0, p] == sol.times_min[expected.argmax()]
    np.testing.assert_allclose(sol.auc_inf[0], 1e4 / ke, rtol=1e-12)


def test_rate_change_and_off_grid_events_are_exact() -> None:
    """Two consecutive infusions (rate change at 7.3 min, off the 1-min grid)."""
    k, volume = 0.1, 5.0
    model = LinearModel(np.full((1, 1, 1), -k), np.full((1, 1, 1), 1000.0 / volume))
    inputs = [Input(0, 0.0, np.array([7.3]), 7.3), Input(0, 7.3, np.array([3.0]), 12.7)]
    sol = solve(model, inputs, step_min=1.0, n_steps=60)

    def infusion(rate: float, start: float, end: float, t: np.ndarray) -> np.ndarray:
        on = np.clip(t - start, 0.0, end - start)
        return rate / k * (1 - np.exp(-k * on)) * np.exp(-k * np.clip(t - end, 0.0, None))

    t = sol.times_min
    amount = infusion(1.0, 0.0, 7.3, t) + infusion(3.0 / 12.7, 7.3, 20.0, t)
    np.testing.assert_allclose(sol.conc[0, :, 0], amount * 1000.0 / volume, rtol=1e-12)
    np.testing.assert_allclose(sol.auc_inf[0], 10.3 * 1000.0 / volume / k, rtol=1e-12)


def test_auc_over_the_horizon_is_exact() -> None:
    k, volume, hours = 0.01, 20.0, 3.0
    model = LinearModel(np.full((1, 1, 1), -k), np.full((1, 1, 1), 1000.0 / volume))
    sol = solve(
        model, [Input(0, 0.0, np.array([50.0]))], step_min=7.0, n_steps=round(hours * 60 / 7)
    )
    end = sol.times_min[-1]
    expected = 50.0 * 1000.0 / volume * (1 - np.exp(-k * end)) / k
    assert sol.auc[0, 0] == pytest.approx(expected, rel=1e-12)


def test_dose_after_the_horizon_counts_only_in_auc_inf() -> None:
    k = 0.05
    model = LinearModel(np.full((1, 1, 1), -k), np.full((1, 1, 1), 100.0))
    sol = solve(
        model,
        [Input(0, 120.0, np.array([2.0])), Input(0, 50.0, np.array([1.0]), 100.0)],
        step_min=1.0,
        n_steps=60,
    )
    assert np.all(sol.conc[0, :50, 0] == 0.0)
    assert sol.auc_inf[0, 0] == pytest.approx(3.0 * 100.0 / k, rel=1e-12)


def test_matches_a_direct_matrix_exponential_for_a_random_network() -> None:
    rng = np.random.default_rng(3)
    n, n_pat = 6, 5
    rates = np.zeros((n_pat, n, n))
    for p in range(n_pat):
        off = rng.uniform(0.0, 0.3, (n, n)) * (rng.random((n, n)) < 0.5)
        np.fill_diagonal(off, 0.0)
        rates[p] = off - np.diag(off.sum(axis=0) + rng.uniform(0.001, 0.2, n))
    outputs = np.zeros((n_pat, 2, n))
    outputs[:, 0, 0], outputs[:, 1, 3] = 100.0, 250.0
    doses = [Input(2, 0.0, rng.uniform(1, 5, n_pat)), Input(4, 13.37, rng.uniform(1, 5, n_pat))]
    sol = solve(LinearModel(rates, outputs), doses, step_min=0.25, n_steps=400)
    for p in range(n_pat):
        for k in (0, 1, 53, 54, 200, 400):
            t = sol.times_min[k]
            x = np.zeros(n)
            for d in doses:
                if t >= d.time_min:
                    x += expm(rates[p] * (t - d.time_min))[:, d.compartment] * d.amount_mg[p]
            np.testing.assert_allclose(sol.conc[:, k, p], outputs[p] @ x, rtol=1e-10, atol=1e-12)


def test_patient_chunks_and_threads_do_not_change_results() -> None:
    rng = np.random.default_rng(11)
    ka = rng.uniform(0.01, 0.1, 700)
    ke = rng.uniform(0.005, 0.05, 700)
    model = _one_compartment_oral(ka, ke, 30.0)
    dose = [Input(1, 0.0, np.full(700, 10.0))]
    together = solve(model, dose, step_min=1.0, n_steps=300)
    alone = solve(
        LinearModel(model.rates[650:651], model.outputs[650:651]),
        [Input(1, 0.0, np.full(1, 10.0))],
        step_min=1.0,
        n_steps=300,
    )
    np.testing.assert_array_equal(together.conc[:, :, 650], alone.conc[:, :, 0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"step_min": 0.0, "n_steps": 5}, "step_min"), ({"step_min": 1.0, "n_steps": -1}, "n_steps")],
)
def test_bad_grid_is_rejected(kwargs: dict[str, float], message: str) -> None:
    model = LinearModel(np.full((1, 1, 1), -0.1), np.full((1, 1, 1), 1.0))
    with pytest.raises(ValueError, match=message):
        solve(model, [], **kwargs)  # type: ignore[arg-type]
