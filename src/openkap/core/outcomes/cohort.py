"""A cohort's outcome on one instrument, in the shapes of the published KAP studies:
the flow of patients with exclusions by reason, one outcome row (Hull 2022), response
and remission by baseline band (McInnes 2022), suicidal-ideation change, the
per-session trajectory and the durability of response (Kaplan-Meier)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openkap.core.instruments import get_instrument
from openkap.core.instruments.engine import score_range

from . import stats
from .arrays import ANALYSED, REASONS, Selection, from_outcomes, ranges
from .definitions import DEFAULT_DEFINITIONS, OutcomeDefinitions
from .patient import ExclusionReason, PatientOutcome
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
    baseline: list[float] = field(repr=False)
    endpoint: list[float] = field(repr=False)
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
        return len(self.baseline)

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
        d = self.definitions
        b, e = self.baseline, self.endpoint
        b_mean, b_sd = stats.mean_sd(b)
        e_mean, e_sd = stats.mean_sd(e)
        changes = [y - x for x, y in zip(b, e, strict=True)]
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


def in_baseline_band(selection: Selection, band_id: str) -> np.ndarray:
    """Which patients have a baseline in the band `band_id` (a boolean mask)."""
    ids = [band.id for band in get_instrument(selection.instrument_id).bands]
    band_of = band_index(selection.instrument_id, selection.scores.total[np.maximum(selection.baseline, 0)])
    mask: np.ndarray = (selection.baseline >= 0) & (band_of == ids.index(band_id))
    return mask


def summarise_selection(
    selection: Selection,
    *,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> CohortSummary:
    """The cohort's summary from every enrolled patient's selected scores, over arrays."""
    instrument = get_instrument(selection.instrument_id)
    remission = definitions.remission(instrument.id)
    rci = definitions.reliable_change_points(instrument.id)
    total, item9 = selection.scores.total, selection.scores.item9
    codes = selection.excluded
    exclusions = {reason: int(np.count_nonzero(codes == k)) for k, reason in enumerate(REASONS)}
    analysed = np.flatnonzero(codes == ANALYSED)
    b_index, e_index = selection.baseline[analysed], selection.endpoint[analysed]
    b, e = total[b_index], total[e_index]
    responds = _responds(b, e, definitions)
    if remission is None:
        remits = np.zeros(len(e), bool)
    else:
        remits = e <= remission.threshold if remission.inclusive else e < remission.threshold
    bands = list(instrument.bands)
    band_of = band_index(instrument.id, b)

    suicidal_ideation = None
    if instrument.id == "phq9":
        b9, e9 = item9[b_index], item9[e_index]
        both = ~np.isnan(b9) & ~np.isnan(e9)
        with_si = both & (b9 > 0)
        suicidal_ideation = SuicidalIdeation(
            int(with_si.sum()), int((with_si & (e9 < b9)).sum()), int((with_si & (e9 == 0)).sum()),
            len(b), int((both & (e9 > b9)).sum()),
        )

    # The trajectory: the score before each induction session of every patient with a baseline.
    counts = selection.induction_count
    session_number = np.arange(len(selection.before)) - np.repeat(selection.induction_start, counts)
    shown = np.repeat(selection.baseline >= 0, counts) & (selection.before >= 0)
    trajectory = []
    for k in np.unique(session_number[shown]).tolist():
        values = total[selection.before[shown & (session_number == k)]]
        trajectory.append(TrajectoryPoint("Baseline" if k == 0 else f"Before session {k + 1}", len(values),
                                          stats.mean_sd(values)[0], stats.mean_ci(values, definitions.confidence)))
    trajectory.append(TrajectoryPoint("Endpoint", len(e), stats.mean_sd(e)[0], stats.mean_ci(e, definitions.confidence)))

    # Durability: among responders with later scores, days from the endpoint to the first
    # later score no longer a response, censored at the last one.
    followed = np.flatnonzero(responds & (selection.later_end[analysed] > selection.later_start[analysed]))
    starts, ends = selection.later_start[analysed][followed], selection.later_end[analysed][followed]
    later = ranges(starts, ends - starts)
    group = np.cumsum(ends - starts) - (ends - starts)
    lost_at = np.where(~_responds(np.repeat(b[followed], ends - starts), total[later], definitions),
                       np.arange(len(later)), len(later))
    first_lost = np.minimum.reduceat(lost_at, group) if len(later) else np.zeros(0, np.int64)
    lost = first_lost < len(later)
    stop = later[np.where(lost, first_lost, group + (ends - starts) - 1)]
    days = selection.scores.day
    durations = (days[stop] - days[e_index[followed]]).astype(float)

    return CohortSummary(
        instrument_id=instrument.id,
        instrument_name=instrument.short_name,
        definitions=definitions,
        n_enrolled=len(selection),
        exclusions=exclusions,
        baseline=b.tolist(),
        endpoint=e.tolist(),
        n_response=int(responds.sum()),
        n_remission=int(remits.sum()) if remission else None,
        n_deteriorated=int(np.count_nonzero(e - b >= rci)) if rci is not None else None,
        by_baseline_band=[
            BandRow(band.id, band.label, int((band_of == k).sum()), int((responds & (band_of == k)).sum()),
                    int((remits & (band_of == k)).sum()) if remission else None)
            for k, band in enumerate(bands)
        ],
        suicidal_ideation=suicidal_ideation,
        trajectory=trajectory,
        durability=stats.kaplan_meier(durations.tolist(), lost.tolist(), at_days=DURABILITY_DAYS),
        has_remission=remission is not None,
        has_deterioration=rci is not None,
    )


def score_bounds(instrument_id: str) -> tuple[float, float]:
    bounds = score_range(instrument_id)
    return (0.0, 1.0) if bounds is None else (float(bounds[0]), float(bounds[1]))
