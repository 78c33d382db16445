from hypothesis import given
from hypothesis import strategies as st

from openkap.core.auditchain import compress_ids, digest, expand_ids, row_hash, seal_hash


def test_ranges_by_hand():
    assert compress_ids([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"
    assert compress_ids([]) == ""
    assert expand_ids("1-3,7,9-10") == [1, 2, 3, 7, 9, 10]


@given(st.sets(st.integers(1, 10**12), max_size=200))
def test_ranges_round_trip(ids):
    ordered = sorted(ids)
    assert expand_ids(compress_ids(ordered)) == ordered


def test_row_hash_is_independent_of_key_order_and_sensitive_to_any_value():
    a = row_hash({"id": 1, "action": "view", "detail": {"x": 1, "y": [1, 2]}})
    assert a == row_hash({"detail": {"y": [1, 2], "x": 1}, "action": "view", "id": 1})
    assert a != row_hash({"id": 1, "action": "view", "detail": {"x": 2, "y": [1, 2]}})
    assert a != row_hash({"id": 2, "action": "view", "detail": {"x": 1, "y": [1, 2]}})


def test_digest_depends_on_order_and_every_row():
    assert digest(["a", "b"]) != digest(["b", "a"])
    assert digest(["a"]) != digest(["a", "b"])


def test_seal_hash_binds_the_previous_seal():
    common = {"number": 2, "event_ids": "1-3", "event_count": 3, "events_digest": "d"}
    assert seal_hash(prev_hash="x", **common) != seal_hash(prev_hash="y", **common)
