"""A cohort's outcome on one instrument, in the shapes of the published KAP studies:
the flow of patients with exclusions by reason, one outcome row (Hull 2022), response
and remission by baseline band (McInnes 2022), suicidal-ideation change, the
per-session trajectory and the durability of response (Kaplan-Meier)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import numpy as np

from openkap.core.instruments import get_instrument
from openkap.core.instruments.engine import score_range

from . import stats
from .arrays import ANALYSED, REASONS, Scores, Selection, from_outcomes, ranges, select
from .days import from_day_number
from .definitions import DEFAULT_DEFINITIONS, OutcomeDefinitions
from .patient import ExclusionReason, PatientOutcome, _canonical_id
from .suppression import RULE, SMALL, suppress_count, suppressed_percent

DURABILITY_DAYS = (28, 56)


@dataclass(frozen=True, slots=True)
class BandRow:
    band_id: str
    label: str
    n: int
    responders: int
    remitters: int | None


@dataclass(frozen=True, slots=True)
class SuicidalIdeation:
    """PHQ-9 item 9 among patients who reported thoughts of self-harm at baseline."""

    n_with_si_at_baseline: int
    n_reduced: int  # item 9 lower at endpoint
    n_resolved: int  # item 9 = 0 at endpoint
    n_analysed: int
    n_increased: int  # among all analysed: item 9 higher at endpoint


@dataclass(frozen=True, slots=True)
class TrajectoryPoint:
    label: str
    n: int
    mean: float | None
    ci: stats.Interval | None


def _pct(k: int | None, n: int) -> float | None:
    return None if k is None or n == 0 else round(100 * k / n, 1)


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def _ci(interval: stats.Interval | None, digits: int = 2) -> list[float] | None:
    return None if interval is None else [round(interval.low, digits), round(interval.high, digits)]


@dataclass
class CohortSummary:
    instrument_id: str
    instrument_name: str
    definitions: OutcomeDefinitions
    n_enrolled: int
    exclusions: dict[ExclusionReason, int]
    # The analysed patients' totals in patient order; None when a large cohort keeps only
    # their distinct pairs' counts (`pairs`, ADR 0105).
    baseline: stats.Values | None = field(repr=False)
    endpoint: stats.Values | None = field(repr=False)
    n_response: int
    n_remission: int | None
    n_deteriorated: int | None
    by_baseline_band: list[BandRow]
    suicidal_ideation: SuicidalIdeation | None
    trajectory: list[TrajectoryPoint]
    durability: stats.Survival | None
    has_remission: bool
    has_deterioration: bool
    _stats: dict[str, Any] = field(default_factory=dict, repr=False)
    pairs: stats.Pairs = field(default=None, repr=False)  # type: ignore[assignment] # of the totals when not given

    def __post_init__(self) -> None:
        if self.pairs is None:
            if self.baseline is None or self.endpoint is None:
                raise ValueError("a summary needs the pairs or the totals")
            self.pairs = stats.Pairs.of(self.baseline, self.endpoint)

    def __eq__(self, other: object) -> bool:
        """Field by field, the totals by value (a list or an array)."""
        if not isinstance(other, CohortSummary):
            return NotImplemented
        return all(
            np.array_equal(np.asarray(getattr(self, f.name), float), np.asarray(getattr(other, f.name), float))
            if f.name in ("baseline", "endpoint") else
            np.array_equal(self.pairs.values, other.pairs.values) and np.array_equal(self.pairs.counts,
                                                                                     other.pairs.counts)
            if f.name == "pairs" else getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
        )

    # --- the flow ---------------------------------------------------------------------
    @property
    def n_with_baseline(self) -> int:
        return self.n_enrolled - self.exclusions[ExclusionReason.NO_BASELINE]

    @property
    def n_with_endpoint(self) -> int:
        return (
            self.n_with_baseline
            - self.exclusions[ExclusionReason.ENDPOINT_WINDOW_OPEN]
            - self.exclusions[ExclusionReason.NO_ENDPOINT]
        )

    @property
    def n_analysed(self) -> int:
        return self.pairs.n

    @property
    def why_empty(self) -> str | None:
        """Why no patient could be analysed, in words; None when some were."""
        if self.n_analysed:
            return None
        if self.n_enrolled == 0:
            return "No patient matching the filters had a held dosing session."
        biggest = max(self.exclusions, key=lambda r: self.exclusions[r])
        return (
            f"None of the {self.n_enrolled} enrolled patients had both a baseline and an endpoint; "
            f"the commonest reason: {biggest.describe(self.definitions).lower()}."
        )

    # --- statistics, computed once ------------------------------------------------------
    def stat(self, name: str) -> Any:
        if not self._stats:
            self._stats = self._compute()
        return self._stats[name]

    def _compute(self) -> dict[str, Any]:
        if self.baseline is None or self.endpoint is None:
            return self._compute_from_counts()
        d = self.definitions
        b, e = self.baseline, self.endpoint
        b_mean, b_sd = stats.mean_sd(b)
        e_mean, e_sd = stats.mean_sd(e)
        changes = np.asarray(e, float) - np.asarray(b, float)
        d_ci, dz_ci = stats.bootstrap_d_ci(
            b, e, resamples=d.bootstrap_resamples, seed=d.bootstrap_seed, confidence=d.confidence
        )
        return {
            "baseline_mean": b_mean, "baseline_sd": b_sd, "endpoint_mean": e_mean, "endpoint_sd": e_sd,
            "mean_change": stats.mean_sd(changes)[0], "mean_change_ci": stats.mean_ci(changes, d.confidence),
            "cohens_d": stats.cohens_d(b, e), "cohens_d_ci": d_ci,
            "cohens_dz": stats.cohens_dz(b, e), "cohens_dz_ci": dz_ci,
            "t_test_p": stats.paired_t_p(b, e), "wilcoxon_p": stats.wilcoxon_p(b, e),
        }

    def _compute_from_counts(self) -> dict[str, Any]:
        """`_compute` from the pairs' counts: the same means, the SDs, intervals and p-values
        to rounding, the same bootstrap draws (a property, ADR 0105)."""
        d, pairs = self.definitions, self.pairs
        b_mean, b_sd = stats.mean_sd_of_counts(pairs.baseline, pairs.counts)
        e_mean, e_sd = stats.mean_sd_of_counts(pairs.endpoint, pairs.counts)
        change, change_ci = stats.mean_ci_of_counts(pairs.endpoint - pairs.baseline, pairs.counts, d.confidence)
        d_ci, dz_ci = stats.bootstrap_d_ci_of_pairs(pairs, resamples=d.bootstrap_resamples, seed=d.bootstrap_seed,
                                                    confidence=d.confidence)
        return {
            "baseline_mean": b_mean, "baseline_sd": b_sd, "endpoint_mean": e_mean, "endpoint_sd": e_sd,
            "mean_change": change, "mean_change_ci": change_ci,
            "cohens_d": stats.cohens_d_of_pairs(pairs), "cohens_d_ci": d_ci,
            "cohens_dz": stats.cohens_dz_of_pairs(pairs), "cohens_dz_ci": dz_ci,
            "t_test_p": stats.paired_t_p_of_pairs(pairs), "wilcoxon_p": stats.wilcoxon_p_of_pairs(pairs),
        }

    # --- output -------------------------------------------------------------------------
    def to_dict(self, *, suppress: bool) -> dict[str, Any]:
        """The report as plain data; with `suppress`, the disclosure rule applied."""
        count = suppress_count if suppress else (lambda n: n)
        n = self.n_analysed
        hide = suppress and n <= SMALL

        def pct(k: int | None, total: int) -> float | None:
            if k is None:
                return None
            return suppressed_percent(k, total) if suppress else _pct(k, total)

        def statistic(name: str, digits: int = 2) -> Any:
            if hide:
                return None
            value = self.stat(name)
            return _ci(value, digits) if isinstance(value, stats.Interval) else _r(value, digits)

        def prop_ci(k: int | None) -> list[float] | None:
            return None if k is None or hide else _ci(stats.wilson(k, n, self.definitions.confidence), 1)

        exclusions = [
            {"reason": r.value, "label": r.describe(self.definitions), "n": count(k)}
            for r, k in self.exclusions.items()
        ]
        si = self.suicidal_ideation
        return {
            "instrument": self.instrument_id,
            "instrument_name": self.instrument_name,
            "suppressed": suppress,
            "suppression_rule": RULE if suppress else None,
            "n_enrolled": count(self.n_enrolled),
            "n_with_baseline": count(self.n_with_baseline),
            "n_with_endpoint": count(self.n_with_endpoint),
            "n_analysed": count(n),
            "exclusions": exclusions,
            "why_empty": self.why_empty,
            "baseline_mean": statistic("baseline_mean"),
            "baseline_sd": statistic("baseline_sd"),
            "endpoint_mean": statistic("endpoint_mean"),
            "endpoint_sd": statistic("endpoint_sd"),
            "mean_change": statistic("mean_change"),
            "mean_change_ci": statistic("mean_change_ci"),
            "cohens_d": statistic("cohens_d"),
            "cohens_d_ci": statistic("cohens_d_ci"),
            "cohens_dz": statistic("cohens_dz"),
            "cohens_dz_ci": statistic("cohens_dz_ci"),
            "t_test_p": statistic("t_test_p", 6),
            "wilcoxon_p": statistic("wilcoxon_p", 6),
            "n_response": count(self.n_response),
            "response_pct": pct(self.n_response, n),
            "response_ci": prop_ci(self.n_response),
            "n_remission": None if self.n_remission is None else count(self.n_remission),
            "remission_pct": pct(self.n_remission, n),
            "remission_ci": prop_ci(self.n_remission),
            "n_deteriorated": None if self.n_deteriorated is None else count(self.n_deteriorated),
            "deteriorated_pct": pct(self.n_deteriorated, n),
            "deteriorated_ci": prop_ci(self.n_deteriorated),
            "by_baseline_band": [
                {
                    "band": row.band_id, "label": row.label, "n": count(row.n),
                    "response_pct": pct(row.responders, row.n),
                    "remission_pct": pct(row.remitters, row.n),
                }
                for row in self.by_baseline_band
            ],
            "suicidal_ideation": None if si is None else {
                "n_with_si_at_baseline": count(si.n_with_si_at_baseline),
                "reduced_pct": pct(si.n_reduced, si.n_with_si_at_baseline),
                "resolved_pct": pct(si.n_resolved, si.n_with_si_at_baseline),
                "increased_pct": pct(si.n_increased, si.n_analysed),
            },
            "trajectory": [
                {
                    "label": p.label, "n": count(p.n),
                    "mean": None if suppress and p.n <= SMALL else _r(p.mean),
                    "ci": None if suppress and p.n <= SMALL else _ci(p.ci),
                }
                for p in self.trajectory
            ],
            "durability": self._durability_dict(suppress),
            "definitions": self.definitions.describe(self.instrument_id),
        }

    def _durability_dict(self, suppress: bool) -> dict[str, Any] | None:
        km = self.durability
        if km is None or (suppress and km.n <= SMALL):
            return None
        return {
            "n_responders_followed": suppress_count(km.n) if suppress else km.n,
            "losses_of_response": suppress_count(km.events) if suppress else km.events,
            "still_responding": {f"day_{day}": _r(v, 3) for day, v in km.at.items()},
            "curve": [[round(t, 1), round(s, 4)] for t, s in zip(km.times, km.survival, strict=True)],
            "definition": (
                "Among responders with a later score: days from the endpoint to the first later "
                "score no longer at least 50% below baseline (censored at the last score), whatever "
                "treatment followed."
            ),
        }


def summarise(
    instrument_id: str,
    outcomes: Iterable[PatientOutcome],
    *,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> CohortSummary:
    """The summary of outcomes computed one by one (`patient_outcome`)."""
    return summarise_selection(from_outcomes(instrument_id, outcomes), definitions=definitions)


def _responds(baseline: np.ndarray, current: np.ndarray, definitions: OutcomeDefinitions) -> np.ndarray:
    """`change.is_response` over arrays: cross-multiplied, none for a baseline of 0."""
    reduction = definitions.response_reduction_percent
    responds: np.ndarray = (baseline > 0) & ((baseline - current) * 100 >= reduction * baseline)
    return responds


def band_index(instrument_id: str, totals: np.ndarray) -> np.ndarray:
    """The index of each total's band among the instrument's bands (the first that holds
    it), or -1."""
    index = np.full(len(totals), -1)
    for k, band in enumerate(get_instrument(instrument_id).bands):
        index[(index == -1) & (band.minimum <= totals) & (totals <= band.maximum)] = k
    return index


@dataclass(frozen=True, eq=False)  # arrays: compared as a Tally
class Reduced:
    """What the summary and the experience section need of each enrolled patient of a
    chunk (ascending id), a few numbers each, so that the chunk's per-score arrays can be
    dropped once it is reduced (ADR 0082) and the chunk folded into a `Tally` (ADR 0093). Totals
    are NaN where there is none; trajectory and durability rows carry their patient's id."""

    instrument_id: str
    patients: np.ndarray
    excluded: np.ndarray  # int8: ANALYSED or the index of the reason in REASONS
    first_day: np.ndarray  # of the induction, day numbers
    last_day: np.ndarray
    baseline: np.ndarray
    endpoint: np.ndarray  # NaN also while the endpoint window is open
    baseline_item9: np.ndarray
    endpoint_item9: np.ndarray
    trajectory_patient: np.ndarray  # one row per score before an induction session, patients with a baseline
    trajectory_session: np.ndarray  # 0 for the baseline
    trajectory_total: np.ndarray
    followed_patient: np.ndarray  # one row per analysed responder with a later score
    followed_days: np.ndarray  # from the endpoint to the loss of response or the last score
    followed_lost: np.ndarray

    def __len__(self) -> int:
        return len(self.patients)

    def subset(self, keep: np.ndarray) -> Reduced:
        """The patients where `keep` (a boolean mask) is true."""
        trajectory = np.isin(self.trajectory_patient, self.patients[keep])
        followed = np.isin(self.followed_patient, self.patients[keep])
        return Reduced(
            self.instrument_id, self.patients[keep], self.excluded[keep], self.first_day[keep], self.last_day[keep],
            self.baseline[keep], self.endpoint[keep], self.baseline_item9[keep], self.endpoint_item9[keep],
            self.trajectory_patient[trajectory], self.trajectory_session[trajectory],
            self.trajectory_total[trajectory], self.followed_patient[followed], self.followed_days[followed],
            self.followed_lost[followed],
        )

    def analysed(self, patient_id: int) -> Analysed | None:
        """The patient's induction and totals if the patient is analysed, else None."""
        i = int(np.searchsorted(self.patients, patient_id))
        if i == len(self) or self.patients[i] != patient_id or self.excluded[i] != ANALYSED:
            return None
        return Analysed(from_day_number(int(self.first_day[i])), from_day_number(int(self.last_day[i])),
                        float(self.baseline[i]), float(self.endpoint[i]))


@dataclass(frozen=True, slots=True)
class Analysed:
    """An analysed patient's induction days and baseline and endpoint totals."""

    first_day: date
    last_day: date
    baseline: float
    endpoint: float


def _at(index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values[index], NaN where the index is -1."""
    if len(values) == 0:
        return np.full(len(index), np.nan)
    found: np.ndarray = np.where(index >= 0, values[np.maximum(index, 0)], np.nan)
    return found


def reduce(selection: Selection, *, definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS) -> Reduced:
    """A selection's per-patient outputs, without its scores."""
    total, item9, days = selection.scores.total, selection.scores.item9, selection.scores.day
    counts, starts = selection.induction_count, selection.induction_start
    n = len(selection)
    first = selection.induction_day[starts] if n else np.zeros(0, np.int64)
    last = selection.induction_day[starts + counts - 1] if n else np.zeros(0, np.int64)

    # The trajectory: the score before each induction session of every patient with a baseline.
    session_number = np.arange(len(selection.before)) - np.repeat(starts, counts)
    shown = np.repeat(selection.baseline >= 0, counts) & (selection.before >= 0)

    # Durability: among analysed responders with later scores, days from the endpoint to
    # the first later score no longer a response, censored at the last one.
    analysed = np.flatnonzero(selection.excluded == ANALYSED)
    e_index = selection.endpoint[analysed]
    b = total[selection.baseline[analysed]]
    responds = _responds(b, total[e_index], definitions)
    followed = np.flatnonzero(responds & (selection.later_end[analysed] > selection.later_start[analysed]))
    starts_later, ends = selection.later_start[analysed][followed], selection.later_end[analysed][followed]
    later = ranges(starts_later, ends - starts_later)
    group = np.cumsum(ends - starts_later) - (ends - starts_later)
    lost_at = np.where(~_responds(np.repeat(b[followed], ends - starts_later), total[later], definitions),
                       np.arange(len(later)), len(later))
    first_lost = np.minimum.reduceat(lost_at, group) if len(later) else np.zeros(0, np.int64)
    lost = first_lost < len(later)
    stop = later[np.where(lost, first_lost, group + (ends - starts_later) - 1)]

    return Reduced(
        instrument_id=selection.instrument_id, patients=selection.patients, excluded=selection.excluded,
        first_day=first, last_day=last,
        baseline=_at(selection.baseline, total), endpoint=_at(selection.endpoint, total),
        baseline_item9=_at(selection.baseline, item9), endpoint_item9=_at(selection.endpoint, item9),
        trajectory_patient=np.repeat(selection.patients, counts)[shown], trajectory_session=session_number[shown],
        trajectory_total=total[selection.before[shown]],
        followed_patient=selection.patients[analysed][followed],
        followed_days=(days[stop] - days[e_index[followed]]).astype(float), followed_lost=lost,
    )


def patient_ranges(patients: np.ndarray, size: int) -> list[tuple[int, int]]:
    """The first and last id of each run of `size` patients (`patients` ascending)."""
    return [(int(patients[k]), int(patients[min(k + size, len(patients)) - 1])) for k in range(0, len(patients), size)]


def reduce_chunks(
    chunks: Iterable[tuple[np.ndarray, np.ndarray, Scores]],
    instrument_id: str,
    *,
    as_of: date,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> Iterator[Reduced]:
    """`select` and `reduce` chunk by chunk (session patients, session days, scores), each
    chunk holding whole patients: each chunk's scores can be dropped once it is reduced."""
    for patient, day, scores in chunks:
        yield reduce(select(patient, day, scores, instrument_id, as_of=as_of, definitions=definitions),
                     definitions=definitions)


# Up to this many analysed patients (or 8 times the distinct pairs an instrument's whole
# totals can make, if more) their pairs are kept in patient order, as before ADR 0105.
ORDERED_PAIRS = 50_000


@dataclass
class Tally:
    """A cohort's reduced chunks folded as they come, so that nothing a patient is kept
    across chunks: counts of exclusions, suicidal ideation, per distinct (session number,
    total) for the trajectory and (lost, days) for durability (ADR 0093), and per distinct
    (baseline, endpoint) pair of the analysed patients (ADR 0105), bounded by the distinct
    values. The pairs are also kept in patient order (16 bytes an analysed patient) up to
    `ORDERED_PAIRS`, where the statistics are computed patient by patient as before and
    the bootstrap may draw patients one by one (K > n/8 distinct pairs, ADR 0082); past
    it, if every total is a whole number in the instrument's range, they are dropped and
    the statistics come from the counts. Chunks must come in ascending patient order."""

    instrument_id: str
    n_enrolled: int = 0
    exclusions: list[int] = field(default_factory=lambda: [0] * len(REASONS))
    # With item 9 above 0 at baseline, of them lower at endpoint, of them 0 at endpoint;
    # among all analysed with both answers, higher at endpoint.
    suicidal_ideation: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    trajectory: Counter[tuple[int, float]] = field(default_factory=Counter)
    durability: Counter[tuple[bool, float]] = field(default_factory=Counter)  # (lost, days)
    pairs: Counter[tuple[float, float]] = field(default_factory=Counter)
    baseline_parts: list[np.ndarray] = field(default_factory=list, repr=False)
    endpoint_parts: list[np.ndarray] = field(default_factory=list, repr=False)
    ordered: bool = True  # the parts hold every analysed patient's pair
    whole_in_range: bool = True  # every total so far a whole number in the instrument's range
    last_patient: int | None = None

    @classmethod
    def of(cls, instrument_id: str, parts: Iterable[Reduced]) -> Tally:
        tally = cls(_canonical_id(instrument_id))
        for part in parts:
            tally.add(part)
        return tally

    def add(self, reduced: Reduced) -> None:
        patients = reduced.patients
        if len(patients):
            if self.last_patient is not None and patients.min() <= self.last_patient:
                raise ValueError("Chunks must hold whole patients in ascending order.")
            self.last_patient = int(patients.max())
        self.n_enrolled += len(reduced)
        codes = reduced.excluded
        for k in range(len(REASONS)):
            self.exclusions[k] += int(np.count_nonzero(codes == k))
        analysed = codes == ANALYSED
        b, e = reduced.baseline[analysed], reduced.endpoint[analysed]
        values, counts = stats.distinct_pairs(b, e)
        for (baseline, endpoint), n in zip(values.tolist(), counts.tolist(), strict=True):
            self.pairs[(baseline, endpoint)] += n
        low, high = score_bounds(self.instrument_id)
        self.whole_in_range &= bool(np.all((values == np.floor(values)) & (values >= low) & (values <= high)))
        if self.ordered:
            self.baseline_parts.append(b)
            self.endpoint_parts.append(e)
            most = max(ORDERED_PAIRS, 8 * int(high - low + 1) ** 2)
            if self.whole_in_range and self.pairs.total() > most:
                self.ordered, self.baseline_parts, self.endpoint_parts = False, [], []
        b9, e9 = reduced.baseline_item9[analysed], reduced.endpoint_item9[analysed]
        both = ~np.isnan(b9) & ~np.isnan(e9)
        with_si = both & (b9 > 0)
        for k, mask in enumerate((with_si, with_si & (e9 < b9), with_si & (e9 == 0), both & (e9 > b9))):
            self.suicidal_ideation[k] += int(np.count_nonzero(mask))
        _count(self.trajectory, reduced.trajectory_session, reduced.trajectory_total)
        _count(self.durability, reduced.followed_lost, reduced.followed_days)

    @property
    def baseline(self) -> np.ndarray | None:
        return np.concatenate([np.zeros(0), *self.baseline_parts]) if self.ordered else None

    @property
    def endpoint(self) -> np.ndarray | None:
        return np.concatenate([np.zeros(0), *self.endpoint_parts]) if self.ordered else None

    def pair_counts(self) -> stats.Pairs:
        """The distinct pairs in `distinct_pairs`' order, with their counts."""
        ordered = sorted(self.pairs.items())
        return stats.Pairs(np.array([pair for pair, _ in ordered], float).reshape(-1, 2),
                           np.array([n for _, n in ordered], np.int64))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tally):
            return NotImplemented
        return (
            (self.instrument_id, self.n_enrolled, self.exclusions, self.suicidal_ideation, self.trajectory,
             self.durability, self.pairs, self.ordered) == (
                other.instrument_id, other.n_enrolled, other.exclusions, other.suicidal_ideation, other.trajectory,
                other.durability, other.pairs, other.ordered)
            and np.array_equal(np.asarray(self.baseline, float), np.asarray(other.baseline, float))
            and np.array_equal(np.asarray(self.endpoint, float), np.asarray(other.endpoint, float))
        )

    def summary(self, definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS) -> CohortSummary:
        """The cohort's summary."""
        instrument = get_instrument(self.instrument_id)
        remission = definitions.remission(instrument.id)
        rci = definitions.reliable_change_points(instrument.id)
        pairs = self.pair_counts()
        # Patients counted pair by pair: each distinct pair once, times its count.
        b, e, counts = pairs.baseline, pairs.endpoint, pairs.counts
        responds = _responds(b, e, definitions)
        if remission is None:
            remits = np.zeros(len(e), bool)
        else:
            remits = e <= remission.threshold if remission.inclusive else e < remission.threshold
        band_of = band_index(instrument.id, b)
        with_si, reduced, resolved, increased = self.suicidal_ideation

        def patients(mask: np.ndarray) -> int:
            return int(counts[mask].sum())

        trajectory = []
        for k in sorted({k for k, _ in self.trajectory}):
            values = [(total, n) for (session, total), n in self.trajectory.items() if session == k]
            mean, ci = stats.mean_ci_of_counts([v for v, _ in values], [n for _, n in values], definitions.confidence)
            trajectory.append(TrajectoryPoint("Baseline" if k == 0 else f"Before session {k + 1}",
                                              sum(n for _, n in values), mean, ci))
        ordered_endpoint = self.endpoint
        if ordered_endpoint is not None:
            endpoint_mean, endpoint_ci = stats.mean_sd(ordered_endpoint)[0], stats.mean_ci(ordered_endpoint,
                                                                                          definitions.confidence)
        else:
            endpoint_mean, endpoint_ci = stats.mean_ci_of_counts(e, counts, definitions.confidence)
        trajectory.append(TrajectoryPoint("Endpoint", pairs.n, endpoint_mean, endpoint_ci))
        followed = sorted(((days, lost), n) for (lost, days), n in self.durability.items())

        return CohortSummary(
            instrument_id=instrument.id,
            instrument_name=instrument.short_name,
            definitions=definitions,
            n_enrolled=self.n_enrolled,
            exclusions={reason: self.exclusions[k] for k, reason in enumerate(REASONS)},
            baseline=self.baseline,
            endpoint=ordered_endpoint,
            n_response=patients(responds),
            n_remission=patients(remits) if remission else None,
            n_deteriorated=patients(e - b >= rci) if rci is not None else None,
            by_baseline_band=[
                BandRow(band.id, band.label, patients(band_of == k), patients(responds & (band_of == k)),
                        patients(remits & (band_of == k)) if remission else None)
                for k, band in enumerate(instrument.bands)
            ],
            suicidal_ideation=(SuicidalIdeation(with_si, reduced, resolved, pairs.n, increased)
                               if instrument.id == "phq9" else None),
            trajectory=trajectory,
            durability=stats.kaplan_meier([days for (days, _), _ in followed], [lost for (_, lost), _ in followed],
                                          at_days=DURABILITY_DAYS, counts=[n for _, n in followed]),
            has_remission=remission is not None,
            has_deterioration=rci is not None,
            pairs=pairs,
        )


def _count(counter: Counter[tuple[Any, Any]], key: np.ndarray, values: np.ndarray) -> None:
    """Add the number of times each distinct (key, value) pair occurs, `key` taking few
    values: one 1-d `np.unique` a key (NumPy's unique rows sort 15 times slower)."""
    for k in np.unique(key).tolist():
        distinct, counts = np.unique(values[key == k], return_counts=True)
        for value, n in zip(distinct.tolist(), counts.tolist(), strict=True):
            counter[(k, value)] += n


def in_baseline_band(reduced: Reduced, band_id: str) -> np.ndarray:
    """Which patients have a baseline in the band `band_id` (a boolean mask)."""
    ids = [band.id for band in get_instrument(reduced.instrument_id).bands]
    mask: np.ndarray = band_index(reduced.instrument_id, reduced.baseline) == ids.index(band_id)
    return mask


def summarise_selection(
    selection: Selection,
    *,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> CohortSummary:
    """The cohort's summary from every enrolled patient's selected scores, over arrays."""
    return summarise_reduced(reduce(selection, definitions=definitions), definitions=definitions)


def summarise_reduced(
    reduced: Reduced,
    *,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> CohortSummary:
    """The cohort's summary from every enrolled patient's per-patient outputs."""
    return Tally.of(reduced.instrument_id, [reduced]).summary(definitions)


def score_bounds(instrument_id: str) -> tuple[float, float]:
    bounds = score_range(instrument_id)
    return (0.0, 1.0) if bounds is None else (float(bounds[0]), float(bounds[1]))
