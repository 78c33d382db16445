"""When scheduled measures fall due, from the pathway's events (issue 21.6). Cases by
hand from the rules in the module docstring; properties for any order of events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.pathway.measure_times import SessionTimes, due_state, occasion_number, slots
from tests.profiles import examples

OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def _by_key(out):
    return {(s.occasion, s.key): s for s in out}


def test_an_episode_without_sessions_has_only_its_baseline():
    out, cancelled = slots(OPENED, [])
    assert [(s.occasion, s.due_at, s.overdue_at) for s in out] == [("baseline", OPENED, OPENED + 14 * DAY)]
    assert cancelled == set()


def test_a_session_booked_the_day_before_is_due_from_the_booking_not_three_days_earlier():
    # The walk: the "before dosing session 1" PHQ-9 was due before the episode existed.
    booked = OPENED + 5 * DAY
    session = SessionTimes(id=7, booked_at=booked, start=booked + DAY)
    before = _by_key(slots(OPENED, [session])[0])[("before_dosing", "dosing:7")]
    assert before.due_at == booked
    assert before.overdue_at == booked + DAY
    assert before.label == "Before dosing session 1"


def test_a_late_entry_of_a_held_session_keeps_the_three_days():
    start = OPENED + 10 * DAY
    session = SessionTimes(id=7, booked_at=start + 2 * DAY, start=start)
    assert _by_key(slots(OPENED, [session])[0])[("before_dosing", "dosing:7")].due_at == start - 3 * DAY


def test_a_session_booked_well_ahead_is_due_three_days_before_it():
    session = SessionTimes(id=7, booked_at=OPENED, start=OPENED + 20 * DAY)
    before = _by_key(slots(OPENED, [session])[0])[("before_dosing", "dosing:7")]
    assert before.due_at == OPENED + 17 * DAY


def test_the_baseline_is_overdue_at_the_first_session_when_that_comes_first():
    session = SessionTimes(id=1, booked_at=OPENED, start=OPENED + 6 * DAY)
    baseline = _by_key(slots(OPENED, [session])[0])[("baseline", "")]
    assert baseline.overdue_at == OPENED + 6 * DAY


def test_follow_ups_count_from_the_last_discharge_and_sessions_are_numbered_by_time():
    first = SessionTimes(id=9, booked_at=OPENED, start=OPENED + 20 * DAY)
    second = SessionTimes(id=3, booked_at=OPENED, start=OPENED + 27 * DAY,
                          discharged_at=OPENED + 27 * DAY + timedelta(hours=3))
    out = _by_key(slots(OPENED, [second, first])[0])
    assert out[("before_dosing", "dosing:9")].label == "Before dosing session 1"
    assert out[("before_dosing", "dosing:3")].label == "Before dosing session 2"
    one = out[("follow_up", "1m")]
    assert one.due_at == second.discharged_at + timedelta(days=30)  # round(30.44)
    assert one.overdue_at == one.due_at + 14 * DAY
    assert out[("follow_up", "3m")].due_at == second.discharged_at + timedelta(days=91)  # round(91.32)
    assert out[("follow_up", "6m")].due_at == second.discharged_at + timedelta(days=183)  # round(182.64)


def test_a_cancelled_session_gives_no_slot_and_is_reported():
    gone = SessionTimes(id=4, booked_at=OPENED, start=OPENED + 9 * DAY, cancelled=True)
    kept = SessionTimes(id=5, booked_at=OPENED, start=OPENED + 10 * DAY)
    out, cancelled = slots(OPENED, [gone, kept])
    assert cancelled == {"dosing:4"}
    assert ("before_dosing", "dosing:4") not in _by_key(out)
    assert _by_key(out)[("before_dosing", "dosing:5")].label == "Before dosing session 1"


def test_due_state_is_a_code_bounded_by_the_session():
    thursday = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    due = thursday - 3 * DAY
    assert due_state("before_dosing", due, thursday, datetime(2026, 12, 1, tzinfo=UTC)) == "upcoming_before_session"
    assert due_state("before_dosing", due, thursday, due) == "due_before_session"
    assert due_state("before_dosing", due, thursday, thursday) == "overdue_before_session"
    assert due_state("follow_up", due, thursday, thursday - timedelta(seconds=1)) == "due"
    assert due_state("baseline", due, thursday, thursday + DAY) == "overdue"


def test_occasion_number_reads_the_session_and_the_months():
    out, _ = slots(OPENED, [SessionTimes(5, OPENED, OPENED + 10 * DAY), SessionTimes(6, OPENED, OPENED + 20 * DAY)])
    numbered = {(s.occasion, s.key): occasion_number(s.occasion, s.key, s.label) for s in out}
    assert numbered[("before_dosing", "dosing:6")] == 2
    assert numbered[("follow_up", "3m")] == 3
    assert numbered[("baseline", "")] is None
    # An occasion a clinician named has no number, even with digits in its name.
    assert occasion_number("before_dosing", "manual:ab12", "Extra check 2") is None


moments = st.integers(min_value=-30 * 24, max_value=90 * 24).map(lambda h: OPENED + timedelta(hours=h))


@st.composite
def episodes(draw):
    n = draw(st.integers(min_value=0, max_value=6))
    sessions = []
    for i in range(n):
        start = draw(moments)
        booked = draw(moments)
        done = draw(st.none() | st.integers(min_value=1, max_value=8).map(lambda h, s=start: s + timedelta(hours=h)))
        sessions.append(SessionTimes(id=i + 1, booked_at=booked, start=start, discharged_at=done,
                                     cancelled=draw(st.booleans())))
    return sessions


@settings(max_examples=examples(300))
@given(episodes())
def test_every_slot_is_due_before_it_is_overdue_and_not_before_the_episode(sessions):
    out, cancelled = slots(OPENED, sessions)
    active = [s for s in sessions if not s.cancelled]
    for slot in out:
        assert slot.due_at <= slot.overdue_at
        assert slot.due_at >= OPENED or (slot.occasion == "before_dosing" and slot.due_at == slot.overdue_at)
    befores = [s for s in out if s.occasion == "before_dosing"]
    assert len(befores) == len(active)
    assert {s.key for s in befores}.isdisjoint(cancelled)
    assert len({(s.occasion, s.key) for s in out}) == len(out)
    for slot in befores:
        session = next(s for s in active if f"dosing:{s.id}" == slot.key)
        assert slot.overdue_at == session.start
        if session.booked_at < session.start:
            assert slot.due_at >= session.booked_at
    assert (len([s for s in out if s.occasion == "follow_up"]) == 3) == bool(active)
