"""Missed vitals checks at discharge (issue 21.5). Cases computed by hand from the
window rule of vitals_due: a reading counts for a check from 5 min before it (at most
half-way from the previous check) until the next check's window opens."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openkap.core.missed_vitals import (
    MissedVitalsPolicy,
    describe,
    missed_checks,
    missed_vitals_refusal,
)

IM = (0, 15, 30, 60, 90, 120)  # an intramuscular schedule, minutes after the injection


def test_every_check_done_misses_nothing():
    assert missed_checks(IM, [0, 14, 31, 58, 92, 119], 125) == ()


def test_no_reading_after_the_dose_misses_every_check_that_came_due():
    # The walk: nothing recorded between +1 and +121 minutes.
    assert missed_checks(IM, [0], 121) == (15, 30, 60, 90, 120)


def test_a_superseded_gap_and_an_open_one_are_both_missed():
    # +30 came and went (the +60 reading is outside its window), +120 is not done at +121.
    assert missed_checks(IM, [0, 15, 61, 90], 121) == (30, 120)


def test_checks_after_the_moment_are_not_missed_yet():
    assert missed_checks(IM, [0, 15], 29) == ()
    assert missed_checks(IM, [0, 15], 30) == (30,)


def test_describe_reads_as_words():
    assert describe([15]) == "+15 min"
    assert describe([15, 30, 60]) == "+15, +30 and +60 min"


def test_reason_policy_needs_a_written_reason():
    assert missed_vitals_refusal((), MissedVitalsPolicy.REASON, "") is None
    refusal = missed_vitals_refusal((30,), MissedVitalsPolicy.REASON, "busy")
    assert refusal is not None
    assert "+30 min" in refusal
    assert missed_vitals_refusal((30,), MissedVitalsPolicy.REASON, "Patient asleep; woke at +40, BP normal.") is None


def test_block_policy_refuses_whatever_the_reason():
    refusal = missed_vitals_refusal((30, 60), MissedVitalsPolicy.BLOCK, "A long and careful reason.")
    assert refusal is not None
    assert "take a set of vitals now" in refusal


@given(
    st.lists(st.integers(0, 240), min_size=1, max_size=8, unique=True).map(sorted),
    st.lists(st.floats(0, 300, allow_nan=False), max_size=10),
    st.floats(0, 300, allow_nan=False),
)
def test_property_missed_are_scheduled_come_due_and_unread(schedule, readings, until):
    missed = missed_checks(schedule, readings, until)
    assert set(missed) <= set(schedule)
    assert all(t <= until for t in missed)
    # A reading exactly at each check's time (and before the moment) leaves nothing missed.
    assert missed_checks(schedule, [t for t in schedule if t <= until], until) == ()
