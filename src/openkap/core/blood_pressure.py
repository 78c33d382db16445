"""Blood pressure around a dose (issue 12): the SPRAVATO label's rules, and the
hypertensive-crisis range that alarms on every route.

SPRAVATO (esketamine) US prescribing information, 2.1 and 5.6 (Increase in Blood
Pressure), as quoted in shared/reference/dosing_pk.md 1.5 and 2.1:

- "Assess blood pressure prior to dosing with SPRAVATO. If baseline blood pressure is
  elevated (e.g., >140 mmHg systolic, >90 mmHg diastolic), consider the risk of short
  term increases in blood pressure and benefit of SPRAVATO treatment. Do not administer
  SPRAVATO if an increase in blood pressure or intracranial pressure poses a serious risk."
- "After dosing with SPRAVATO, reassess blood pressure at approximately 40 minutes
  (which corresponds to the Cmax) and subsequently as clinically warranted."
- "If blood pressure is decreasing and the patient appears clinically stable for at
  least two hours, the patient may be discharged at the end of the post-dose monitoring
  period; if not, continue to monitor."
- "If blood pressure remains high, promptly seek assistance from practitioners
  experienced in blood pressure management. Refer patients experiencing symptoms of a
  hypertensive crisis ... immediately for emergency care."

Hypertensive crisis: systolic >180 and/or diastolic >120 mmHg (Whelton PK et al. 2017
ACC/AHA guideline, Hypertension 2018;71:e13-e115, section 11.2); OpenKAP alarms from 180
and 120 inclusive so that the boundary reading is not let through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# SPRAVATO label: "e.g., >140 mmHg systolic, >90 mmHg diastolic".
REVIEW_SYSTOLIC: Final = 140
REVIEW_DIASTOLIC: Final = 90
# ACC/AHA hypertensive crisis, at the boundary.
CRISIS_SYSTOLIC: Final = 180
CRISIS_DIASTOLIC: Final = 120
# "approximately 40 minutes": a reading from 35 minutes after the first device counts.
POST_DOSE_CHECK_MIN: Final = 40
POST_DOSE_CHECK_EARLIEST_MIN: Final = 35

SEEK_EXPERT_HELP: Final = (
    "Blood pressure remains high: promptly seek assistance from a practitioner experienced "
    "in blood pressure management (SPRAVATO label 5.6); with symptoms of a hypertensive "
    "crisis (chest pain, shortness of breath, sudden severe headache, visual disturbance, "
    "seizure, reduced consciousness, focal neurological deficit) refer immediately for "
    "emergency care. Keep monitoring; do not discharge."
)


def _bp(systolic: int, diastolic: int) -> str:
    return f"{systolic}/{diastolic} mmHg"


def is_crisis(systolic: int, diastolic: int) -> bool:
    return systolic >= CRISIS_SYSTOLIC or diastolic >= CRISIS_DIASTOLIC


def crisis_message(systolic: int, diastolic: int) -> str:
    return (
        f"Blood pressure {_bp(systolic, diastolic)} is in the hypertensive-crisis range "
        f"(systolic {CRISIS_SYSTOLIC} or more, or diastolic {CRISIS_DIASTOLIC} or more): "
        "recheck at once; with symptoms (chest pain, shortness of breath, severe headache, "
        "visual change, confusion) send for emergency care."
    )


class PreDoseBp(StrEnum):
    ACCEPTABLE = "acceptable"
    # Above 140/90: the prescriber documents the weighing of risk and benefit first.
    NEEDS_DECISION = "needs_decision"
    # In the crisis range: an increase would be a serious risk; no dose.
    CRISIS = "crisis"


@dataclass(frozen=True)
class PreDoseAssessment:
    status: PreDoseBp
    message: str


def assess_pre_dose(systolic: int, diastolic: int) -> PreDoseAssessment:
    """The measured pre-dose blood pressure against the label's 140/90 and the crisis range."""
    reading = _bp(systolic, diastolic)
    if is_crisis(systolic, diastolic):
        return PreDoseAssessment(
            PreDoseBp.CRISIS,
            f"Pre-dose blood pressure {reading} is in the hypertensive-crisis range: do not "
            "dose (an increase in blood pressure poses a serious risk; SPRAVATO label 5.6).",
        )
    if systolic > REVIEW_SYSTOLIC or diastolic > REVIEW_DIASTOLIC:
        return PreDoseAssessment(
            PreDoseBp.NEEDS_DECISION,
            f"Pre-dose blood pressure {reading} is above {REVIEW_SYSTOLIC}/{REVIEW_DIASTOLIC} "
            "mmHg: the prescriber weighs the risk of a short-term rise against the benefit "
            "and documents the decision before dosing (SPRAVATO label 2.1).",
        )
    return PreDoseAssessment(PreDoseBp.ACCEPTABLE, f"Pre-dose blood pressure {reading}.")


@dataclass(frozen=True)
class BpReading:
    minutes_after_dose: float
    systolic: int
    diastolic: int


class DischargeBp(StrEnum):
    # Within 140/90, or back to (or below) the pre-dose reading.
    ACCEPTABLE = "acceptable"
    # Lower than the reading before it: the label allows discharge when stable.
    DECREASING = "decreasing"
    NO_POST_DOSE_CHECK = "no_post_dose_check"
    STILL_HIGH = "still_high"

    @property
    def allows_discharge(self) -> bool:
        return self in (DischargeBp.ACCEPTABLE, DischargeBp.DECREASING)


@dataclass(frozen=True)
class DischargeBpAssessment:
    status: DischargeBp
    message: str


def assess_discharge(
    pre_dose: tuple[int, int] | None, post_dose: Sequence[BpReading]
) -> DischargeBpAssessment:
    """Whether the blood pressure allows discharge after esketamine.

    ``post_dose`` are the readings after the first device, in any order. The latest
    decides: acceptable (within 140/90 or at or below the pre-dose reading), decreasing
    (lower systolic and no higher diastolic than the reading before it, out of the crisis
    range), or still high. A reading about 40 minutes after the dose is required first.
    """
    readings = sorted(post_dose, key=lambda r: r.minutes_after_dose)
    if not any(r.minutes_after_dose >= POST_DOSE_CHECK_EARLIEST_MIN for r in readings):
        return DischargeBpAssessment(
            DischargeBp.NO_POST_DOSE_CHECK,
            f"No blood pressure about {POST_DOSE_CHECK_MIN} minutes after the dose (at its "
            "peak): take one before discharge (SPRAVATO label 2.1).",
        )
    latest = readings[-1]
    reading = _bp(latest.systolic, latest.diastolic)
    if is_crisis(latest.systolic, latest.diastolic):
        return DischargeBpAssessment(DischargeBp.STILL_HIGH, f"{crisis_message(latest.systolic, latest.diastolic)} {SEEK_EXPERT_HELP}")
    within = latest.systolic <= REVIEW_SYSTOLIC and latest.diastolic <= REVIEW_DIASTOLIC
    at_baseline = pre_dose is not None and (
        latest.systolic <= pre_dose[0] and latest.diastolic <= pre_dose[1]
    )
    if within or at_baseline:
        return DischargeBpAssessment(
            DischargeBp.ACCEPTABLE,
            f"Blood pressure {reading} is back within "
            + (f"{REVIEW_SYSTOLIC}/{REVIEW_DIASTOLIC} mmHg." if within else "the pre-dose reading."),
        )
    if len(readings) > 1:
        before = readings[-2]
        if latest.systolic < before.systolic and latest.diastolic <= before.diastolic:
            return DischargeBpAssessment(
                DischargeBp.DECREASING,
                f"Blood pressure {reading} is decreasing (from {_bp(before.systolic, before.diastolic)}).",
            )
    return DischargeBpAssessment(
        DischargeBp.STILL_HIGH,
        f"Blood pressure {reading} is above {REVIEW_SYSTOLIC}/{REVIEW_DIASTOLIC} mmHg and not "
        f"decreasing. {SEEK_EXPERT_HELP}",
    )
