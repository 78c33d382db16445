"""The most urgent severity of a response's flags (the safety task's priority and the
referral's triage both read it)."""

from hypothesis import given
from hypothesis import strategies as st

from openkap.core.instruments import Severity, highest_severity


def test_highest_severity_of_none_is_empty():
    assert highest_severity([]) == ""


def test_emergency_outranks_urgent_outranks_review():
    assert highest_severity([Severity.REVIEW, Severity.URGENT]) == "urgent"
    assert highest_severity([Severity.URGENT, Severity.EMERGENCY, Severity.REVIEW]) == "emergency"
    assert highest_severity([Severity.REVIEW, Severity.REVIEW]) == "review"


@given(st.lists(st.sampled_from(list(Severity)), min_size=1))
def test_highest_severity_is_one_given_and_none_given_is_higher(severities):
    order = [Severity.REVIEW, Severity.URGENT, Severity.EMERGENCY]
    top = highest_severity(severities)
    assert top in severities
    assert all(order.index(s) <= order.index(Severity(top)) for s in severities)
    assert highest_severity(reversed(severities)) == top
