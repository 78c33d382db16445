"""The report's definitions as data: each report prints the ones it applied.

Defaults follow McInnes et al. 2022 (J Affect Disord, doi:10.1016/j.jad.2021.12.097):
induction = the first series of sessions, endpoint 14-31 days after it, response a
drop of at least 50 %, remission per instrument; deterioration is a rise of at least
the instrument's reliable-change threshold (core.instruments.change).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from openkap.core.instruments import get_instrument
from openkap.core.instruments.change import (
    CHANGE_RULES,
    RESPONSE_REDUCTION_PERCENT,
    RemissionDefinition,
    remission_definition,
)
from openkap.core.instruments.errors import ScoringError


@dataclass(frozen=True, slots=True)
class OutcomeDefinitions:
    series_gap_days: int = 28
    baseline_window_days: int = 30
    endpoint_from_days: int = 14
    endpoint_to_days: int = 31
    response_reduction_percent: int = RESPONSE_REDUCTION_PERCENT
    bootstrap_resamples: int = 2000
    bootstrap_seed: int = 20260101
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.series_gap_days < 1 or self.baseline_window_days < 0:
            raise ValueError("the series gap must be at least 1 day and the baseline window 0 or more")
        if not 0 <= self.endpoint_from_days <= self.endpoint_to_days:
            raise ValueError("the endpoint window must run forwards from 0 days or later")
        if self.endpoint_to_days > 365:
            raise ValueError("the endpoint window must end within 365 days of the induction")
        if not 1 <= self.response_reduction_percent <= 100:
            raise ValueError("response is a reduction of 1-100 %")
        if self.bootstrap_resamples < 100:
            raise ValueError("at least 100 bootstrap resamples")

    def with_endpoint(self, from_days: int, to_days: int) -> OutcomeDefinitions:
        return replace(self, endpoint_from_days=from_days, endpoint_to_days=to_days)

    def remission(self, instrument_id: str) -> RemissionDefinition | None:
        try:
            return remission_definition(instrument_id)
        except ScoringError:
            return None

    def reliable_change_points(self, instrument_id: str) -> int | None:
        rules = CHANGE_RULES.get(get_instrument(instrument_id).id)
        return None if rules is None or rules.reliable_change is None else rules.reliable_change.points

    def describe(self, instrument_id: str) -> dict[str, Any]:
        """Every definition in words, with the numbers, for the report's footnotes."""
        instrument = get_instrument(instrument_id)
        remission = self.remission(instrument.id)
        rci = self.reliable_change_points(instrument.id)
        rules = CHANGE_RULES.get(instrument.id)
        return {
            "parameters": asdict(self),
            "series": (
                f"Consecutive held dosing sessions no more than {self.series_gap_days} days apart; "
                "the first series is the induction."
            ),
            "baseline": (
                f"The latest {instrument.short_name} total in the {self.baseline_window_days} days up to "
                "and including the day of the first dosing session."
            ),
            "endpoint": (
                f"The latest {instrument.short_name} total {self.endpoint_from_days}–{self.endpoint_to_days} "
                "days after the last session of the induction."
            ),
            "response": (
                f"Endpoint at least {self.response_reduction_percent}% below baseline. "
                + (rules.response_source if rules else "")
            ).strip(),
            "remission": (
                f"{remission.label} at endpoint. Source: {remission.source}"
                if remission else f"No remission definition for {instrument.short_name}."
            ),
            "deterioration": (
                f"Endpoint at least {rci} points above baseline (reliable change). "
                f"Source: {rules.reliable_change.source}"  # type: ignore[union-attr]
                if rci is not None else f"No reliable-change threshold for {instrument.short_name}."
            ),
            "effect_size": (
                "Cohen's d = (baseline mean − endpoint mean) ÷ baseline SD (positive = improvement); "
                "d_z = mean paired improvement ÷ SD of the paired differences. "
                f"{int(self.confidence * 100)}% CIs by percentile bootstrap over patients "
                f"({self.bootstrap_resamples} resamples, seed {self.bootstrap_seed}); proportions "
                "with Wilson intervals; paired t-test and Wilcoxon signed-rank p-values (SciPy)."
            ),
            "analysed": (
                "Patients with a baseline and an endpoint; a baseline of 0 leaves percent change "
                "undefined and is excluded."
            ),
            "unit": "One row per patient: the first series of the patient's held dosing sessions.",
        }


DEFAULT_DEFINITIONS = OutcomeDefinitions()
