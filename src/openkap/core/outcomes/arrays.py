"""Every enrolled patient's outcome at once, over NumPy arrays.

The same rules as `patient.patient_outcome` (series, induction, baseline, endpoint, the
score before each session, exclusions, later scores), which stays the readable
definition and the patient page's path; a Hypothesis property proves the two equal on
random cohorts (tests/core/outcomes/test_arrays.py). A cohort report of 10,000 patients
spent most of its time building and scanning one Python tuple per score; here each
window is one binary search over (patient, day) keys for all patients (ADR 0082).

Days are day numbers (`days.day_number`). Scores must be in each patient's completion
order with their days not decreasing, as they are read from the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from .days import day_number, from_day_number
from .definitions import DEFAULT_DEFINITIONS, OutcomeDefinitions
from .patient import ExclusionReason, PatientOutcome, Score, _canonical_id

# Exclusion codes: the index in ExclusionReason's order; analysed patients have -1.
REASONS = tuple(ExclusionReason)
ANALYSED = -1
_STRIDE = 1 << 32  # key = patient position * _STRIDE + day + _SHIFT: days of any century fit
_SHIFT = 1 << 31


@dataclass(frozen=True)
class Scores:
    """One instrument's scores, in patient then completion order."""

    patient: np.ndarray  # int64 ids
    day: np.ndarray  # int64 day numbers
    total: np.ndarray  # float64
    item9: np.ndarray  # float64, NaN where there is no item-9 answer

    @classmethod
    def empty(cls) -> Scores:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))

    def take(self, index: np.ndarray) -> Scores:
        return Scores(self.patient[index], self.day[index], self.total[index], self.item9[index])

    def score(self, i: int) -> Score:
        item9 = self.item9[i]
        return Score(from_day_number(int(self.day[i])), float(self.total[i]), None if np.isnan(item9) else int(item9))


@dataclass(frozen=True)
class Selection:
    """Per enrolled patient (ascending id): the induction's session days and indices into
    `scores` (-1 for none) of the baseline, the endpoint and the score before each
    induction session; the exclusion code; and the later scores as an index range."""

    instrument_id: str
    patients: np.ndarray
    induction_start: np.ndarray  # into induction_day / before, per patient
    induction_count: np.ndarray
    induction_day: np.ndarray  # flat, patient by patient
    before: np.ndarray  # flat, aligned with induction_day; the first of each patient is the baseline
    baseline: np.ndarray
    endpoint: np.ndarray  # -1 also while the endpoint window is open
    excluded: np.ndarray  # int8: ANALYSED or the index of the reason in REASONS
    later_start: np.ndarray
    later_end: np.ndarray
    scores: Scores

    def __len__(self) -> int:
        return len(self.patients)

    def outcome(self, i: int) -> PatientOutcome:
        """The i-th patient's outcome as `patient_outcome` gives it."""
        start, count = int(self.induction_start[i]), int(self.induction_count[i])
        scores = self.scores

        def maybe(index: int) -> Score | None:
            return None if index < 0 else scores.score(index)

        code = int(self.excluded[i])
        return PatientOutcome(
            patient_id=int(self.patients[i]),
            instrument_id=self.instrument_id,
            induction=tuple(from_day_number(int(d)) for d in self.induction_day[start:start + count]),
            baseline=maybe(int(self.baseline[i])),
            endpoint=maybe(int(self.endpoint[i])),
            excluded=None if code == ANALYSED else REASONS[code],
            before_session=tuple(maybe(int(b)) for b in self.before[start:start + count]),
            later_scores=tuple(scores.score(j) for j in range(int(self.later_start[i]), int(self.later_end[i]))),
        )

    def outcomes(self) -> Iterator[PatientOutcome]:
        return (self.outcome(i) for i in range(len(self)))


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices start, start+1, ... start+count-1 of every range, concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(total)


def select(
    session_patient: np.ndarray,
    session_day: np.ndarray,
    scores: Scores,
    instrument_id: str,
    *,
    as_of: date,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> Selection:
    """The outcome of every patient with a held session (one entry per session: patient
    id and day, in any order)."""
    instrument = _canonical_id(instrument_id)
    order = np.lexsort((session_day, session_patient))
    sp, sd = np.asarray(session_patient, np.int64)[order], np.asarray(session_day, np.int64)[order]
    patients, first_session, per_patient = np.unique(sp, return_index=True, return_counts=True)
    n = len(patients)
    position = np.repeat(np.arange(n), per_patient)
    # A series starts at a patient's first session and after any gap longer than allowed;
    # the induction is each patient's first series.
    starts_series = np.ones(len(sd), bool)
    starts_series[1:] = (sp[1:] != sp[:-1]) | (np.diff(sd) > definitions.series_gap_days)
    series = np.cumsum(starts_series)
    in_induction = series == series[first_session][position]
    induction_day, induction_patient = sd[in_induction], position[in_induction]
    induction_count = np.bincount(induction_patient, minlength=n)
    induction_start = np.cumsum(induction_count) - induction_count
    first = induction_day[induction_start] if n else np.zeros(0, np.int64)
    last = induction_day[induction_start + induction_count - 1] if n else np.zeros(0, np.int64)

    # Scores of enrolled patients, keyed (patient position, day); stable, so that scores on
    # the same day stay in completion order and the last of them is the latest.
    at = np.searchsorted(patients, scores.patient)
    enrolled = (at < n) & (patients[np.minimum(at, n - 1)] == scores.patient) if n else np.zeros(len(at), bool)
    mine = scores.take(np.flatnonzero(enrolled))
    keys = at[enrolled].astype(np.int64) * _STRIDE + mine.day + _SHIFT

    def latest(who: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Index of each patient's last score with low <= day <= high, or -1."""
        base = who.astype(np.int64) * _STRIDE + _SHIFT
        j = np.searchsorted(keys, base + high, side="right") - 1
        found = (j >= 0) & (keys[np.maximum(j, 0)] >= base + low) if len(keys) else np.zeros(len(j), bool)
        return np.where(found, j, -1)

    everyone = np.arange(n)
    baseline = latest(everyone, first - definitions.baseline_window_days, first)
    window_high = last + definitions.endpoint_to_days
    endpoint = latest(everyone, last + definitions.endpoint_from_days, window_high)
    # Before each later induction session: the latest score after the previous session's day.
    before = np.empty(len(induction_day), np.int64)
    later_session = np.ones(len(induction_day), bool)
    later_session[induction_start] = False
    before[induction_start] = baseline
    previous = np.flatnonzero(later_session) - 1
    before[later_session] = latest(induction_patient[later_session], induction_day[previous] + 1,
                                   induction_day[later_session])

    total = mine.total
    excluded = np.full(n, ANALYSED, np.int8)
    excluded[baseline < 0] = REASONS.index(ExclusionReason.NO_BASELINE)
    window_open = (excluded == ANALYSED) & (day_number(as_of) < window_high)
    excluded[window_open] = REASONS.index(ExclusionReason.ENDPOINT_WINDOW_OPEN)
    excluded[(excluded == ANALYSED) & (endpoint < 0)] = REASONS.index(ExclusionReason.NO_ENDPOINT)
    zero = (excluded == ANALYSED) & (total[np.maximum(baseline, 0)] == 0) if len(total) else np.zeros(n, bool)
    excluded[zero] = REASONS.index(ExclusionReason.BASELINE_ZERO)

    # Later scores: after the endpoint's day (found even while its window is open).
    patient_end = np.searchsorted(keys, (everyone.astype(np.int64) + 1) * _STRIDE, side="left")
    endpoint_day = mine.day[np.maximum(endpoint, 0)] if len(keys) else np.zeros(n, np.int64)
    after_endpoint = np.searchsorted(keys, everyone.astype(np.int64) * _STRIDE + _SHIFT + endpoint_day, side="right")
    later_start = np.where(endpoint >= 0, after_endpoint, patient_end)
    return Selection(
        instrument_id=instrument, patients=patients, induction_start=induction_start,
        induction_count=induction_count, induction_day=induction_day, before=before, baseline=baseline,
        endpoint=np.where(window_open, -1, endpoint), excluded=excluded,
        later_start=later_start, later_end=patient_end, scores=mine,
    )


def from_outcomes(instrument_id: str, outcomes: Iterable[PatientOutcome]) -> Selection:
    """The arrays of outcomes computed one by one (`patient_outcome`), for `summarise`."""
    patients: list[int] = []
    induction_count: list[int] = []
    induction_day: list[int] = []
    before: list[int] = []
    baseline: list[int] = []
    endpoint: list[int] = []
    excluded: list[int] = []
    later: list[tuple[int, int]] = []
    scores: list[Score] = []
    owners: list[int] = []

    def put(score: Score | None, owner: int) -> int:
        if score is None:
            return -1
        scores.append(score)
        owners.append(owner)
        return len(scores) - 1

    for o in outcomes:
        patients.append(o.patient_id)
        induction_count.append(len(o.induction))
        induction_day.extend(day_number(d) for d in o.induction)
        baseline.append(put(o.baseline, o.patient_id))
        endpoint.append(put(o.endpoint, o.patient_id))
        before.extend(put(s, o.patient_id) for s in o.before_session)
        excluded.append(ANALYSED if o.excluded is None else REASONS.index(o.excluded))
        start = len(scores)
        for s in o.later_scores:
            put(s, o.patient_id)
        later.append((start, len(scores)))
    counts = np.array(induction_count, np.int64)
    return Selection(
        instrument_id=_canonical_id(instrument_id), patients=np.array(patients, np.int64),
        induction_start=np.cumsum(counts) - counts, induction_count=counts,
        induction_day=np.array(induction_day, np.int64), before=np.array(before, np.int64),
        baseline=np.array(baseline, np.int64), endpoint=np.array(endpoint, np.int64),
        excluded=np.array(excluded, np.int8),
        later_start=np.array([s for s, _ in later], np.int64), later_end=np.array([e for _, e in later], np.int64),
        scores=Scores(
            patient=np.array(owners, np.int64),
            day=np.array([day_number(s.day) for s in scores], np.int64),
            total=np.array([s.total for s in scores], float),
            item9=np.array([np.nan if s.item9 is None else s.item9 for s in scores], float),
        ),
    )

