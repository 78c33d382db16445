"""Exact solution of linear compartment models for many patients at once.

The model is dx/dt = A x + u(t) per patient, with x the drug amounts (mg) and
u a sum of boluses and constant-rate (zero-order) inputs. Each zero-order input
target gets a constant "rate" state and each output an AUC accumulator, so
between events the augmented system is autonomous: z' = Â z. On a uniform grid
of step h the state at grid point k after an event is Φ^k z with Φ = expm(Â h),
which is exact (no Euler step). Powers of Φ come from repeated squaring, and a
patient's curve of K points is one matrix product

    c[k = B*J + i] = (Φ^(B J) z) · (O Φ^i)

(rows: block starts J, columns: offsets i < B), so nothing loops in Python per
patient or per time step. Â is a Metzler matrix (non-negative off the
diagonal), hence Φ and all its powers are non-negative: concentrations cannot
come out negative and rounding errors are relative.

Curves are computed window by window of time, all patients per window, so
percentile bands need one window of curves in memory rather than all of them.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from openkap.core.pk.bands import RANGE_BLOCK, RangeArray, select

FloatArray = npt.NDArray[np.float64]
CurveArray = npt.NDArray[np.floating[Any]]  # float64, or float32 when stored compactly
_R = TypeVar("_R")

# Grid points per block in the product above (a power of two, for doubling).
_BLOCK = 64
# Event times within this fraction of a step of a grid point sit on it.
_GRID_TOL = 1e-9
# Patients per worker task; Φ, its powers and the row tables are computed for
# all of them at once.
_CHUNK = 512
# Curve values (float64) per product tile: a tile's curves are copied out and
# scanned for Cmax and block ranges while they are still in cache. 1 MB: half of
# a 2-MB L2, so the tile and what it is copied into stay there (1 << 18 was ~3 %
# slower in bench/pk_cpu.py).
_TILE_POINTS = 1 << 17
# Grid points per window (a multiple of RANGE_BLOCK).
_WINDOW = 32 * RANGE_BLOCK
# Range blocks per band selection task.
_SELECT_BLOCKS = 8
_RANGE_OFFSETS = np.arange(RANGE_BLOCK)


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
    # (n_outputs, n_times, n_patients) ng/mL, None unless keep_curves; each
    # patient's curve is contiguous in memory, so conc[o].T is C-ordered.
    conc: CurveArray | None
    cmax: FloatArray  # (n_outputs, n_patients) ng/mL, largest grid value
    tmax_min: FloatArray  # (n_outputs, n_patients) first grid time of cmax
    auc: FloatArray  # (n_outputs, n_patients) ng*min/mL from 0 to the last time, exact
    auc_inf: FloatArray  # (n_outputs, n_patients) ng*min/mL from 0 to infinity, exact
    time_above_min: FloatArray  # (n_outputs, n_patients) grid points above threshold x step
    # (n_outputs, len(percentiles), n_times) over patients, as numpy.percentile
    # gives on the curves rounded to float32 (relative error < 6e-8).
    bands: FloatArray | None = None


def solve(
    model: LinearModel,
    inputs: list[Input],
    *,
    step_min: float,
    n_steps: int,
    threshold_ng_ml: float = math.inf,
    curve_dtype: type[np.float32] | type[np.float64] = np.float64,
    keep_curves: bool = True,
    percentiles: Sequence[float] = (),
) -> Solution:
    """Concentrations at t = 0, step, ..., n_steps*step (minutes) for every patient.

    Everything is computed in float64; curve_dtype=np.float32 only stores the
    curves rounded (relative error < 6e-8), halving memory and the time spent
    writing them. Per-patient metrics come from the float64 values.
    percentiles (e.g. (50, 5, 95)) adds bands over the patients at every time;
    with keep_curves=False the curves themselves are not returned and only one
    window of them is ever held in memory.
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
    n_times = n_steps + 1
    times = np.arange(n_times, dtype=np.float64) * step_min
    summary = np.empty((5, n_out, n_patients))  # cmax, tmax index, auc, auc_inf, n above
    parts = [slice(s, min(s + _CHUNK, n_patients)) for s in range(0, n_patients, _CHUNK)]
    curves: CurveArray | None = None
    ring: CurveArray | None = None
    if keep_curves:
        curves = np.empty((n_out, n_patients, n_times), dtype=curve_dtype)
    elif percentiles:
        # Two windows are in flight: one is filled while the bands of the one
        # before are selected (one barrier per window, and the Python-heavy
        # selection overlaps the number crunching).
        ring = np.empty((2, n_out, n_patients, min(_WINDOW, n_times)), dtype=np.float32)
    bands = np.empty((n_out, len(percentiles), n_times)) if percentiles else None
    bounds: RangeArray | None = None
    if percentiles:
        bounds = np.empty((2, 2, n_out, _WINDOW // RANGE_BLOCK, n_patients), dtype=np.float32)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:

        def run(tasks: list[Callable[[], _R]]) -> list[_R]:
            # NumPy releases the GIL in BLAS, LAPACK and copies, so threads scale.
            if len(parts) > 1:
                return list(pool.map(_call, tasks))
            return [task() for task in tasks]

        def prepare(part: slice) -> _Plan:
            sub_model = LinearModel(model.rates[part], model.outputs[part])
            sub_inputs = [
                Input(i.compartment, i.time_min, i.amount_mg[part], i.duration_min) for i in inputs
            ]
            return _Plan(sub_model, sub_inputs, step_min, n_steps, summary[:, :, part])

        plans = run([partial(prepare, part) for part in parts])
        selections: list[Callable[[], None]] = []
        for number, w0 in enumerate(range(0, n_times, _WINDOW)):
            w1 = min(w0 + _WINDOW, n_times)
            window = None
            if curves is not None:
                window = curves[:, :, w0:w1]
            elif ring is not None:
                window = ring[number % 2, :, :, : w1 - w0]
            slot = None if bounds is None else bounds[number % 2]
            fills = [
                partial(
                    plan.fill,
                    None if window is None else window[:, part],
                    (w0, w1),
                    threshold_ng_ml,
                    None if slot is None else slot[:, :, :, part],
                )
                for plan, part in zip(plans, parts, strict=True)
            ]
            tasks: list[Callable[[], None]] = [*selections, *fills]
            run(tasks)
            selections = []
            if bands is not None and slot is not None and window is not None:
                n_blocks = -(-(w1 - w0) // RANGE_BLOCK)
                selections = [
                    partial(_select, window[o], slot[:, o], percentiles, bands[o, :, w0:w1], b)
                    for o in range(n_out)
                    for b in range(0, n_blocks, _SELECT_BLOCKS)
                ]
        run(selections)
    cmax, tmax_index, auc, auc_inf, above = summary
    return Solution(
        times,
        None if curves is None else curves.transpose(0, 2, 1),
        cmax,
        tmax_index * step_min,
        auc,
        auc_inf,
        above * step_min,
        bands,
    )


def _call(task: Callable[[], _R]) -> _R:
    return task()


def _select(
    window: CurveArray,
    bounds: RangeArray,
    percentiles: Sequence[float],
    bands: FloatArray,
    first: int,
) -> None:
    """Bands over _SELECT_BLOCKS range blocks of window (patients, times) from
    block `first`; bounds: (2, blocks, patients) lows and highs."""
    length = window.shape[1]
    blocks = slice(first, min(first + _SELECT_BLOCKS, -(-length // RANGE_BLOCK)))
    span = slice(first * RANGE_BLOCK, min((first + _SELECT_BLOCKS) * RANGE_BLOCK, length))
    select(
        window[:, span],
        by_patient=True,
        lows=bounds[0, blocks],
        highs=bounds[1, blocks],
        percentiles=percentiles,
        out=bands[:, span],
    )


class _Powers:
    """Φ^(2^q) for q = 0, 1, ... computed on demand by squaring (see _square);
    delta is Φ - I."""

    def __init__(self, phi: FloatArray, delta: FloatArray) -> None:
        self._list = [np.maximum(phi, 0.0)]
        self._delta = delta

    def __getitem__(self, q: int) -> FloatArray:
        while len(self._list) <= q:
            phi, self._delta = _square(self._list[-1], self._delta)
            self._list.append(np.maximum(phi, 0.0))
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


class _Leading(_Powers):
    """The leading size x size block of each power of another _Powers."""

    def __init__(self, whole: _Powers, size: int) -> None:
        self._whole = whole
        self._size = size

    def __getitem__(self, q: int) -> FloatArray:
        return self._whole[q][:, : self._size, : self._size]


class _Plan:
    """One chunk of patients: Φ and its powers, the output rows, and the state at
    the start of each stretch between events (grid points [k_lo, k_hi)), from
    which fill() computes the curves window by window."""

    def __init__(
        self,
        model: LinearModel,
        inputs: list[Input],
        step: float,
        n_steps: int,
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
        # The AUC rows get a power-of-two scale (exact) that keeps them no larger
        # than the rates: otherwise they alone set the norm expm scales by, costing
        # accuracy in the squarings.
        largest_rate = np.abs(np.diagonal(rates, axis1=1, axis2=2)).max(axis=1)
        largest_output = np.abs(outputs).max(axis=(1, 2))
        ratio = np.divide(largest_output, largest_rate, out=np.ones(n_pat), where=largest_rate > 0)
        auc_scale = np.exp2(np.ceil(np.log2(np.maximum(ratio, 1.0))))
        aug[:, m - n_out :, :n] = outputs / auc_scale[:, None, None]
        out_rows = np.zeros((n_pat, n_out, m))
        out_rows[:, :, :n] = outputs

        powers = _Powers(*_expm(aug * step))
        # AUC accumulators feed nothing back (their columns of Φ are exactly
        # those of I), so curves need only the leading block of each power.
        live = m - n_out
        self.powers: _Powers = _Leading(powers, live)
        self.row_table = _row_table(np.ascontiguousarray(out_rows[:, :, :live]), self.powers)
        t_end = n_steps * step

        def propagate(state: FloatArray, dt: float) -> FloatArray:
            steps = math.floor(dt / step + _GRID_TOL)
            frac = dt - steps * step
            if frac > _GRID_TOL * step:
                state = np.einsum("pij,pj->pi", np.maximum(expm(aug * frac), 0.0), state)
            return powers.apply(state, steps)

        # Event times closer than the tolerance are one event; each input's start
        # and end belong to the last event at or before them.
        limit = t_end + _GRID_TOL * step
        events: list[float] = []
        for t in sorted(
            {i.time_min for i in inputs} | {i.time_min + i.duration_min for i in inputs}
        ):
            if t <= limit and (not events or t - events[-1] > _GRID_TOL * step):
                events.append(t)
        events = events or [0.0]

        def event_of(t: float) -> int:
            if t > limit:
                return len(events)
            return bisect.bisect_right(events, t + _GRID_TOL * step) - 1

        starts = [event_of(i.time_min) for i in inputs]
        ends = [event_of(i.time_min + i.duration_min) for i in inputs]
        self.k_first = _first_index(events[0], step, n_steps)
        self.stretches: list[tuple[int, int, FloatArray]] = []
        self._last_block: dict[int, tuple[int, FloatArray]] = {}  # stretch: block, its state
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
            k_hi = (
                _first_index(events[e + 1], step, n_steps) if e + 1 < len(events) else n_steps + 1
            )
            if k_lo < k_hi:
                first = propagate(state, k_lo * step - s)
                self.stretches.append((k_lo, k_hi, np.ascontiguousarray(first[:, :live])))

        self.summary = summary
        cmax, tmax_index, auc, auc_inf, above = summary
        cmax[:] = 0.0
        tmax_index[:] = 0.0
        above[:] = 0.0
        end_state = propagate(state, max(t_end - previous, 0.0))
        auc[:] = (end_state[:, m - n_out :] * auc_scale[:, None]).T
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

    def fill(
        self,
        window: CurveArray | None,
        span: tuple[int, int],
        threshold: float,
        bounds: RangeArray | None,
    ) -> None:
        """Grid points span = [w0, w1): curves into window (if any), block ranges
        into bounds (if any), and Cmax, Tmax and time above threshold so far."""
        w0, w1 = span
        cmax, tmax_index, _, _, above = self.summary
        if bounds is not None:
            bounds[0] = np.inf
            bounds[1] = -np.inf
        if w0 < self.k_first:  # before the first event: no drug
            zeros = min(w1, self.k_first) - w0
            if window is not None:
                window[:, :, :zeros] = 0.0
            if bounds is not None:
                bounds[:, :, : -(-zeros // RANGE_BLOCK)] = 0.0
        for s, (k_lo, k_hi, _) in enumerate(self.stretches):
            lo, hi = max(k_lo, w0), min(k_hi, w1)
            if lo >= hi:
                continue
            skip = (lo - k_lo) // _BLOCK  # whole blocks of the stretch before the window
            n_blocks = -(-(hi - k_lo) // _BLOCK) - skip
            blocks = _block_states(self._block_start(s, skip), self.powers, n_blocks)
            self._last_block[s] = (skip + n_blocks - 1, blocks[:, -1].copy())
            peak, index, count = _fill(
                window,
                w0,
                (lo, hi),
                k_lo + skip * _BLOCK,
                blocks,
                self.row_table,
                threshold,
                bounds,
            )
            later = peak > cmax
            tmax_index[later] = index[later]
            cmax[later] = peak[later]
            above += count

    def _block_start(self, s: int, block: int) -> FloatArray:
        """State at the start of block `block` of stretch s, from the last block
        the previous window computed when it can."""
        last, state = self._last_block.get(s, (0, self.stretches[s][2]))
        if last == block:
            return state
        if last + 1 == block:
            return self.powers.apply(state, _BLOCK)
        return self.powers.apply(self.stretches[s][2], block * _BLOCK)


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


def _block_states(start: FloatArray, powers: _Powers, n_blocks: int) -> FloatArray:
    """Φ^(B J) start for J < n_blocks, shape (N, n_blocks, m)."""
    n_pat, m = start.shape
    blocks = np.empty((n_pat, n_blocks, m))
    blocks[:, 0] = start
    count = 1
    q = _BLOCK.bit_length() - 1  # Φ^B = powers[q]
    while count < n_blocks:
        new = min(count, n_blocks - count)
        np.matmul(blocks[:, :new], powers[q].transpose(0, 2, 1), out=blocks[:, count : count + new])
        count += new
        q += 1
    return blocks


def _fill(
    window: CurveArray | None,
    w0: int,
    span: tuple[int, int],
    origin: int,
    blocks: FloatArray,
    row_table: FloatArray,
    threshold: float,
    bounds: RangeArray | None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Curves at grid points span = [lo, hi) from the block states (the first
    at grid point origin <= lo): written to window (grid point w0 first) and
    merged into the block ranges of bounds.

    Returns per output and patient the largest value, the grid index of its
    first occurrence and the number of values above threshold.
    """
    lo, hi = span
    n_pat, n_blocks, _ = blocks.shape
    n_out = row_table.shape[1]
    length = hi - lo
    # Range blocks met, as offsets from lo (the first may be partial).
    first_block = lo // RANGE_BLOCK
    edges = np.arange((first_block + 1) * RANGE_BLOCK, hi, RANGE_BLOCK) - lo
    edges = np.concatenate([[0], edges])
    met = slice(first_block - w0 // RANGE_BLOCK, first_block - w0 // RANGE_BLOCK + len(edges))
    peak = np.empty((n_out, n_pat))
    index = np.empty((n_out, n_pat))
    above = np.zeros((n_out, n_pat))
    tile = max(1, _TILE_POINTS // (n_blocks * _BLOCK))
    buffer = np.empty((min(tile, n_pat), n_blocks, _BLOCK))
    for first in range(0, n_pat, tile):
        last = min(first + tile, n_pat)
        rows = np.arange(last - first)
        products = buffer[: last - first]
        for o in range(n_out):
            np.matmul(blocks[first:last], row_table[first:last, o], out=products)
            values = products.reshape(last - first, n_blocks * _BLOCK)[:, lo - origin : hi - origin]
            # Cmax from the block maxima, then its first position in the first
            # block that reaches it (past the end: repeats of the last value).
            maxima = np.maximum.reduceat(values, edges, axis=1)
            best = maxima.argmax(axis=1)
            peak[o, first:last] = maxima[rows, best]
            where = np.minimum(edges[best][:, None] + _RANGE_OFFSETS, length - 1)
            index[o, first:last] = lo + where[rows, values[rows[:, None], where].argmax(axis=1)]
            if threshold < math.inf:
                above[o, first:last] = np.count_nonzero(values > threshold, axis=1)
            if window is not None:
                window[o, first:last, lo - w0 : hi - w0] = values
            if bounds is not None:
                low, high = bounds[0, o, met, first:last], bounds[1, o, met, first:last]
                minima = np.minimum.reduceat(values, edges, axis=1)
                np.minimum(low, minima.T.astype(np.float32), out=low)
                np.maximum(high, maxima.T.astype(np.float32), out=high)
    return peak, index, above


# Padé coefficients b_0..b_d of exp (Higham 2005) and the largest 1-norm of
# A / 2^s for which degree d is accurate to double precision.
_PADE: tuple[tuple[int, float, tuple[float, ...]], ...] = (
    (3, 1.495585217958292e-2, (120.0, 60.0, 12.0, 1.0)),
    (5, 2.539398330063230e-1, (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0)),
    (
        7,
        9.504178996162932e-1,
        (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0),
    ),
    (
        9,
        2.097847961257068,
        (
            17643225600.0,
            8821612800.0,
            2075673600.0,
            302702400.0,
            30270240.0,
            2162160.0,
            110880.0,
            3960.0,
            90.0,
            1.0,
        ),
    ),
    (
        13,
        5.371920351148152,
        (
            64764752532480000.0,
            32382376266240000.0,
            7771770303897600.0,
            1187353796428800.0,
            129060195264000.0,
            10559470521600.0,
            670442572800.0,
            33522128640.0,
            1323241920.0,
            40840800.0,
            960960.0,
            16380.0,
            182.0,
            1.0,
        ),
    ),
)


def expm(a: FloatArray) -> FloatArray:
    """exp of each matrix in a stack (N, m, m): scaling and squaring with Padé
    approximants (Higham 2005), vectorised over the stack.

    scipy.linalg.expm runs a Python loop over a stack; this does the same
    arithmetic for all matrices at once. Each matrix gets the degree and scaling
    its own 1-norm calls for, so a patient's result does not depend on the
    others in the stack.
    """
    return _expm(a)[0]


def _expm(a: FloatArray) -> tuple[FloatArray, FloatArray]:
    """exp(a) and exp(a) - I, each to full relative precision (see _square)."""
    norms = np.abs(a).sum(axis=1).max(axis=1) if a.size else np.zeros(a.shape[0])
    choice = np.full(a.shape[0], len(_PADE) - 1)
    for d in range(len(_PADE) - 2, -1, -1):
        choice[norms <= _PADE[d][1]] = d
    ratio = np.maximum(norms / _PADE[-1][1], 1.0)
    squarings = np.where(choice == len(_PADE) - 1, np.ceil(np.log2(ratio)), 0).astype(int)
    result = np.empty_like(a)
    delta = np.empty_like(a)
    for key in np.unique(choice * 4096 + squarings):
        d, s = divmod(int(key), 4096)
        group = np.flatnonzero((choice == d) & (squarings == s))
        minus_identity = _pade_minus_identity(a[group] / 2.0**s, _PADE[d][2])
        x = minus_identity + np.eye(a.shape[-1])
        for _ in range(s):
            x, minus_identity = _square(x, minus_identity)
        result[group] = x
        delta[group] = minus_identity
    return result, delta


def _square(phi: FloatArray, delta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Φ² and Φ² - I from Φ and Δ = Φ - I.

    Near the identity (a fine time step) Δ holds the precision: (I + Δ)² - I =
    2Δ + Δ² has no cancellation, where rounding Φ's diagonal near 1 would cost
    up to an ulp a squaring, compounding into an error growing like the power
    itself. Once a diagonal entry falls below 1/2, Φ is squared directly
    instead, as 1 + Δ would then cancel.
    """
    eye = np.eye(phi.shape[-1])
    delta_sq = 2.0 * delta + delta @ delta
    phi_sq = delta_sq + eye
    far = np.flatnonzero(np.any(np.diagonal(delta, axis1=1, axis2=2) <= -0.5, axis=1))
    if far.size:
        phi_sq[far] = phi[far] @ phi[far]
        delta_sq[far] = phi_sq[far] - eye
    return phi_sq, delta_sq


def _pade_minus_identity(a: FloatArray, b: tuple[float, ...]) -> FloatArray:
    """Diagonal Padé approximant r of exp of degree len(b) - 1, minus I, for a
    stack: r - I = (V - U)^-1 (V + U) - I = (V - U)^-1 2U."""
    eye = np.broadcast_to(np.eye(a.shape[-1]), a.shape)
    a2 = a @ a
    if len(b) < 14:
        odd = b[1] * eye
        even = b[0] * eye
        power = eye
        for j in range(1, len(b) // 2):
            power = power @ a2
            odd = odd + b[2 * j + 1] * power
            even = even + b[2 * j] * power
        u = a @ odd
        v = even
    else:
        a4 = a2 @ a2
        a6 = a4 @ a2
        u = a @ (
            a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
            + b[7] * a6
            + b[5] * a4
            + b[3] * a2
            + b[1] * eye
        )
        v = (
            a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2)
            + b[6] * a6
            + b[4] * a4
            + b[2] * a2
            + b[0] * eye
        )
    return np.asarray(np.linalg.solve(v - u, 2.0 * u), dtype=np.float64)
