"""One patient's outcome on one instrument: series, baseline, endpoint, and what the
change between them means."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import NamedTuple

from openkap.core.instruments import get_instrument
from openkap.core.instruments.change import is_response, percent_change

from .definitions import DEFAULT_DEFINITIONS, OutcomeDefinitions


class Score(NamedTuple):
    """One scored response: the clinic-local day it was completed, its total and, for the
    PHQ-9, the answer to item 9 (thoughts of self-harm). A named tuple, not a frozen
    dataclass: a cohort report builds one per stored score, and a tuple is built in
    under half the time."""

    day: date
    total: float
    item9: int | None = None


@dataclass(frozen=True, slots=True)
class PatientInput:
    """Held dosing session days and scores, each in the order they happened."""

    patient_id: int
    session_days: tuple[date, ...]
    scores: tuple[Score, ...]


class ExclusionReason(StrEnum):
    NO_BASELINE = "no_baseline"
    ENDPOINT_WINDOW_OPEN = "endpoint_window_open"
    NO_ENDPOINT = "no_endpoint"
    BASELINE_ZERO = "baseline_zero"

    def describe(self, definitions: OutcomeDefinitions) -> str:
        d = definitions
        return {
            ExclusionReason.NO_BASELINE: f"No score in the {d.baseline_window_days} days up to the first session",
            ExclusionReason.ENDPOINT_WINDOW_OPEN: (
                f"Endpoint window still open (less than {d.endpoint_to_days} days since the induction ended)"
            ),
            ExclusionReason.NO_ENDPOINT: (
                f"No score {d.endpoint_from_days}–{d.endpoint_to_days} days after the induction"
            ),
            ExclusionReason.BASELINE_ZERO: "Baseline total 0 (percent change undefined)",
        }[self]


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    patient_id: int
    instrument_id: str
    induction: tuple[date, ...]
    baseline: Score | None
    endpoint: Score | None
    excluded: ExclusionReason | None
    # Scores before each induction session (index 0 = before session 1 = the baseline).
    before_session: tuple[Score | None, ...] = ()
    later_scores: tuple[Score, ...] = ()  # after the endpoint, for durability

    @property
    def analysed(self) -> bool:
        return self.excluded is None

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.endpoint is None:
            return None
        return self.endpoint.total - self.baseline.total

    @property
    def percent_change(self) -> float | None:
        if self.baseline is None or self.endpoint is None:
            return None
        return percent_change(self.baseline.total, self.endpoint.total)


def split_series(days: Sequence[date], *, gap_days: int) -> list[tuple[date, ...]]:
    """Consecutive days no more than `gap_days` apart form one series."""
    series: list[list[date]] = []
    for day in sorted(days):
        if series and (day - series[-1][-1]).days <= gap_days:
            series[-1].append(day)
        else:
            series.append([day])
    return [tuple(s) for s in series]


_ONE_DAY = timedelta(days=1)


@functools.lru_cache(maxsize=64)
def _canonical_id(instrument_id: str) -> str:
    """Looked up once per id: a cohort report asks for each of its patients."""
    return get_instrument(instrument_id).id


def _latest(scores: Sequence[Score], low: date, high: date) -> Score | None:
    for s in reversed(scores):  # in order: the last one in the window is the latest
        if low <= s.day <= high:
            return s
    return None


def patient_outcome(
    patient: PatientInput,
    instrument_id: str,
    *,
    as_of: date,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> PatientOutcome | None:
    """None when the patient had no held session (not enrolled)."""
    instrument = _canonical_id(instrument_id)
    series = split_series(patient.session_days, gap_days=definitions.series_gap_days)
    if not series:
        return None
    induction = series[0]
    first, last = induction[0], induction[-1]
    scores = patient.scores
    baseline = _latest(scores, first - timedelta(days=definitions.baseline_window_days), first)
    window = (last + timedelta(days=definitions.endpoint_from_days), last + timedelta(days=definitions.endpoint_to_days))
    endpoint = _latest(scores, *window)
    # Then before each later session: the latest score after the previous session's day.
    before = (baseline, *(_latest(scores, previous + _ONE_DAY, day) for previous, day in itertools.pairwise(induction)))
    excluded: ExclusionReason | None = None
    if baseline is None:
        excluded = ExclusionReason.NO_BASELINE
    elif as_of < window[1]:
        excluded = ExclusionReason.ENDPOINT_WINDOW_OPEN
    elif endpoint is None:
        excluded = ExclusionReason.NO_ENDPOINT
    elif baseline.total == 0:
        excluded = ExclusionReason.BASELINE_ZERO
    later = () if endpoint is None else tuple(s for s in scores if s.day > endpoint.day)
    return PatientOutcome(
        patient_id=patient.patient_id,
        instrument_id=instrument,
        induction=induction,
        baseline=baseline,
        endpoint=None if excluded is ExclusionReason.ENDPOINT_WINDOW_OPEN else endpoint,
        excluded=excluded,
        before_session=before,
        later_scores=later,
    )


def responded(outcome: PatientOutcome, current: float, definitions: OutcomeDefinitions) -> bool:
    assert outcome.baseline is not None
    return bool(
        is_response(outcome.baseline.total, current, reduction_percent=definitions.response_reduction_percent)
    )
