import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core.protocols import load_example
from openkap.core.vitals import (
    DEFAULT_ALARM_RULES,
    MEASURES,
    AlarmRule,
    Comparison,
    DischargeCriterion,
    DischargeObservation,
    Measure,
    Severity,
    Vitals,
    VitalsDue,
    VitalsError,
    evaluate_alarms,
    unmet_discharge_criteria,
    validate_vitals,
    vitals_due,
)

NORMAL = {"systolic": 122, "diastolic": 78, "heart_rate": 72, "spo2": 98, "respiratory_rate": 14}

# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("systolic", 400),
        ("systolic", 49),
        ("systolic", 301),
        ("diastolic", 19),
        ("diastolic", 201),
        ("heart_rate", 0),
        ("heart_rate", 19),
        ("heart_rate", 251),
        ("spo2", 101),
        ("spo2", 49),
        ("respiratory_rate", 1),
        ("respiratory_rate", 81),
    ],
)
def test_readings_outside_physiological_ranges_are_rejected(field, value):
    with pytest.raises(VitalsError) as info:
        Vitals(**{**NORMAL, field: value})
    (error,) = info.value.errors
    assert error.field == field
    assert "outside the possible range" in error.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("systolic", 50),
        ("systolic", 300),
        ("diastolic", 20),
        ("heart_rate", 20),
        ("heart_rate", 250),
        ("spo2", 50),
        ("spo2", 100),
        ("respiratory_rate", 2),
        ("respiratory_rate", 80),
    ],
)
def test_range_limits_are_accepted(field, value):
    values = {**NORMAL, field: value}
    if field == "systolic" and value == 50:
        values["diastolic"] = 30
    assert Vitals(**values).value(Measure(field)) == value


@pytest.mark.parametrize("value", [98.5, "98", True])
def test_non_integer_readings_are_rejected(value):
    errors = validate_vitals(**{**NORMAL, "spo2": value})
    assert [e.field for e in errors] == ["spo2"]
    assert "whole number" in errors[0].message


def test_blood_pressure_needs_both_values():
    errors = validate_vitals(systolic=120)
    assert [(e.field, e.message) for e in errors] == [
        ("diastolic", "blood pressure needs both systolic and diastolic values")
    ]
    assert [e.field for e in validate_vitals(diastolic=80)] == ["systolic"]


def test_diastolic_must_be_below_systolic():
    errors = validate_vitals(systolic=80, diastolic=120)
    assert [e.field for e in errors] == ["diastolic"]
    assert validate_vitals(systolic=120, diastolic=119) == ()


def test_swapped_bp_is_reported_even_with_another_error():
    errors = validate_vitals(systolic=80, diastolic=120, heart_rate=0)
    assert {e.field for e in errors} == {"diastolic", "heart_rate"}


def test_all_errors_are_reported_together():
    with pytest.raises(VitalsError) as info:
        Vitals(systolic=400, diastolic=80, heart_rate=0, spo2=101, respiratory_rate=14)
    assert {e.field for e in info.value.errors} == {"systolic", "heart_rate", "spo2"}
    assert "Systolic blood pressure 400 mmHg" in str(info.value)


def test_partial_sets_are_allowed():
    assert Vitals(spo2=97).value(Measure.SPO2) == 97
    assert Vitals().value(Measure.HEART_RATE) is None


# ---------------------------------------------------------------- alarms


@pytest.mark.parametrize(
    ("field", "quiet", "alarm", "code", "severity"),
    [
        # 180 systolic is also the hypertensive-crisis boundary: critical on every route.
        ("systolic", 179, 180, "systolic_high", Severity.CRITICAL),
        ("diastolic", 109, 110, "diastolic_high", Severity.WARNING),
        ("spo2", 92, 91, "spo2_low", Severity.CRITICAL),
        ("heart_rate", 130, 131, "heart_rate_high", Severity.WARNING),
        ("heart_rate", 45, 44, "heart_rate_low", Severity.WARNING),
        ("respiratory_rate", 10, 9, "respiratory_rate_low", Severity.CRITICAL),
        ("respiratory_rate", 24, 25, "respiratory_rate_high", Severity.WARNING),
    ],
)
def test_every_default_threshold_on_both_sides(field, quiet, alarm, code, severity):
    assert evaluate_alarms(Vitals(**{**NORMAL, field: quiet}), DEFAULT_ALARM_RULES) == ()
    (raised,) = evaluate_alarms(Vitals(**{**NORMAL, field: alarm}), DEFAULT_ALARM_RULES)
    assert (raised.code, raised.severity, raised.value) == (code, severity, alarm)
    assert raised.measure == Measure(field)


def test_default_rules_are_the_issue_defaults():
    described = {(r.measure.value, r.comparison.value, r.threshold) for r in DEFAULT_ALARM_RULES}
    assert {
        ("systolic", ">=", 180),
        ("diastolic", ">=", 110),
        ("spo2", "<", 92),
        ("heart_rate", ">", 130),
        ("heart_rate", "<", 45),
    } <= described


def test_alarm_message_is_plain_language():
    (alarm,) = evaluate_alarms(Vitals(**{**NORMAL, "heart_rate": 134}), DEFAULT_ALARM_RULES)
    assert alarm.message == "Heart rate 134 /min is above the alarm threshold of 130 /min"


@pytest.mark.parametrize(("systolic", "diastolic"), [(180, 80), (150, 120), (210, 125)])
def test_crisis_range_alarms_whatever_the_protocol_says(systolic, diastolic):
    # Issue 12: ACC/AHA 2017 hypertensive crisis (>180 and/or >120), inclusive; even a
    # protocol that watches only heart rate raises it, critical, in plain words.
    rules = (AlarmRule(Measure.HEART_RATE, Comparison.ABOVE, 130, Severity.WARNING),)
    alarms = evaluate_alarms(Vitals(systolic=systolic, diastolic=diastolic), rules)
    assert alarms
    assert {a.severity for a in alarms} == {Severity.CRITICAL}
    assert all(
        a.message.startswith(f"Blood pressure {systolic}/{diastolic} mmHg is in the hypertensive-crisis range")
        for a in alarms
    )


def test_below_the_crisis_range_no_alarm_without_a_rule():
    assert evaluate_alarms(Vitals(systolic=179, diastolic=119), ()) == ()


def test_several_alarms_at_once():
    v = Vitals(systolic=190, diastolic=115, heart_rate=135, spo2=90, respiratory_rate=8)
    codes = {a.code for a in evaluate_alarms(v, DEFAULT_ALARM_RULES)}
    assert codes == {
        "systolic_high",
        "diastolic_high",
        "heart_rate_high",
        "spo2_low",
        "respiratory_rate_low",
    }


def test_missing_measures_raise_no_alarm():
    assert evaluate_alarms(Vitals(spo2=97), DEFAULT_ALARM_RULES) == ()


def test_protocol_thresholds_replace_the_defaults():
    rules = (AlarmRule(Measure.HEART_RATE, Comparison.ABOVE, 120, Severity.WARNING),)
    assert [a.code for a in evaluate_alarms(Vitals(heart_rate=121), rules)] == ["heart_rate_high"]
    assert evaluate_alarms(Vitals(heart_rate=121), DEFAULT_ALARM_RULES) == ()


@pytest.mark.parametrize(
    ("comparison", "fires_at"),
    [
        (Comparison.AT_OR_ABOVE, {100, 101}),
        (Comparison.ABOVE, {101}),
        (Comparison.AT_OR_BELOW, {99, 100}),
        (Comparison.BELOW, {99}),
    ],
)
def test_each_comparison(comparison, fires_at):
    rule = AlarmRule(Measure.HEART_RATE, comparison, 100, Severity.WARNING)
    fired = {v for v in (99, 100, 101) if evaluate_alarms(Vitals(heart_rate=v), (rule,))}
    assert fired == fires_at


def test_tiers_report_the_most_severe_alarm_only():
    rules = (
        AlarmRule(Measure.SYSTOLIC, Comparison.AT_OR_ABOVE, 160, Severity.WARNING),
        AlarmRule(Measure.SYSTOLIC, Comparison.AT_OR_ABOVE, 170, Severity.CRITICAL),
    )
    (low_tier,) = evaluate_alarms(Vitals(systolic=165, diastolic=90), rules)
    assert low_tier.severity is Severity.WARNING
    (high_tier,) = evaluate_alarms(Vitals(systolic=175, diastolic=90), rules)
    assert (high_tier.severity, high_tier.rule.threshold) == (Severity.CRITICAL, 170)


@pytest.mark.parametrize("threshold", [0, 400, True])
def test_alarm_threshold_must_be_a_possible_reading(threshold):
    with pytest.raises(ValueError, match="threshold"):
        AlarmRule(Measure.SYSTOLIC, Comparison.AT_OR_ABOVE, threshold, Severity.WARNING)


@given(
    st.builds(
        Vitals,
        systolic=st.integers(100, 300),
        diastolic=st.integers(20, 99),
        heart_rate=st.integers(20, 250),
        spo2=st.integers(50, 100),
        respiratory_rate=st.integers(2, 80),
    )
)
def test_an_alarm_fires_exactly_when_a_rule_holds(vitals):
    alarms = evaluate_alarms(vitals, DEFAULT_ALARM_RULES)
    expected = {
        r.code
        for r in DEFAULT_ALARM_RULES
        if r.comparison.holds(vitals.value(r.measure) or 0, r.threshold)
    }
    assert {a.code for a in alarms} == expected


def test_measure_table_covers_every_measure():
    assert set(MEASURES) == set(Measure)


# ---------------------------------------------------------------- schedule

IV_SCHEDULE = (0, 10, 20, 30, 40, 60, 80, 100)


def test_before_the_first_window_the_first_check_is_next():
    assert vitals_due(IV_SCHEDULE, [], -10) == VitalsDue(next_due_min=0, overdue=False, missed=())


def test_check_due_now_is_not_overdue_within_grace():
    assert vitals_due(IV_SCHEDULE, [0], 13) == VitalsDue(10, False, ())
    assert vitals_due(IV_SCHEDULE, [0], 14.9) == VitalsDue(10, False, ())


def test_check_becomes_overdue_after_grace():
    assert vitals_due(IV_SCHEDULE, [0], 15) == VitalsDue(10, True, ())
    # Still the one to do when the next check's window opens: nothing recorded since.
    assert vitals_due(IV_SCHEDULE, [0], 19) == VitalsDue(10, True, ())


def test_a_late_reading_supersedes_the_missed_check():
    # Taken at 16, inside the window of the check at 20: 10 is missed, 20 is done.
    assert vitals_due(IV_SCHEDULE, [0, 16], 17) == VitalsDue(30, False, (10,))


def test_a_reading_in_the_window_satisfies_the_check():
    # Taken at 9 for the check at 10 (within the 5 minute early window, half-way rule).
    assert vitals_due(IV_SCHEDULE, [0, 9], 12) == VitalsDue(20, False, ())


def test_early_window_is_at_most_half_way_from_the_previous_check():
    # Checks at 0 and 5: a reading at 2 counts for 0, at 3 for 5.
    assert vitals_due((0, 5, 10), [2], 4) == VitalsDue(5, False, ())
    assert vitals_due((0, 5, 10), [3], 4) == VitalsDue(10, False, (0,))


def test_missed_checks_are_listed_and_the_current_one_is_next():
    # Readings at 0 and 32 only: 10 and 20 were missed, 30 is done, 40 is next.
    assert vitals_due(IV_SCHEDULE, [0, 32], 33) == VitalsDue(40, False, (10, 20))


def test_readings_after_now_are_ignored():
    assert vitals_due(IV_SCHEDULE, [0, 10, 20], 12) == VitalsDue(20, False, ())


def test_after_the_last_check_nothing_is_due():
    assert vitals_due(IV_SCHEDULE, list(IV_SCHEDULE), 300) == VitalsDue(None, False, ())
    assert vitals_due(IV_SCHEDULE, list(IV_SCHEDULE[:-1]), 300) == VitalsDue(100, True, ())


def test_esketamine_schedule_checks_bp_at_40_minutes():
    schedule = load_example("intranasal-esketamine-spravato").vitals_schedule_min
    assert 40 in schedule
    assert vitals_due(schedule, [20], 46) == VitalsDue(40, True, ())


def test_schedule_must_increase():
    with pytest.raises(ValueError, match="strictly increasing"):
        vitals_due((0, 10, 10), [], 0)


def test_empty_schedule_has_nothing_due():
    assert vitals_due((), [], 30) == VitalsDue(None, False, ())


# ---------------------------------------------------------------- discharge

ALL = tuple(DischargeCriterion)
READY = DischargeObservation(
    minutes_since_administration_end=120,
    latest_vitals=Vitals(**NORMAL),
    latest_vitals_age_min=5,
    alert_and_oriented=True,
    ambulating=True,
    nausea_controlled=True,
    escort_present=True,
)


def unmet(observation: DischargeObservation, minimum: int = 120):
    return unmet_discharge_criteria(
        criteria=ALL,
        min_monitoring_minutes=minimum,
        alarm_rules=DEFAULT_ALARM_RULES,
        observation=observation,
    )


def replace(**changes) -> DischargeObservation:
    return DischargeObservation(**{**READY.__dict__, **changes})


def test_discharge_when_every_criterion_is_met():
    assert unmet(READY) == ()


def test_minimum_monitoring_time():
    (u,) = unmet(replace(minutes_since_administration_end=95))
    assert u.criterion is DischargeCriterion.MIN_MONITORING_TIME
    assert u.message == (
        "Minimum monitoring time not reached: 95 of 120 minutes since the end of "
        "administration (25 minutes to go)."
    )
    assert unmet(replace(minutes_since_administration_end=119.9))
    assert unmet(replace(minutes_since_administration_end=120)) == ()


def test_administration_not_finished_blocks_discharge():
    (u,) = unmet(replace(minutes_since_administration_end=None))
    assert "not been recorded as finished" in u.message


def test_vitals_must_be_back_within_limits():
    (u,) = unmet(replace(latest_vitals=Vitals(**{**NORMAL, "heart_rate": 135})))
    assert u.criterion is DischargeCriterion.VITALS_WITHIN_LIMITS
    assert "Heart rate 135 /min is above" in u.message
    (crisis,) = unmet(replace(latest_vitals=Vitals(**{**NORMAL, "systolic": 182})))
    assert "hypertensive-crisis range" in crisis.message


def test_vitals_must_be_recent():
    assert unmet(replace(latest_vitals_age_min=30)) == ()
    (u,) = unmet(replace(latest_vitals_age_min=31))
    assert "31 minutes old" in u.message


def test_vitals_must_be_complete_for_every_watched_measure():
    (u,) = unmet(replace(latest_vitals=Vitals(heart_rate=70, spo2=98)))
    assert u.message == (
        "The latest vitals lack: Systolic blood pressure, Diastolic blood pressure, "
        "Respiratory rate."
    )


def test_no_vitals_blocks_discharge():
    (u,) = unmet(replace(latest_vitals=None, latest_vitals_age_min=None))
    assert u.message == "No vitals recorded before discharge."


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("alert_and_oriented", "alert and oriented"),
        ("ambulating", "walking without help"),
        ("nausea_controlled", "Nausea"),
        ("escort_present", "escort"),
    ],
)
@pytest.mark.parametrize("value", [False, None])
def test_each_yes_no_criterion_must_be_confirmed(field, text, value):
    (u,) = unmet(replace(**{field: value}))
    assert u.criterion is DischargeCriterion(field)
    assert text in u.message


def test_all_unmet_criteria_are_listed_in_protocol_order():
    nothing = DischargeObservation(None, None, None, None, None, None, None)
    assert [u.criterion for u in unmet(nothing)] == list(ALL)


def test_only_the_protocols_criteria_are_checked():
    result = unmet_discharge_criteria(
        criteria=(DischargeCriterion.ESCORT_PRESENT,),
        min_monitoring_minutes=120,
        alarm_rules=DEFAULT_ALARM_RULES,
        observation=replace(minutes_since_administration_end=5, ambulating=False),
    )
    assert result == ()


def test_esketamine_protocol_needs_two_hours():
    p = load_example("intranasal-esketamine-spravato")
    result = unmet_discharge_criteria(
        criteria=p.discharge_criteria,
        min_monitoring_minutes=p.min_monitoring_minutes,
        alarm_rules=p.alarm_rules,
        observation=replace(minutes_since_administration_end=110),
    )
    assert [u.criterion for u in result] == [DischargeCriterion.MIN_MONITORING_TIME]


@given(
    schedule=st.lists(st.integers(0, 240), min_size=1, max_size=10, unique=True).map(sorted),
    elapsed=st.floats(0, 300),
)
def test_readings_on_time_are_never_missed_or_overdue(schedule, elapsed):
    on_time = [t for t in schedule if t <= elapsed]
    due = vitals_due(schedule, on_time, elapsed)
    assert due.missed == ()
    assert not due.overdue
    later = [t for t in schedule if t > elapsed]
    assert due.next_due_min == (later[0] if later else None)


@given(
    schedule=st.lists(st.integers(0, 240), min_size=1, max_size=10, unique=True).map(sorted),
    readings=st.lists(st.floats(-10, 300), max_size=10),
    elapsed=st.floats(0, 300),
)
def test_no_check_is_both_missed_and_next(schedule, readings, elapsed):
    due = vitals_due(schedule, readings, elapsed)
    assert due.next_due_min not in due.missed
    assert set(due.missed) <= set(schedule)
    if not readings:
        assert due.next_due_min == schedule[0]
