"""Outcomes of a course of treatment: the definitions (series, baseline, endpoint,
response, remission, deterioration) as data, each patient's outcome, and the cohort
statistics of the published KAP studies (Dore 2019, McInnes 2022, Hull 2022).

No Django here: the `openkap.outcomes` app reads the rows and hands plain values in.
"""

from .cohort import CohortSummary, summarise
from .definitions import DEFAULT_DEFINITIONS, OutcomeDefinitions
from .patient import (
    ExclusionReason,
    PatientInput,
    PatientOutcome,
    Score,
    patient_outcome,
    split_series,
)
from .suppression import suppress_count

__all__ = [
    "DEFAULT_DEFINITIONS",
    "CohortSummary",
    "ExclusionReason",
    "OutcomeDefinitions",
    "PatientInput",
    "PatientOutcome",
    "Score",
    "patient_outcome",
    "split_series",
    "summarise",
    "suppress_count",
]
