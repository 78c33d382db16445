"""Percentile bands from block ranges (openkap.core.pk.bands) against numpy.percentile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.pk import engine, quantile_bands
from openkap.core.pk.bands import RANGE_BLOCK
from openkap.core.pk.engine import solve
from openkap.core.pk.models import Regimen, build, parameter_sets, sample
from tests.profiles import examples

PERCENTILES = (50.0, 5.0, 95.0)


def _numpy_bands(conc: np.ndarray) -> np.ndarray:
    """numpy.percentile over patients (columns) of the values rounded to float32."""
    return np.percentile(conc.astype(np.float32).astype(np.float64), PERCENTILES, axis=1)


@settings(max_examples=examples(80), deadline=None)
@given(
    n_times=st.integers(min_value=1, max_value=3 * RANGE_BLOCK + 5),
    n_pat=st.integers(min_value=1, max_value=60),
    decimals=st.sampled_from([None, 1, 0]),
    by_patient=st.booleans(),
    single=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_bands_equal_numpy_percentile_with_ties_and_either_layout(
    n_times: int, n_pat: int, decimals: int | None, by_patient: bool, single: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # Random walks: neighbouring times are close (the case blocks exploit) and
    # cross; rounding makes ties within and across patients, zeros included.
    conc = np.abs(np.cumsum(rng.normal(size=(n_times, n_pat)), axis=0))
    if decimals is not None:
        conc = np.round(conc, decimals)
    stored = conc.astype(np.float32 if single else np.float64)
    arranged = np.ascontiguousarray(stored.T).T if by_patient else stored
    before = arranged.copy()
    result = np.stack(quantile_bands(arranged))
    np.testing.assert_allclose(result, _numpy_bands(conc), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(arranged, before)


def test_identical_patients_and_constant_stretches() -> None:
    curve = np.concatenate([np.zeros(70), np.linspace(0.0, 5.0, 100), np.full(90, 5.0)])
    conc = np.repeat(curve[:, None], 25, axis=1)
    conc[:, ::5] *= 2.0
    np.testing.assert_allclose(np.stack(quantile_bands(conc)), _numpy_bands(conc), rtol=1e-12)


@pytest.mark.parametrize("route", ["iv", "im", "in-esketamine", "sublingual", "oral", "in-racemic"])
def test_bands_computed_window_by_window_match_the_stored_curves(route: str) -> None:
    """Several windows and patient chunks, an off-grid second dose, a threshold."""
    regimen = Regimen(route=route, doses=((0.0, 56.0), (37.3, 28.0)), weight_kg=70.0)  # type: ignore[arg-type]
    built = build(regimen, sample(parameter_sets(regimen), 700, np.random.default_rng(4)))
    step, n_steps, threshold = 1 / 60, 2 * engine._WINDOW + 50, 30.0
    assert built.model.n_patients > engine._CHUNK
    full = solve(
        built.model, built.inputs, step_min=step, n_steps=n_steps, threshold_ng_ml=threshold
    )
    lean = solve(
        built.model,
        built.inputs,
        step_min=step,
        n_steps=n_steps,
        threshold_ng_ml=threshold,
        keep_curves=False,
        percentiles=PERCENTILES,
    )
    assert full.conc is not None
    assert lean.conc is None
    assert lean.bands is not None
    for o, conc in enumerate(full.conc):
        np.testing.assert_allclose(lean.bands[o], _numpy_bands(conc), rtol=1e-12, atol=0)
        np.testing.assert_array_equal(lean.cmax[o], conc.max(axis=0))
        np.testing.assert_array_equal(lean.tmax_min[o], full.times_min[conc.argmax(axis=0)])
        np.testing.assert_allclose(lean.time_above_min[o], (conc > threshold).sum(axis=0) * step)
    for name in ("cmax", "tmax_min", "auc", "auc_inf", "time_above_min"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name))
