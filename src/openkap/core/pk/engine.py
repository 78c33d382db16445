"""Exact solution of linear compartment models for many patients at once.

The model is dx/dt = A x + u(t) per patient, with x the drug amounts (mg) and
u a sum of boluses and constant-rate (zero-order) inputs. Each zero-order input
target gets a constant "rate" state and each output an AUC accumulator, so
between events the augmented system is autonomous: z' = Â z. On a uniform grid
of step h the state at grid point k after an event is Φ^k z with Φ = expm(Â h),
which is exact (no Euler step). Powers of Φ come from repeated squaring, and a
curve of K points is one batched matrix product

    c[k = B*J + i] = (O Φ^i) (Φ^(B J) z)

so nothing loops in Python per patient or per time step. Â is a Metzler matrix
(non-negative off the diagonal), hence Φ and all its powers are non-negative:
concentrations cannot come out negative and rounding errors are relative.
"""

from __future__ import annotations

import bisect
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.linalg import expm

FloatArray = npt.NDArray[np.float64]
CurveArray = npt.NDArray[np.floating[Any]]  # float64, or float32 when stored compactly

# Grid points per block in the product above (a power of two, for doubling).
_BLOCK = 64
# Event times within this fraction of a step of a grid point sit on it.
_GRID_TOL = 1e-9
# Patients per worker task: small enough that one task's curves stay in cache
# while they are transposed to time-major order (5x faster than one big task).
_CHUNK = 256


@dataclass(frozen=True, eq=False)
class Input:
    """Drug entering one compartment: a bolus, or a constant rate over a duration."""

    compartment: int
    time_min: float
    amount_mg: FloatArray  # one amount per patient (bioavailability already applied)
    duration_min: float = 0.0  # 0: bolus; > 0: zero-order input at amount/duration

    def rate(self) -> FloatArray:
        return self.amount_mg / self.duration_min


@dataclass(frozen=True, eq=False)
class LinearModel:
    """Per-patient rate matrices and output rows.

    rates[p] is A (per minute): rates[p, i, j] is the first-order transfer from
    compartment j to i (i != j); the diagonal holds minus all outflows of j,
    including elimination. outputs[p, o, j] converts mg in compartment j into
    ng/mL of output o (1000 / volume in L).
    """

    rates: FloatArray  # (n_patients, n, n)
    outputs: FloatArray  # (n_patients, n_outputs, n)

    @property
    def n_patients(self) -> int:
        return int(self.rates.shape[0])


@dataclass(frozen=True, eq=False)
class Solution:
    """Curves and per-patient summaries; arrays indexed [output, ..., patient]."""

    times_min: FloatArray  # (n_times,)
    conc: CurveArray  # (n_outputs, n_times, n_patients) ng/mL; patients contiguous
    cmax: FloatArray  # (n_outputs, n_patients) ng/mL, largest grid value
    tmax_min: FloatArray  # (n_outputs, n_patients) first grid time of cmax
    auc: FloatArray  # (n_outputs, n_patients) ng*min/mL from 0 to the last time, exact
    auc_inf: FloatArray  # (n_outputs, n_patients) ng*min/mL from 0 to infinity, exact
    time_above_min: FloatArray  # (n_outputs, n_patients) grid points above threshold x step


def solve(
    model: LinearModel,
    inputs: list[Input],
    *,
    step_min: float,
    n_steps: int,
    threshold_ng_ml: float = math.inf,
    curve_dtype: type[np.float32] | type[np.float64] = np.float64,
) -> Solution:
    """Concentrations at t = 0, step, ..., n_steps*step (minutes) for every patient.

    Everything is computed in float64; curve_dtype=np.float32 only stores the
    curves rounded (relative error < 6e-8), halving memory and the time spent
    writing them. Per-patient metrics come from the float64 values.
    """
    if step_min <= 0 or not math.isfinite(step_min):
        raise ValueError("step_min must be positive")
    if n_steps < 0:
        raise ValueError("n_steps must be >= 0")
    for inp in inputs:
        if inp.time_min < 0 or inp.duration_min < 0:
            raise ValueError("input times and durations must be >= 0")
    # Infusions shorter than the event tolerance are boluses.
    inputs = [
        Input(i.compartment, i.time_min, i.amount_mg, 0.0)
        if i.duration_min <= _GRID_TOL * step_min
        else i
        for i in inputs
    ]
    n_patients = model.n_patients
    n_out = model.outputs.shape[1]
    times = np.arange(n_steps + 1, dtype=np.float64) * step_min
    conc = np.empty((n_out, n_steps + 1, n_patients), dtype=curve_dtype)
    summary = np.empty((5, n_out, n_patients))  # cmax, tmax index, auc, auc_inf, n above

    def run(start: int) -> None:
        part = slice(start, min(start + _CHUNK, n_patients))
        sub_model = LinearModel(model.rates[part], model.outputs[part])
        sub_inputs = [
            Input(i.compartment, i.time_min, i.amount_mg[part], i.duration_min) for i in inputs
        ]
        _solve_chunk(
            sub_model,
            sub_inputs,
            step_min,
            n_steps,
            threshold_ng_ml,
            conc[:, :, part],
            summary[:, :, part],
        )

    starts = range(0, n_patients, _CHUNK)
    if len(starts) == 1:
        run(0)
    else:
        # NumPy releases the GIL in BLAS, expm and copies, so threads scale.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(run, starts))
    cmax, tmax_index, auc, auc_inf, above = summary
    return Solution(times, conc, cmax, tmax_index * step_min, auc, auc_inf, above * step_min)


class _Powers:
    """Φ^(2^q) for q = 0, 1, ... computed on demand by squaring."""

    def __init__(self, phi: FloatArray) -> None:
        self._list = [phi]

    def __getitem__(self, q: int) -> FloatArray:
        while len(self._list) <= q:
            last = self._list[-1]
            self._list.append(np.maximum(last @ last, 0.0))
        return self._list[q]

    def apply(self, state: FloatArray, steps: int) -> FloatArray:
        """Φ^steps applied to state of shape (N, m)."""
        q = 0
        while steps:
            if steps & 1:
                state = np.einsum("pij,pj->pi", self[q], state)
            steps >>= 1
            q += 1
        return state


def _solve_chunk(
    model: LinearModel,
    inputs: list[Input],
    step: float,
    n_steps: int,
    threshold: float,
    conc: CurveArray,
    summary: FloatArray,
) -> None:
    rates, outputs = model.rates, model.outputs
    n_pat, n, _ = rates.shape
    n_out = outputs.shape[1]
    targets = sorted({i.compartment for i in inputs if i.duration_min > 0})
    rate_slot = {c: n + j for j, c in enumerate(targets)}
    m = n + len(targets) + n_out
    aug = np.zeros((n_pat, m, m))
    aug[:, :n, :n] = rates
    for c, slot in rate_slot.items():
        aug[:, c, slot] = 1.0
    aug[:, m - n_out :, :n] = outputs
    out_rows = np.zeros((n_pat, n_out, m))
    out_rows[:, :, :n] = outputs

    phi = np.maximum(expm(aug * step), 0.0)
    powers = _Powers(phi)
    # AUC accumulators feed nothing back, so curves need only the leading block.
    live = m - n_out
    curve_powers = _Powers(np.ascontiguousarray(phi[:, :live, :live]))
    t_end = n_steps * step

    def propagate(state: FloatArray, dt: float) -> FloatArray:
        steps = math.floor(dt / step + _GRID_TOL)
        frac = dt - steps * step
        if frac > _GRID_TOL * step:
            state = np.einsum("pij,pj->pi", np.maximum(expm(aug * frac), 0.0), state)
        return powers.apply(state, steps)

    row_table = _row_table(np.ascontiguousarray(out_rows[:, :, :live]), curve_powers)

    # Event times closer than the tolerance are one event; each input's start
    # and end belong to the last event at or before them.
    limit = t_end + _GRID_TOL * step
    events: list[float] = []
    for t in sorted({i.time_min for i in inputs} | {i.time_min + i.duration_min for i in inputs}):
        if t <= limit and (not events or t - events[-1] > _GRID_TOL * step):
            events.append(t)
    events = events or [0.0]

    def event_of(t: float) -> int:
        return bisect.bisect_right(events, t + _GRID_TOL * step) - 1 if t <= limit else len(events)

    starts = [event_of(i.time_min) for i in inputs]
    ends = [event_of(i.time_min + i.duration_min) for i in inputs]
    k_first = _first_index(events[0], step, n_steps)
    conc[:, :k_first, :] = 0.0
    cmax, tmax_index, auc, auc_inf, above = summary
    cmax[:] = 0.0
    tmax_index[:] = 0.0
    above[:] = 0.0
    state = np.zeros((n_pat, m))
    previous = events[0]
    for e, s in enumerate(events):
        state = propagate(state, s - previous)
        previous = s
        for slot in rate_slot.values():
            state[:, slot] = 0.0
        for inp, start, end in zip(inputs, starts, ends, strict=True):
            if inp.duration_min == 0 and start == e:
                state[:, inp.compartment] += inp.amount_mg
            elif inp.duration_min > 0 and start <= e < end:
                state[:, rate_slot[inp.compartment]] += inp.rate()
        k_lo = _first_index(s, step, n_steps)
        k_hi = _first_index(events[e + 1], step, n_steps) if e + 1 < len(events) else n_steps + 1
        if k_lo < k_hi:
            first = propagate(state, k_lo * step - s)
            values = _fill(conc[:, k_lo:k_hi, :], first[:, :live], row_table, curve_powers)
            index = values.argmax(axis=2)
            seg_max = np.take_along_axis(values, index[:, :, None], axis=2)[:, :, 0].T
            later = seg_max > cmax
            tmax_index[later] = (index.T + k_lo)[later]
            cmax[later] = seg_max[later]
            if threshold < math.inf:
                above += np.count_nonzero(values > threshold, axis=2).T

    end_state = propagate(state, max(t_end - previous, 0.0))
    auc[:] = end_state[:, m - n_out :].T
    # Drug still to be delivered after t_end adds its whole AUC (O (-A)^-1 x).
    pending = end_state[:, :n].copy()
    for inp, start, end in zip(inputs, starts, ends, strict=True):
        if start == len(events):
            pending[:, inp.compartment] += inp.amount_mg
        elif inp.duration_min > 0:
            stop = events[end] if end < len(events) else math.inf
            given = inp.rate() * max(min(stop, t_end) - events[start], 0.0)
            pending[:, inp.compartment] += inp.amount_mg - given
    tail = np.linalg.solve(-rates, pending[:, :, None])[:, :, 0]
    auc_inf[:] = auc + np.einsum("poj,pj->op", outputs, tail)


def _first_index(s: float, step: float, n_steps: int) -> int:
    """Index of the first grid point at or after time s."""
    return min(max(math.ceil(s / step - _GRID_TOL), 0), n_steps + 1)


def _row_table(out_rows: FloatArray, powers: _Powers) -> FloatArray:
    """O Φ^i for i < B, laid out (N, n_out, m, B): [p, o] is one output's matrix."""
    n_pat, n_out, m = out_rows.shape
    table = out_rows[:, :, None, :]  # (N, n_out, count, m)
    q = 0
    while table.shape[2] < _BLOCK:
        count = table.shape[2]
        moved = (table.reshape(n_pat, n_out * count, m) @ powers[q]).reshape(n_pat, n_out, count, m)
        table = np.concatenate([table, np.maximum(moved, 0.0)], axis=2)
        q += 1
    return np.ascontiguousarray(table.transpose(0, 1, 3, 2))


def _fill(out: CurveArray, start: FloatArray, row_table: FloatArray, powers: _Powers) -> FloatArray:
    """Write out[o, k, p] for k < len(out[0]) from the state start.

    Returns the same values as a C-contiguous [p, o, k] array (argmax is several
    times faster on contiguous rows), padded to whole blocks with -inf.
    """
    n_out, length, n_pat = out.shape
    n_blocks = -(-length // _BLOCK)
    q = _BLOCK.bit_length() - 1  # Φ^B = powers[q]
    blocks = start[:, None, :]  # Φ^(B J) start for J < count, shape (N, count, m)
    while blocks.shape[1] < n_blocks:
        moved = blocks @ powers[q].transpose(0, 2, 1)
        blocks = np.concatenate([blocks, moved], axis=1)
        q += 1
    blocks = np.ascontiguousarray(blocks[:, :n_blocks, :])
    products = np.empty((n_pat, n_out, n_blocks, _BLOCK))
    for o in range(n_out):  # one product per output lands time-contiguous, no reshuffle
        np.matmul(blocks, row_table[:, o], out=products[:, o])
    values = products.reshape(n_pat, n_out, n_blocks * _BLOCK)
    out[...] = values[:, :, :length].transpose(1, 2, 0)
    values[:, :, length:] = -np.inf
    return values
