"""The de-identification rules of the research export (core.deid): Safe Harbor's
generalisations by hand and from HHS's guidance, and k-anonymity as properties."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.deid import (
    LADDER,
    QUASI_IDENTIFIERS,
    RESTRICTED_ZIP3,
    SAFE_HARBOR,
    SUPPRESSED,
    DateShifter,
    age_band,
    age_years,
    days_from,
    k_anonymise,
    state_and_zip,
    study_numbers,
    zip3,
)
from tests.profiles import examples


def test_safe_harbor_lists_the_18_identifiers() -> None:
    assert len(SAFE_HARBOR) == 18
    assert all(what and how for what, how in SAFE_HARBOR)


@pytest.mark.parametrize(("zip5", "expected"), [
    ("10001", "100"), ("11201", "112"), ("90210", "902"),
    # HHS's 17 areas of 20,000 people or fewer become 000 (2012 guidance, section 3.3).
    ("03601", "000"), ("05901", "000"), ("89301", "000"), ("69201", "000"),
    ("1000", ""), ("100011", ""), ("", ""), ("1000a", ""), ("١٠٠٠١", ""),
])
def test_zip3(zip5: str, expected: str) -> None:
    assert zip3(zip5) == expected


def test_restricted_zip3_is_hhs_list_of_17() -> None:
    assert len(RESTRICTED_ZIP3) == 17
    assert {"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
            "884", "890", "893"} == RESTRICTED_ZIP3


@pytest.mark.parametrize(("address", "expected"), [
    ("12 Main St\nBrooklyn, NY 11201", ("NY", "11201")),
    ("12 Main St, Albany, ny 12207-1234", ("NY", "12207")),
    ("PO Box 4\nEly NV 89301", ("NV", "89301")),
    ("10 Downing St, London SW1A 2AA", ("", "")),
    ("Somewhere, XX 12345", ("", "")),
    ("", ("", "")),
])
def test_state_and_zip(address: str, expected: tuple[str, str]) -> None:
    assert state_and_zip(address) == expected


@pytest.mark.parametrize(("born", "on", "age"), [
    (date(2000, 2, 29), date(2018, 2, 28), 17),
    (date(2000, 2, 29), date(2018, 3, 1), 18),
    (date(1930, 6, 1), date(2020, 5, 31), 89),
    (date(1930, 6, 1), date(2020, 6, 1), 90),
])
def test_age_years(born: date, on: date, age: int) -> None:
    assert age_years(born, on) == age


@pytest.mark.parametrize(("age", "band"), [
    (0, "<18"), (17, "<18"), (18, "18-29"), (29, "18-29"), (30, "30-39"), (45, "40-49"),
    (89, "80-89"), (90, "90+"), (104, "90+"),
])
def test_age_band(age: int, band: str) -> None:
    assert age_band(age) == band


@given(st.integers(min_value=0, max_value=130))
@settings(max_examples=examples(200))
def test_no_age_over_89_is_released(age: int) -> None:
    band = age_band(age)
    if age >= 90:
        assert band == "90+"
    else:
        assert band != "90+"
        if band != "<18":
            low, high = (int(x) for x in band.split("-"))
            assert low <= age <= high <= 89


def test_days_from() -> None:
    assert days_from(date(2024, 3, 1), date(2024, 2, 1)) == 29
    assert days_from(date(2024, 1, 25), date(2024, 2, 1)) == -7


SECRETS = st.binary(min_size=16, max_size=32)
DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 1, 1))


@given(SECRETS, st.integers(min_value=1, max_value=10**9), DAYS, DAYS)
@settings(max_examples=examples(200))
def test_date_shift_is_one_offset_per_patient(secret: bytes, patient: int, a: date, b: date) -> None:
    shifter = DateShifter(secret)
    offset = shifter.offset_days(patient)
    assert offset != 0
    assert offset % 7 == 0
    assert 7 <= abs(offset) <= 364
    assert shifter.shift(a, patient) - a == timedelta(days=offset)
    # Intervals and weekdays survive; the calendar date does not.
    assert shifter.shift(b, patient) - shifter.shift(a, patient) == b - a
    assert shifter.shift(a, patient).weekday() == a.weekday()
    assert shifter.shift(a, patient) != a
    assert DateShifter(secret).offset_days(patient) == offset


def test_date_shift_offsets_spread_over_patients() -> None:
    shifter = DateShifter(b"s" * 32)
    offsets = [shifter.offset_days(p) for p in range(2000)]
    assert len(set(offsets)) == 104  # every week from -52 to +52 but 0
    assert min(offsets) == -364
    assert max(offsets) == 364
    assert 0.4 < sum(o > 0 for o in offsets) / len(offsets) < 0.6


def test_date_shift_secret_too_short() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        DateShifter(b"short")


def test_date_shift_differs_between_secrets() -> None:
    a, b = DateShifter(b"a" * 16), DateShifter(b"b" * 16)
    assert [a.offset_days(p) for p in range(50)] != [b.offset_days(p) for p in range(50)]


@given(SECRETS, st.sets(st.integers(min_value=1, max_value=10**6), max_size=300))
@settings(max_examples=examples(100))
def test_study_numbers_are_a_relabelling(secret: bytes, ids: set[int]) -> None:
    numbers = study_numbers(ids, secret)
    assert set(numbers) == ids
    assert len(set(numbers.values())) == len(ids)
    assert all(n.startswith("S") and n[1:].isdigit() for n in numbers.values())
    assert study_numbers(ids, secret) == numbers


def test_study_numbers_do_not_follow_the_ids() -> None:
    numbers = study_numbers(range(1, 201), b"k" * 32)
    in_id_order = [numbers[i] for i in range(1, 201)]
    assert in_id_order != sorted(in_id_order)


def test_k_anonymise_by_hand() -> None:
    common = ("30-39", "female", "NY", "100", "iv")
    records = {
        "a": common, "b": common, "c": common,
        # d and e differ only in ZIP3: generalising it makes a class of 2.
        "d": ("40-49", "male", "NY", "100", "iv"),
        "e": ("40-49", "male", "NY", "112", "iv"),
        # f is alone whatever is generalised short of everything; g joins it at the top.
        "f": ("90+", "intersex", "VT", "056", "im"),
        "g": ("<18", "male", "CA", "902", "sublingual"),
    }
    result = k_anonymise(records, 2)
    assert result.released["a"] == common
    assert result.levels["a"] == 0
    assert result.released["d"] == result.released["e"] == ("40-49", "male", "NY", SUPPRESSED, "iv")
    assert result.levels["d"] == 1
    assert result.released["f"] == result.released["g"] == (SUPPRESSED,) * 5
    assert result.dropped == frozenset()
    assert result.n_generalised == 4
    assert dict(result.classes) == {common: 3, ("40-49", "male", "NY", "*", "iv"): 2, ("*",) * 5: 2}

    # With k = 3 nobody but a, b, c has company: the rest end at the top, 4 of them.
    three = k_anonymise(records, 3)
    assert three.released["a"] == common
    assert {three.released[x] for x in "defg"} == {("*",) * 5}
    # A lone outlier that nobody joins is dropped.
    lone = k_anonymise({"a": common, "b": common, "z": ("90+", "male", "WY", "830", "im")}, 2)
    assert lone.dropped == frozenset({"z"})
    assert set(lone.released) == {"a", "b"}


def test_k_anonymise_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="k must"):
        k_anonymise({}, 0)
    with pytest.raises(ValueError, match="values for"):
        k_anonymise({"a": ("x",)}, 2)
    with pytest.raises(ValueError, match="ladder"):
        k_anonymise({}, 2, ladder=(frozenset({"zip3"}),))


QI_VALUES = st.tuples(
    st.sampled_from(["<18", "18-29", "30-39", "40-49", "90+"]),
    st.sampled_from(["female", "male", "intersex", "unknown"]),
    st.sampled_from(["NY", "NJ", "CA", ""]),
    st.sampled_from(["100", "112", "000", ""]),
    st.sampled_from(["iv", "im", "sublingual", "intranasal_esketamine"]),
)


@given(st.dictionaries(st.integers(min_value=1, max_value=10**6), QI_VALUES, max_size=120),
       st.integers(min_value=1, max_value=12))
@settings(max_examples=examples(300))
def test_k_anonymity_holds(records: dict[int, tuple[str, ...]], k: int) -> None:
    result = k_anonymise(records, k)
    # Every record is either released or dropped, never both.
    assert set(result.released) | result.dropped == set(records)
    assert not set(result.released) & result.dropped
    # k holds: every released combination is shared by at least k records.
    sizes = Counter(result.released.values())
    assert all(n >= k for n in sizes.values())
    assert dict(result.classes) == dict(sizes)
    original = Counter(records.values())
    for key, released in result.released.items():
        # Values are the truth or "*", and "*" exactly where the ladder says.
        hidden = LADDER[result.levels[key]]
        for column, value, truth in zip(QUASI_IDENTIFIERS, released, records[key], strict=True):
            assert value == (SUPPRESSED if column in hidden else truth)
        # Records already in a class of k or more are left as they are.
        if original[records[key]] >= k:
            assert result.levels[key] == 0
    # Only records that could not reach k even with everything generalised are dropped,
    # and then they are fewer than k.
    assert len(result.dropped) < k or not result.dropped
    if result.dropped:
        assert all(original[records[key]] < k for key in result.dropped)
