"""Percentile bands over a population, per time point, without sorting.

Time is cut into blocks of RANGE_BLOCK grid points. With lo/hi a patient's
smallest/largest value in a block, the k-th smallest value at any time of the
block lies between the k-th smallest lo and the (k+1)-th smallest hi (order
statistics are monotone). Patients entirely below that interval are counted,
those entirely above dropped, and the wanted ranks are selected exactly among
the few left: typically 1-3 % of the population, as curves change little
within a block. The result is what numpy.percentile (linear interpolation)
gives on the values rounded to float32, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

RANGE_BLOCK = 64  # grid points per block; blocks start at multiples of it

FloatArray = npt.NDArray[np.float64]
RangeArray = npt.NDArray[np.float32]  # (n_blocks, n_patients) block minima or maxima


def block_ranges(
    values: npt.NDArray[np.floating[Any]], *, by_patient: bool
) -> tuple[RangeArray, RangeArray]:
    """Smallest and largest value (as float32) of each patient in each block.

    values holds consecutive time points starting at a block boundary, as
    (n_patients, n_times) if by_patient, else (n_times, n_patients).
    """
    axis = 1 if by_patient else 0
    firsts = np.arange(0, values.shape[axis], RANGE_BLOCK)
    lows = np.minimum.reduceat(values, firsts, axis=axis).astype(np.float32)
    highs = np.maximum.reduceat(values, firsts, axis=axis).astype(np.float32)
    return (lows.T, highs.T) if by_patient else (lows, highs)


def select(
    values: npt.NDArray[np.floating[Any]],
    *,
    by_patient: bool,
    lows: RangeArray,
    highs: RangeArray,
    percentiles: Sequence[float],
    out: FloatArray,
) -> None:
    """out[i, t]: percentiles[i] over patients at each time t of values.

    values: consecutive time points from a block boundary, laid out as in
    block_ranges; lows/highs: its block ranges (one row per block); out:
    (len(percentiles), n_times).
    """
    n_times, n_pat = values.shape[::-1] if by_patient else values.shape
    for row, q in enumerate(percentiles):
        pos = (n_pat - 1) * q / 100.0
        k = math.floor(pos)
        k_next = min(k + 1, n_pat - 1)
        floor = np.partition(lows, k, axis=1)[:, k, None]
        ceiling = np.partition(highs, k_next, axis=1)[:, k_next, None]
        ranks = k - np.count_nonzero(highs < floor, axis=1)
        keep = (highs >= floor) & (lows <= ceiling)
        for b, rank in enumerate(ranks):
            times = slice(b * RANGE_BLOCK, min((b + 1) * RANGE_BLOCK, n_times))
            if floor[b, 0] == ceiling[b, 0]:
                # Both wanted order statistics are pinned to this value at every
                # time of the block (e.g. no drug yet before an absorption lag).
                out[row, times] = floor[b, 0]
                continue
            who = np.flatnonzero(keep[b])
            candidates = values[who, times].T if by_patient else values[times, who]
            ordered = np.ascontiguousarray(candidates, dtype=np.float32)
            ordered.partition(rank, axis=1)
            at = ordered[:, rank].astype(np.float64)
            after = ordered[:, rank + 1 :].min(axis=1) if k_next > k else ordered[:, rank]
            out[row, times] = at + (pos - k) * (after - at)
