"""Consent documents filled from the protocol (issue 21.7): the facts read from the
example protocols' JSON by hand, and the placeholder rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.consent_text import (
    PLACEHOLDERS,
    fill,
    placeholders,
    protocol_facts,
    unknown_placeholders,
)
from openkap.core.protocols.loader import load_example
from tests.profiles import examples


def test_intramuscular_facts_are_the_protocols():
    # im-ketamine.json: 0.25-1.0 mg/kg usual, max 1.5 mg/kg and 150 mg, 7 days apart,
    # vitals at 5..120 min, 120 minutes of monitoring (the consent said 90).
    facts = protocol_facts(load_example("im-ketamine"))
    assert facts == {
        "protocol_title": "Racemic ketamine intramuscular injection (KAP)",
        "monitoring_minutes": "120",
        "usual_dose": "0.25 to 1 mg/kg",
        "maximum_dose": "150 mg and at most 1.5 mg/kg",
        "min_interval_days": "7",
        "vitals_times": "5, 15, 30, 45, 60, 90, 120",
    }


def test_every_example_protocol_states_every_fact():
    from openkap.core.protocols import example_ids

    for protocol_id in example_ids():
        facts = protocol_facts(load_example(protocol_id))
        assert set(facts) == set(PLACEHOLDERS)
        assert all(facts.values()), protocol_id


def test_fill_replaces_each_placeholder_and_keeps_the_rest():
    text = "You stay {{monitoring_minutes}} minutes ({{ monitoring_minutes }}); {not a placeholder} {{x}}"
    assert placeholders(text) == ["monitoring_minutes", "x"]
    assert unknown_placeholders(text) == ["x"]
    with pytest.raises(KeyError):
        fill(text, {"monitoring_minutes": "120"})
    assert fill(text, {"monitoring_minutes": "120", "x": "y"}) == "You stay 120 minutes (120); {not a placeholder} y"


@settings(max_examples=examples(100))
@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=200))
def test_text_without_placeholders_is_unchanged(text):
    assert placeholders(text) == []
    assert fill(text, {}) == text
