from decimal import Decimal, getcontext, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core.units import (
    KG_PER_LB,
    UnitsError,
    lb_to_kg,
    round_down_to_step,
    round_to_step,
    round_to_step_not_above,
    to_decimal,
)

steps = st.sampled_from([Decimal(s) for s in ("0.1", "0.5", "1", "2.5", "5", "10", "28", "50")])
amounts = st.decimals(min_value=0, max_value=2000, places=3, allow_nan=False, allow_infinity=False)


def test_kg_per_lb_is_the_exact_international_pound():
    assert Decimal("0.45359237") == KG_PER_LB


@pytest.mark.parametrize(
    ("lb", "kg"),
    [
        ("1", "0.45359237"),
        ("100", "45.359237"),
        # 154 x 0.45359237 = 69.85322498 (by hand)
        ("154", "69.85322498"),
        ("154.0", "69.853224980"),
        ("0", "0"),
    ],
)
def test_lb_to_kg_is_exact(lb, kg):
    assert lb_to_kg(Decimal(lb)) == Decimal(kg)


@given(st.decimals(min_value=0, max_value=1000, places=2))
def test_lb_to_kg_round_trips_without_loss(lb):
    assert lb_to_kg(lb) / KG_PER_LB == lb


def test_lb_to_kg_ignores_a_low_precision_global_context():
    with localcontext() as ctx:
        ctx.prec = 3
        assert lb_to_kg(Decimal("154")) == Decimal("69.85322498")
    assert getcontext().prec == 28


@pytest.mark.parametrize("bad", [154.0, True, None, "abc", "nan", "inf", "-1", Decimal("-0.1")])
def test_lb_to_kg_refuses_floats_non_numbers_and_negatives(bad):
    with pytest.raises(UnitsError):
        lb_to_kg(bad)


def test_to_decimal_parses_strings_and_ints_exactly():
    assert to_decimal(" 72.5 ") == Decimal("72.5")
    assert to_decimal(70) == Decimal(70)
    assert to_decimal(Decimal("0.1")) == Decimal("0.1")


def test_to_decimal_names_the_field_in_the_error():
    with pytest.raises(UnitsError, match=r"weight must be .* not float"):
        to_decimal(0.1, name="weight")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        ("36.15", "1", "36"),
        ("36.5", "1", "37"),  # half up
        ("36.49", "1", "36"),
        ("60.75", "0.5", "61.0"),
        ("41", "28", "28"),
        ("42", "28", "56"),  # half up: 42 / 28 = 1.5
        ("36.5", "5", "35"),
    ],
)
def test_round_to_step(value, step, expected):
    assert round_to_step(Decimal(value), Decimal(step)) == Decimal(expected)


def test_round_down_to_step():
    assert round_down_to_step(Decimal("55.9"), Decimal(28)) == Decimal(28)
    assert round_down_to_step(Decimal("56"), Decimal(28)) == Decimal(56)


def test_round_to_step_not_above_goes_down_when_nearest_passes_the_ceiling():
    # 70.6 rounds to 71 in 1 mg steps, but the maximum is 70.6 mg.
    assert round_to_step_not_above(Decimal("70.6"), Decimal(1), Decimal("70.6")) == Decimal(70)
    # Without a ceiling in the way, it is ordinary rounding.
    assert round_to_step_not_above(Decimal("70.6"), Decimal(1), Decimal(72)) == Decimal(71)


@pytest.mark.parametrize("step", ["0", "-1"])
def test_rounding_step_must_be_positive(step):
    with pytest.raises(UnitsError):
        round_to_step(Decimal(1), Decimal(step))


@given(value=amounts, step=steps, ceiling=amounts)
def test_round_to_step_not_above_never_exceeds_the_ceiling(value, step, ceiling):
    result = round_to_step_not_above(value, step, ceiling)
    assert result <= max(ceiling, Decimal(0)) or result == 0
    assert result % step == 0
    nearest = round_to_step(value, step)
    if nearest <= ceiling:
        assert result == nearest
        assert abs(result - value) <= step / 2
