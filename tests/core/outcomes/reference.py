"""The cohort summary as it was written before the array version (ADR 0082): one loop
over the outcomes, kept here as the test oracle that `summarise_selection` must equal."""

from __future__ import annotations

from collections.abc import Iterable

from openkap.core.instruments import get_instrument
from openkap.core.outcomes import stats
from openkap.core.outcomes.cohort import (
    DURABILITY_DAYS,
    BandRow,
    CohortSummary,
    SuicidalIdeation,
    TrajectoryPoint,
)
from openkap.core.outcomes.definitions import DEFAULT_DEFINITIONS, OutcomeDefinitions
from openkap.core.outcomes.patient import ExclusionReason, PatientOutcome, responded


def reference_summarise(
    instrument_id: str,
    outcomes: Iterable[PatientOutcome],
    *,
    definitions: OutcomeDefinitions = DEFAULT_DEFINITIONS,
) -> CohortSummary:
    """One pass over the enrolled patients' outcomes (streamed; only the analysed pairs
    are kept)."""
    instrument = get_instrument(instrument_id)
    remission = definitions.remission(instrument.id)
    rci = definitions.reliable_change_points(instrument.id)
    bands = list(instrument.bands)
    band_counts = {band.id: [0, 0, 0] for band in bands}
    exclusions = dict.fromkeys(ExclusionReason, 0)
    baseline: list[float] = []
    endpoint: list[float] = []
    n_enrolled = n_response = n_remission = n_deteriorated = 0
    si = [0, 0, 0, 0]  # with SI at baseline, reduced, resolved, increased (any)
    by_session: dict[int, list[float]] = {}
    at_endpoint: list[float] = []
    km_durations: list[float] = []
    km_events: list[bool] = []
    for outcome in outcomes:
        n_enrolled += 1
        for k, score in enumerate(outcome.before_session):
            if score is not None and outcome.baseline is not None:
                by_session.setdefault(k, []).append(score.total)
        if outcome.excluded is not None:
            exclusions[outcome.excluded] += 1
            continue
        assert outcome.baseline is not None
        assert outcome.endpoint is not None
        b, e = outcome.baseline.total, outcome.endpoint.total
        baseline.append(b)
        endpoint.append(e)
        at_endpoint.append(e)
        resp = responded(outcome, e, definitions)
        remit = remission.met(e) if remission else False
        n_response += resp
        n_remission += remit
        if rci is not None and e - b >= rci:
            n_deteriorated += 1
        band = next((x for x in bands if x.minimum <= b <= x.maximum), None)
        if band is not None:
            row = band_counts[band.id]
            row[0] += 1
            row[1] += resp
            row[2] += remit
        if instrument.id == "phq9" and outcome.baseline.item9 is not None and outcome.endpoint.item9 is not None:
            b9, e9 = outcome.baseline.item9, outcome.endpoint.item9
            if b9 > 0:
                si[0] += 1
                si[1] += e9 < b9
                si[2] += e9 == 0
            si[3] += e9 > b9
        if resp and outcome.later_scores:
            lost = next((s for s in outcome.later_scores if not responded(outcome, s.total, definitions)), None)
            last = lost or outcome.later_scores[-1]
            km_durations.append(float((last.day - outcome.endpoint.day).days))
            km_events.append(lost is not None)
    trajectory = [
        TrajectoryPoint(
            "Baseline" if k == 0 else f"Before session {k + 1}",
            len(values), stats.mean_sd(values)[0], stats.mean_ci(values, definitions.confidence),
        )
        for k, values in sorted(by_session.items())
    ]
    trajectory.append(
        TrajectoryPoint("Endpoint", len(at_endpoint), stats.mean_sd(at_endpoint)[0],
                        stats.mean_ci(at_endpoint, definitions.confidence))
    )
    return CohortSummary(
        instrument_id=instrument.id,
        instrument_name=instrument.short_name,
        definitions=definitions,
        n_enrolled=n_enrolled,
        exclusions=exclusions,
        baseline=baseline,
        endpoint=endpoint,
        n_response=n_response,
        n_remission=n_remission if remission else None,
        n_deteriorated=n_deteriorated if rci is not None else None,
        by_baseline_band=[
            BandRow(band.id, band.label, band_counts[band.id][0], band_counts[band.id][1],
                    band_counts[band.id][2] if remission else None)
            for band in bands
        ],
        suicidal_ideation=(
            SuicidalIdeation(si[0], si[1], si[2], len(baseline), si[3]) if instrument.id == "phq9" else None
        ),
        trajectory=trajectory,
        durability=stats.kaplan_meier(km_durations, km_events, at_days=DURABILITY_DAYS),
        has_remission=remission is not None,
        has_deterioration=rci is not None,
    )

