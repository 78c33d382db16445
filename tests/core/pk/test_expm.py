"""The batched matrix exponential against closed forms and scipy.linalg.expm."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from scipy.linalg import expm as scipy_expm

from openkap.core.pk.engine import _PADE, Input, LinearModel, expm, solve


def _metzler(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """A random rate matrix (flows between compartments and out), times scale."""
    off = rng.uniform(0.0, 1.0, (n, n)) * (rng.random((n, n)) < 0.5)
    np.fill_diagonal(off, 0.0)
    return (off - np.diag(off.sum(axis=0) + rng.uniform(0.0, 0.5, n))) * scale


def test_two_compartment_chain_matches_the_closed_form() -> None:
    """x0' = -a x0, x1' = a x0 - b x1, including a == b."""
    rates = [(0.3, 0.1), (2.0, 0.05), (0.7, 0.7), (40.0, 3.0)]
    stack = np.array([[[-a, 0.0], [a, -b]] for a, b in rates])
    result = expm(stack)
    for (a, b), phi in zip(rates, result, strict=True):
        chain = a * np.exp(-a) if a == b else a / (a - b) * (np.exp(-b) - np.exp(-a))
        expected = np.array([[np.exp(-a), 0.0], [chain, np.exp(-b)]])
        np.testing.assert_allclose(phi, expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("scale", [1e-4, 1e-2, 1.0, 10.0, 300.0])
def test_matches_scipy_over_a_wide_range_of_norms(scale: float) -> None:
    rng = np.random.default_rng(7)
    stack = np.stack([_metzler(rng, 6, scale) for _ in range(12)])
    result = expm(stack)
    for a, phi in zip(stack, result, strict=True):
        expected = scipy_expm(a)
        np.testing.assert_allclose(phi, expected, rtol=1e-10, atol=1e-13 * np.abs(expected).max())


def test_each_result_is_independent_of_the_rest_of_the_stack() -> None:
    rng = np.random.default_rng(8)
    stack = np.stack([_metzler(rng, 5, s) for s in (1e-3, 1.0, 50.0, 1e-3, 400.0, 0.2)])
    together = expm(stack)
    for i in range(len(stack)):
        np.testing.assert_array_equal(together[i], expm(stack[i : i + 1])[0])


def _reference(a: np.ndarray) -> np.ndarray:
    """exp(a) to ~40 digits: Taylor series of a / 2^s in decimal arithmetic, squared s times."""
    with localcontext() as ctx:
        ctx.prec = 60
        n = a.shape[0]
        s = max(0, math.ceil(math.log2(max(np.abs(a).sum(axis=0).max(), 1e-300) / 0.25)))
        x = [[Decimal(float(v)) / 2**s for v in row] for row in a]

        def product(p: list[list[Decimal]], q: list[list[Decimal]]) -> list[list[Decimal]]:
            return [[sum(p[i][k] * q[k][j] for k in range(n)) for j in range(n)] for i in range(n)]

        total = [[Decimal(int(i == j)) for j in range(n)] for i in range(n)]
        term = [row[:] for row in total]
        for k in range(1, 40):
            term = [[v / k for v in row] for row in product(term, x)]
            total = [
                [t + v for t, v in zip(r, q, strict=True)] for r, q in zip(total, term, strict=True)
            ]
        for _ in range(s):
            total = product(total, total)
        return np.array([[float(v) for v in row] for row in total])


@pytest.mark.parametrize("factor", [0.98, 1.02])
@pytest.mark.parametrize("threshold", [t for _, t, _ in _PADE])
def test_accurate_on_both_sides_of_each_degree_threshold(threshold: float, factor: float) -> None:
    """Around each 1-norm where the Padé degree (or the scaling) changes."""
    a = _metzler(np.random.default_rng(9), 4, 1.0)
    a *= factor * threshold / np.abs(a).sum(axis=0).max()
    expected = _reference(a)
    np.testing.assert_allclose(
        expm(a[None])[0], expected, rtol=1e-13, atol=1e-15 * np.abs(expected).max()
    )


def test_powers_keep_full_precision_over_21600_one_second_steps() -> None:
    """Six hours at 1-s steps against Bateman's formula (written with expm1, so
    the reference itself is accurate at small t): the squarings that build
    Φ^k must not accumulate an error growing with k (1e-12 at this k)."""
    ka = np.array([0.05, 0.02, 0.3, 1.5])
    ke = np.array([0.02, 0.004, 0.01, 0.05])
    rates = np.zeros((4, 2, 2))
    rates[:, 0, 0], rates[:, 0, 1], rates[:, 1, 1] = -ke, ka, -ka
    outputs = np.zeros((4, 1, 2))
    outputs[:, 0, 0] = 100.0
    sol = solve(
        LinearModel(rates, outputs),
        [Input(1, 0.0, np.full(4, 100.0))],
        step_min=1 / 60,
        n_steps=6 * 3600,
    )
    t = sol.times_min[1:, None]
    expected = -1e4 * ka / (ka - ke) * np.exp(-ke * t) * np.expm1(-(ka - ke) * t)
    np.testing.assert_allclose(sol.conc[0, 1:], expected, rtol=1e-13, atol=0)
