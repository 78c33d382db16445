"""Canonical protocol JSON (core.protocols.dump_protocol): what the library stores and hashes."""

import json
from decimal import Decimal
from importlib import resources

from hypothesis import given
from hypothesis import strategies as st

from openkap.core.protocols import dump_protocol, example_ids, load_example, loads_protocol


def test_decimals_are_written_exactly_as_given():
    assert dump_protocol({"mg_per_kg": Decimal("0.50"), "max": Decimal("1E+2")}) == (
        '{\n  "mg_per_kg": 0.50,\n  "max": 100\n}')


def test_empty_containers_and_text_with_accents():
    assert dump_protocol({"a": [], "b": {}, "c": "Fármaco"}) == '{\n  "a": [],\n  "b": {},\n  "c": "Fármaco"\n}'


def test_every_shipped_example_survives_a_dump_and_load():
    for example_id in example_ids():
        text = resources.files("openkap.core.protocols.examples").joinpath(f"{example_id}.json").read_text("utf-8")
        data = json.loads(text, parse_float=Decimal)
        assert loads_protocol(dump_protocol(data)) == load_example(example_id)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@given(values)
def test_dump_reads_back_as_the_same_value(value):
    assert json.loads(dump_protocol(value), parse_float=Decimal) == value
