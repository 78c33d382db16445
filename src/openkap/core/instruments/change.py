"""Clinical derivations over two totals: change, response, remission, reliable change.

Definitions are data with their source (reference §15: "keep the definition as data, not
code constants") and every result names the definition it applied. All instruments with
rules here score higher = worse, so improvement is a negative change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .engine import Number, score_range
from .errors import ScoringError
from .registry import get_instrument

RESPONSE_REDUCTION_PERCENT = 50
RCI_CRITICAL = 1.96  # two-tailed p < 0.05 (Jacobson & Truax 1991)

# Read in a peer-reviewed restatement and a trial registration, not in the manual itself.
IAPT_RELIABLE_CHANGE = (
    "IAPT / NHS Talking Therapies reliable improvement: PHQ-9 down 6 or more, GAD-7 down 4 "
    "or more, beyond measurement error. MindStep outcomes, BMC Psychiatry 2018, Table 1, "
    "doi:10.1186/s12888-018-1987-1; also ClinicalTrials.gov NCT05134103 outcome definitions."
)

IMPROVED = "reliable_improvement"
DETERIORATED = "reliable_deterioration"
UNCHANGED = "no_reliable_change"


@dataclass(frozen=True, slots=True)
class RemissionDefinition:
    id: str
    label: str
    threshold: int
    inclusive: bool  # True: total <= threshold; False: total < threshold
    source: str
    verified: bool = True

    def met(self, total: Number) -> bool:
        return total <= self.threshold if self.inclusive else total < self.threshold


@dataclass(frozen=True, slots=True)
class ReliableChange:
    """A change of at least `points` (either way) exceeds measurement error."""

    points: int
    source: str
    verified: bool = True


@dataclass(frozen=True, slots=True)
class ChangeRules:
    instrument_id: str
    remission: tuple[RemissionDefinition, ...]  # the first is the default
    reliable_change: ReliableChange | None = None
    clinically_meaningful_points: int | None = None
    clinically_meaningful_source: str | None = None
    response_source: str = "Response: at least 50% reduction from baseline."


CHANGE_RULES: dict[str, ChangeRules] = {
    rules.instrument_id: rules
    for rules in (
        ChangeRules(
            "phq9",
            (
                RemissionDefinition(
                    "phq9_lt5",
                    "PHQ-9 below 5",
                    5,
                    False,
                    "NQF/MNCM Depression Remission (PHQ-9 < 5); used by McInnes 2022 and Hull "
                    "2022.",
                ),
            ),
            ReliableChange(6, IAPT_RELIABLE_CHANGE),
        ),
        ChangeRules(
            "gad7",
            (
                RemissionDefinition(
                    "gad7_lt5",
                    "GAD-7 below 5",
                    5,
                    False,
                    "By analogy with the PHQ-9 (not a developer definition); used by Hull 2022.",
                    verified=False,
                ),
            ),
            ReliableChange(4, IAPT_RELIABLE_CHANGE),
        ),
        ChangeRules(
            "qidssr16",
            (
                RemissionDefinition(
                    "qids_le5",
                    "QIDS-SR16 5 or less",
                    5,
                    True,
                    "STAR*D: remission = QIDS-SR16 exit score <= 5 (secondary outcome; "
                    "HAM-D17 <= 7 primary). Trivedi MH et al. Am J Psychiatry 2006;163:28-40, "
                    "doi:10.1176/appi.ajp.163.1.28.",
                ),
            ),
        ),
        ChangeRules(
            "madrs",
            (
                RemissionDefinition(
                    "madrs_le10",
                    "MADRS 10 or less",
                    10,
                    True,
                    "Daly et al. 2018, JAMA Psychiatry (esketamine phase 2).",
                ),
                RemissionDefinition(
                    "madrs_le12",
                    "MADRS 12 or less",
                    12,
                    True,
                    "TRANSFORM-2/3 (Popova et al. 2019) and a 2023 IV-ketamine RCT.",
                ),
            ),
        ),
        ChangeRules(
            "pcl5",
            (
                RemissionDefinition(
                    "pcl5_lt33",
                    "PCL-5 below the provisional cut-off 33",
                    33,
                    False,
                    "Below the NCPTSD/CamCOPS provisional cut-off (loss of probable PTSD); not a "
                    "developer-defined remission.",
                    verified=False,
                ),
            ),
            # Corrected from 5: NCPTSD's 5-10 points were evidence for the DSM-IV PCL, which
            # it says is not compatible with PCL-5 scores.
            ReliableChange(
                15,
                "Marx BP, Lee DJ, Norman SB, Bovin MJ, Sloan DM, Weathers FW, Keane TM, "
                "Schnurr PP. Reliable and clinically significant change in the Clinician-"
                "Administered PTSD Scale for DSM-5 and PTSD Checklist for DSM-5 among male "
                "veterans. Psychol Assess 2022;34(2):197-203 (abstract: VA HSR&D citation "
                "157955): PCL-5 reliable change >= 15 (sample 1, N = 198; sample 2, N = 102, "
                "gave >= 18).",
            ),
            clinically_meaningful_points=10,
            clinically_meaningful_source=(
                "Blanchard BE et al. J Trauma Stress 2023;36(6):1102-14, doi:10.1002/jts.22975: "
                "PCL-5 minimal important difference 9-12 points in primary care; NCPTSD gave "
                "10-20 points for the DSM-IV PCL."
            ),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class ChangeResult:
    instrument_id: str
    baseline: Number
    current: Number
    change: Number  # current - baseline; negative = improvement
    percent_change: float | None  # None when the baseline is 0
    response: bool | None  # None when the baseline is 0 or no rule exists
    remission: bool | None
    remission_definition: str | None
    reliable_change: str | None  # IMPROVED / DETERIORATED / UNCHANGED, or None
    reliable_change_points: int | None
    clinically_meaningful: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument_id,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "percent_change": self.percent_change,
            "response": self.response,
            "remission": self.remission,
            "remission_definition": self.remission_definition,
            "reliable_change": self.reliable_change,
            "reliable_change_points": self.reliable_change_points,
            "clinically_meaningful": self.clinically_meaningful,
        }


def change_from_baseline(baseline: Number, current: Number) -> Number:
    return current - baseline


def percent_change(baseline: Number, current: Number) -> float | None:
    """(current - baseline) / baseline x 100; undefined (None) for a baseline of 0."""
    if baseline == 0:
        return None
    return (current - baseline) * 100 / baseline


def is_response(
    baseline: Number, current: Number, *, reduction_percent: int = RESPONSE_REDUCTION_PERCENT
) -> bool | None:
    """At least `reduction_percent` % lower than baseline; None for a baseline of 0."""
    if baseline <= 0:
        return None
    # Cross-multiplied so that exactly 50% is not lost to a rounding error.
    return (baseline - current) * 100 >= reduction_percent * baseline


def change_rules(instrument_id: str) -> ChangeRules | None:
    return CHANGE_RULES.get(get_instrument(instrument_id).id)


def remission_definition(
    instrument_id: str, definition_id: str | None = None
) -> RemissionDefinition:
    rules = change_rules(instrument_id)
    if rules is None:
        raise ScoringError(f"no remission definition for {instrument_id!r}")
    if definition_id is None:
        return rules.remission[0]
    for definition in rules.remission:
        if definition.id == definition_id:
            return definition
    known = ", ".join(d.id for d in rules.remission)
    raise ScoringError(f"unknown remission definition {definition_id!r}; known: {known}")


def is_remission(instrument_id: str, total: Number, *, definition_id: str | None = None) -> bool:
    return remission_definition(instrument_id, definition_id).met(total)


def reliable_change_index(
    baseline: Number, current: Number, *, sd: float, reliability: float
) -> float:
    """Jacobson NS, Truax P. J Consult Clin Psychol 1991;59:12-19.

    RCI = (current - baseline) / S_diff, S_diff = sqrt(2) x SE, SE = sd x sqrt(1 - r), with
    `sd` the baseline standard deviation of a reference sample and `r` the test-retest (or
    internal-consistency) reliability. |RCI| > 1.96 is reliable change.
    """
    if sd <= 0 or not 0 <= reliability < 1:
        raise ScoringError("RCI needs sd > 0 and 0 <= reliability < 1")
    standard_error = sd * math.sqrt(1 - reliability)
    return (current - baseline) / (math.sqrt(2) * standard_error)


def _check_total(instrument_id: str, what: str, total: Number) -> None:
    bounds = score_range(instrument_id)
    if bounds is None:
        raise ScoringError(f"{instrument_id} has no total to compare (it is a triage screen)")
    low, high = bounds
    if isinstance(total, bool) or not low <= total <= high:
        raise ScoringError(f"{what} {total!r} is outside the {instrument_id} range {low}-{high}")


def assess_change(
    instrument_id: str,
    baseline: Number,
    current: Number,
    *,
    remission_definition_id: str | None = None,
) -> ChangeResult:
    """Every derivation for one baseline/current pair, each None where undefined."""
    instrument = get_instrument(instrument_id)
    _check_total(instrument.id, "baseline", baseline)
    _check_total(instrument.id, "current total", current)
    rules = CHANGE_RULES.get(instrument.id)
    change = change_from_baseline(baseline, current)
    remission: RemissionDefinition | None = None
    reliable: str | None = None
    meaningful: bool | None = None
    if rules is not None:
        remission = remission_definition(instrument.id, remission_definition_id)
        if rules.reliable_change is not None:
            points = rules.reliable_change.points
            reliable = (
                IMPROVED if change <= -points else DETERIORATED if change >= points else UNCHANGED
            )
        if rules.clinically_meaningful_points is not None:
            meaningful = -change >= rules.clinically_meaningful_points
    elif remission_definition_id is not None:
        raise ScoringError(f"no remission definition for {instrument.id}")
    return ChangeResult(
        instrument_id=instrument.id,
        baseline=baseline,
        current=current,
        change=change,
        percent_change=percent_change(baseline, current),
        response=None if rules is None else is_response(baseline, current),
        remission=None if remission is None else remission.met(current),
        remission_definition=None if remission is None else remission.id,
        reliable_change=reliable,
        reliable_change_points=(
            None if rules is None or rules.reliable_change is None else rules.reliable_change.points
        ),
        clinically_meaningful=meaningful,
    )
