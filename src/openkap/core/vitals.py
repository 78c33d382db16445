"""Vital signs: validation, alarm rules, the vitals schedule and discharge criteria.

Pure functions over plain values; the sessions app stores readings and calls
these for decisions. Thresholds come from the session's protocol
(``Protocol.alarm_rules``); ``DEFAULT_ALARM_RULES`` are the defaults of issue 6
(reference/dosing_pk.md §2.2: suggested, configurable policy, not a label).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from openkap.core.blood_pressure import CRISIS_DIASTOLIC, CRISIS_SYSTOLIC, crisis_message


class Measure(StrEnum):
    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    RESPIRATORY_RATE = "respiratory_rate"


@dataclass(frozen=True)
class MeasureInfo:
    label: str
    unit: str
    # Readings outside [lowest, highest] are typing or probe errors, not patients.
    lowest: int
    highest: int


MEASURES: Final[dict[Measure, MeasureInfo]] = {
    Measure.SYSTOLIC: MeasureInfo("Systolic blood pressure", "mmHg", 50, 300),
    Measure.DIASTOLIC: MeasureInfo("Diastolic blood pressure", "mmHg", 20, 200),
    Measure.HEART_RATE: MeasureInfo("Heart rate", "/min", 20, 250),
    Measure.SPO2: MeasureInfo("SpO2", "%", 50, 100),
    Measure.RESPIRATORY_RATE: MeasureInfo("Respiratory rate", "/min", 2, 80),
}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class VitalsError(ValueError):
    """Readings that cannot be recorded; ``errors`` names each field and why."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


@dataclass(frozen=True)
class Vitals:
    """One set of readings; any measure may be absent, but BP comes as a pair.

    Construction validates, so a ``Vitals`` object always holds plausible values.
    """

    systolic: int | None = None
    diastolic: int | None = None
    heart_rate: int | None = None
    spo2: int | None = None
    respiratory_rate: int | None = None

    def __post_init__(self) -> None:
        errors = validate_vitals(
            systolic=self.systolic,
            diastolic=self.diastolic,
            heart_rate=self.heart_rate,
            spo2=self.spo2,
            respiratory_rate=self.respiratory_rate,
        )
        if errors:
            raise VitalsError(errors)

    def value(self, measure: Measure) -> int | None:
        result: int | None = getattr(self, measure.value)
        return result


def validate_vitals(
    *,
    systolic: object = None,
    diastolic: object = None,
    heart_rate: object = None,
    spo2: object = None,
    respiratory_rate: object = None,
) -> tuple[FieldError, ...]:
    """Every problem with a set of readings, in plain language (empty when fine)."""
    raw = {
        Measure.SYSTOLIC: systolic,
        Measure.DIASTOLIC: diastolic,
        Measure.HEART_RATE: heart_rate,
        Measure.SPO2: spo2,
        Measure.RESPIRATORY_RATE: respiratory_rate,
    }
    errors: list[FieldError] = []
    valid: dict[Measure, int] = {}
    for measure, value in raw.items():
        if value is None:
            continue
        info = MEASURES[measure]
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(FieldError(measure.value, f"{info.label} must be a whole number"))
        elif not info.lowest <= value <= info.highest:
            errors.append(
                FieldError(
                    measure.value,
                    f"{info.label} {value} {info.unit} is outside the possible range "
                    f"{info.lowest}-{info.highest} {info.unit}; check the reading",
                )
            )
        else:
            valid[measure] = value
    if (systolic is None) != (diastolic is None):
        missing = Measure.DIASTOLIC if diastolic is None else Measure.SYSTOLIC
        errors.append(
            FieldError(missing.value, "blood pressure needs both systolic and diastolic values")
        )
    elif (
        Measure.SYSTOLIC in valid
        and Measure.DIASTOLIC in valid
        and valid[Measure.DIASTOLIC] >= valid[Measure.SYSTOLIC]
    ):
        errors.append(
            FieldError(
                Measure.DIASTOLIC.value,
                f"diastolic {diastolic} mmHg must be lower than systolic {systolic} mmHg",
            )
        )
    return tuple(errors)


# ---------------------------------------------------------------- alarms


class Comparison(StrEnum):
    AT_OR_ABOVE = ">="
    ABOVE = ">"
    AT_OR_BELOW = "<="
    BELOW = "<"

    @property
    def is_high(self) -> bool:
        return self in (Comparison.AT_OR_ABOVE, Comparison.ABOVE)

    @property
    def phrase(self) -> str:
        return _PHRASES[self]

    def holds(self, value: int, threshold: int) -> bool:
        return _OPERATORS[self](value, threshold)


_PHRASES: Final = {
    Comparison.AT_OR_ABOVE: "at or above",
    Comparison.ABOVE: "above",
    Comparison.AT_OR_BELOW: "at or below",
    Comparison.BELOW: "below",
}
_OPERATORS: Final[dict[Comparison, Callable[[int, int], bool]]] = {
    Comparison.AT_OR_ABOVE: operator.ge,
    Comparison.ABOVE: operator.gt,
    Comparison.AT_OR_BELOW: operator.le,
    Comparison.BELOW: operator.lt,
}


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


_SEVERITY_RANK: Final = {Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class AlarmRule:
    measure: Measure
    comparison: Comparison
    threshold: int
    severity: Severity

    def __post_init__(self) -> None:
        info = MEASURES[self.measure]
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise ValueError(f"alarm threshold for {self.measure} must be a whole number")
        if not info.lowest <= self.threshold <= info.highest:
            raise ValueError(
                f"alarm threshold {self.threshold} {info.unit} for {self.measure} is outside "
                f"the possible range {info.lowest}-{info.highest}"
            )

    @property
    def code(self) -> str:
        return f"{self.measure.value}_{'high' if self.comparison.is_high else 'low'}"


@dataclass(frozen=True)
class Alarm:
    code: str
    severity: Severity
    measure: Measure
    value: int
    rule: AlarmRule
    message: str


DEFAULT_ALARM_RULES: Final[tuple[AlarmRule, ...]] = (
    AlarmRule(Measure.SYSTOLIC, Comparison.AT_OR_ABOVE, 180, Severity.WARNING),
    AlarmRule(Measure.DIASTOLIC, Comparison.AT_OR_ABOVE, 110, Severity.WARNING),
    # Respiratory depression is in the esketamine boxed warning: critical.
    AlarmRule(Measure.SPO2, Comparison.BELOW, 92, Severity.CRITICAL),
    AlarmRule(Measure.HEART_RATE, Comparison.ABOVE, 130, Severity.WARNING),
    AlarmRule(Measure.HEART_RATE, Comparison.BELOW, 45, Severity.WARNING),
    AlarmRule(Measure.RESPIRATORY_RATE, Comparison.BELOW, 10, Severity.CRITICAL),
    AlarmRule(Measure.RESPIRATORY_RATE, Comparison.ABOVE, 24, Severity.WARNING),
)


# The hypertensive-crisis range alarms on every route, whatever a protocol states
# (issue 12; core.blood_pressure has the sources). Critical, so it outranks a
# protocol's warning tier at the same threshold.
CRISIS_ALARM_RULES: Final[tuple[AlarmRule, ...]] = (
    AlarmRule(Measure.SYSTOLIC, Comparison.AT_OR_ABOVE, CRISIS_SYSTOLIC, Severity.CRITICAL),
    AlarmRule(Measure.DIASTOLIC, Comparison.AT_OR_ABOVE, CRISIS_DIASTOLIC, Severity.CRITICAL),
)


def evaluate_alarms(vitals: Vitals, rules: Sequence[AlarmRule]) -> tuple[Alarm, ...]:
    """Alarms raised by one set of readings: the protocol's rules and the crisis range.

    When several rules of the same code fire (e.g. a warning tier at 180 and a
    critical tier at 200 mmHg), only the most severe is reported.
    """
    by_code: dict[str, Alarm] = {}
    for rule in (*rules, *CRISIS_ALARM_RULES):
        value = vitals.value(rule.measure)
        if value is None or not rule.comparison.holds(value, rule.threshold):
            continue
        info = MEASURES[rule.measure]
        if rule in CRISIS_ALARM_RULES:
            assert vitals.systolic is not None
            assert vitals.diastolic is not None
            message = crisis_message(vitals.systolic, vitals.diastolic)
        else:
            message = (
                f"{info.label} {value} {info.unit} is {rule.comparison.phrase} the alarm "
                f"threshold of {rule.threshold} {info.unit}"
            )
        alarm = Alarm(
            code=rule.code,
            severity=rule.severity,
            measure=rule.measure,
            value=value,
            rule=rule,
            message=message,
        )
        current = by_code.get(alarm.code)
        if current is None or _SEVERITY_RANK[alarm.severity] > _SEVERITY_RANK[current.severity]:
            by_code[alarm.code] = alarm
    return tuple(by_code.values())


# ---------------------------------------------------------------- schedule


@dataclass(frozen=True)
class VitalsDue:
    # Scheduled minute (after dose start) of the earliest check still to do; may be
    # in the past. None when every check is done or superseded.
    next_due_min: int | None
    # The next check's grace period has passed with no reading since.
    overdue: bool
    # Checks with no reading in their window that a later reading has superseded (for
    # the record; they no longer need doing).
    missed: tuple[int, ...]


def vitals_due(
    schedule_min: Sequence[int],
    recorded_min: Sequence[float],
    elapsed_min: float,
    *,
    early_min: float = 5,
    grace_min: float = 5,
) -> VitalsDue:
    """Where a session stands against its vitals schedule.

    Minutes count from the start of dosing. A reading counts for a scheduled check
    if taken from ``early_min`` before it (at most half-way from the previous
    check) until the next check's window opens. A check not done is overdue once
    ``grace_min`` have passed without any reading since its window opened.
    """
    if any(b <= a for a, b in itertools.pairwise(schedule_min)):
        raise ValueError("vitals schedule must be strictly increasing")
    if early_min < 0 or grace_min < 0:
        raise ValueError("early and grace minutes cannot be negative")
    opens = [
        t - min(early_min, (t - schedule_min[i - 1]) / 2) if i else t - early_min
        for i, t in enumerate(schedule_min)
    ]
    readings = [m for m in recorded_min if m <= elapsed_min]
    done = {i for m in readings for i in range(len(opens)) if _window(opens, i, m)}
    last = max(readings, default=None)
    not_done = [i for i in range(len(schedule_min)) if i not in done]
    missed = tuple(schedule_min[i] for i in not_done if last is not None and opens[i] <= last)
    pending = [schedule_min[i] for i in not_done if last is None or opens[i] > last]
    next_due = pending[0] if pending else None
    return VitalsDue(
        next_due_min=next_due,
        overdue=next_due is not None and elapsed_min >= next_due + grace_min,
        missed=missed,
    )


def _window(opens: Sequence[float], i: int, minute: float) -> bool:
    return opens[i] <= minute and (i + 1 == len(opens) or minute < opens[i + 1])


# ---------------------------------------------------------------- discharge


class DischargeCriterion(StrEnum):
    MIN_MONITORING_TIME = "min_monitoring_time"
    VITALS_WITHIN_LIMITS = "vitals_within_limits"
    ALERT_AND_ORIENTED = "alert_and_oriented"
    AMBULATING = "ambulating"
    NAUSEA_CONTROLLED = "nausea_controlled"
    ESCORT_PRESENT = "escort_present"


@dataclass(frozen=True)
class DischargeObservation:
    """What the discharging nurse knows; ``None`` means not yet assessed."""

    minutes_since_administration_end: float | None
    latest_vitals: Vitals | None
    latest_vitals_age_min: float | None
    alert_and_oriented: bool | None
    ambulating: bool | None
    nausea_controlled: bool | None
    escort_present: bool | None


@dataclass(frozen=True)
class UnmetCriterion:
    criterion: DischargeCriterion
    message: str


_YES_NO_MESSAGES: Final = {
    DischargeCriterion.ALERT_AND_ORIENTED: "The patient is not yet confirmed alert and oriented.",
    DischargeCriterion.AMBULATING: "The patient is not yet confirmed walking without help.",
    DischargeCriterion.NAUSEA_CONTROLLED: "Nausea is not yet confirmed controlled.",
    DischargeCriterion.ESCORT_PRESENT: "No responsible adult escort is confirmed present.",
}


def unmet_discharge_criteria(
    *,
    criteria: Sequence[DischargeCriterion],
    min_monitoring_minutes: int,
    alarm_rules: Sequence[AlarmRule],
    observation: DischargeObservation,
    max_vitals_age_min: float = 30,
) -> tuple[UnmetCriterion, ...]:
    """The protocol's discharge criteria that are not met; empty means discharge may proceed.

    "Vitals within limits" needs a recent reading of every measure the alarm
    rules watch, with no alarm: old or partial readings do not show recovery.
    """
    unmet: list[UnmetCriterion] = []
    for criterion in criteria:
        message: str | None
        if criterion is DischargeCriterion.MIN_MONITORING_TIME:
            message = _monitoring_time_message(
                observation.minutes_since_administration_end, min_monitoring_minutes
            )
        elif criterion is DischargeCriterion.VITALS_WITHIN_LIMITS:
            message = _vitals_message(observation, alarm_rules, max_vitals_age_min)
        else:
            confirmed = getattr(observation, criterion.value)
            message = None if confirmed is True else _YES_NO_MESSAGES[criterion]
        if message is not None:
            unmet.append(UnmetCriterion(criterion, message))
    return tuple(unmet)


def _monitoring_time_message(elapsed: float | None, minimum: int) -> str | None:
    if elapsed is None:
        return "Administration has not been recorded as finished."
    if elapsed >= minimum:
        return None
    return (
        f"Minimum monitoring time not reached: {elapsed:g} of {minimum} minutes since the "
        f"end of administration ({minimum - elapsed:g} minutes to go)."
    )


def _vitals_message(
    observation: DischargeObservation, rules: Sequence[AlarmRule], max_age: float
) -> str | None:
    vitals, age = observation.latest_vitals, observation.latest_vitals_age_min
    if vitals is None or age is None:
        return "No vitals recorded before discharge."
    if age > max_age:
        return f"The latest vitals are {age:g} minutes old; take a new set (within {max_age:g} minutes)."
    watched = {r.measure for r in rules}
    missing = [m for m in MEASURES if m in watched and vitals.value(m) is None]
    if missing:
        labels = ", ".join(MEASURES[m].label for m in missing)
        return f"The latest vitals lack: {labels}."
    alarms = evaluate_alarms(vitals, rules)
    if alarms:
        return "Vitals are not back within limits: " + "; ".join(a.message for a in alarms) + "."
    return None
