"""Check digits, from independent published examples.

DEA: the worked example "AB1234563" (1+3+5 = 9; 2+4+6 = 12, x2 = 24; 9+24 = 33 -> 3)
appears in the DEA's registrant guidance and in pharmacy textbooks.
NPI: CMS "Requirements for NPI check digit" (2007) works 123456789 -> check digit 3.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core.identifiers import (
    dea_check_digit,
    format_mrn,
    luhn_check_digit,
    validate_dea_number,
    validate_mrn_check,
    validate_ndc,
    validate_npi,
)


def test_dea_check_digit_worked_example():
    assert dea_check_digit("123456") == 3
    assert validate_dea_number("AB1234563") is None


@pytest.mark.parametrize("value", ["ab1234563", " AB1234563 ", "FD1234563", "M91234563"])
def test_dea_valid_forms(value):
    assert validate_dea_number(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("AB1234564", "check digit"),
        ("AB123456", "two letters followed by seven digits"),
        ("1B1234563", "two letters followed by seven digits"),
        ("ZB1234563", "two letters followed by seven digits"),
        ("", "two letters followed by seven digits"),
    ],
)
def test_dea_invalid_says_why(value, why):
    assert why in validate_dea_number(value)


@given(st.text(alphabet="0123456789", min_size=6, max_size=6), st.integers(0, 9))
def test_dea_exactly_one_check_digit_is_valid(six, last):
    valid = validate_dea_number(f"AB{six}{last}") is None
    assert valid == (last == dea_check_digit(six))


def test_npi_cms_worked_example():
    assert luhn_check_digit("80840" + "123456789") == 3
    assert validate_npi("1234567893") is None


@pytest.mark.parametrize("value", ["1234567890", "123456789", "3234567893", "12345678a3"])
def test_npi_invalid(value):
    assert validate_npi(value) is not None


def test_luhn_known_card_number():
    # The classic Luhn example 7992739871 -> check digit 3 (ISO/IEC 7812-1 annex).
    assert luhn_check_digit("7992739871") == 3


@given(st.integers(1, 10**7 - 1))
def test_mrn_roundtrip_and_single_digit_typo_caught(n):
    mrn = format_mrn("K", n)
    assert validate_mrn_check("K", mrn)
    body = mrn[1:]
    for i, ch in enumerate(body):
        wrong = str((int(ch) + 1) % 10)
        assert not validate_mrn_check("K", "K" + body[:i] + wrong + body[i + 1 :])


@pytest.mark.parametrize("ndc", ["0409-2051-05", "50458-028-02", "12345-6789-1", "12345-6789-12", " 0409-2051-05 "])
def test_an_ndc_as_printed_on_the_label_is_accepted(ndc):
    assert validate_ndc(ndc) is None


@pytest.mark.parametrize(("ndc", "why"), [
    ("0409205105", "dashes"), ("0409-2051", "dashes"), ("0409-2051-0a", "dashes"),
    ("040-2051-05", "4-4-2"), ("12345-6789-123", "4-4-2"), ("1234-567-89", "4-4-2"),
])
def test_an_ndc_in_another_shape_is_refused_saying_why(ndc, why):
    assert why in (validate_ndc(ndc) or "")
