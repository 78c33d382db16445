"""Ideal and adjusted body weight (issue 12), against hand-computed worked examples.

Devine BJ, Drug Intell Clin Pharm 1974;8:650: IBW men 50 + 2.3 kg/in over 5 ft, women 45.5 + 2.3.
Robinson JD et al., Am J Hosp Pharm 1983;40:1016: men 52 + 1.9, women 49 + 1.7.
(Both as tabulated in Pai MP, Paloucek FP. Ann Pharmacother 2000;34:1066.)
Adjusted = IBW + 0.4 x (TBW - IBW): Bauer LA, Applied Clinical Pharmacokinetics, 2nd ed. 2008.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core.body_weight import (
    BodyWeightError,
    DosingWeightBasis,
    IdealWeightFormula,
    dosing_weight,
    ideal_body_weight,
)

D = Decimal
INCH = D("2.54")


@pytest.mark.parametrize(
    ("inches", "sex", "formula", "expected"),
    [
        # Hand: 50 + 2.3 x 10 = 73.0; 45.5 + 2.3 x 4 = 54.7.
        (70, "male", IdealWeightFormula.DEVINE, D("73.0")),
        (64, "female", IdealWeightFormula.DEVINE, D("54.7")),
        # Hand: 52 + 1.9 x 10 = 71.0; 49 + 1.7 x 4 = 55.8.
        (70, "male", IdealWeightFormula.ROBINSON, D("71.0")),
        (64, "female", IdealWeightFormula.ROBINSON, D("55.8")),
        # Exactly 5 ft: the base weights.
        (60, "male", IdealWeightFormula.DEVINE, D("50")),
        (60, "female", IdealWeightFormula.ROBINSON, D("49")),
    ],
)
def test_ideal_body_weight_worked_examples(inches, sex, formula, expected):
    assert ideal_body_weight(inches * INCH, sex, formula) == expected


def test_adjusted_body_weight_worked_example():
    # Male, 70 in (177.8 cm), 120 kg: IBW 73.0; 73.0 + 0.4 x (120 - 73.0) = 91.8 kg.
    used = dosing_weight(basis=DosingWeightBasis.ADJUSTED, total_kg=D(120), height_cm=D("177.8"), sex="male")
    assert used.kg == D("91.80")
    assert used.ideal_kg == D("73.0")
    assert any("Adjusted body weight" in line and "91.8" in line for line in used.lines)


def test_ideal_weight_is_used_only_below_the_total():
    # Female 64 in, 50 kg: IBW 54.7 is above the 50 kg she weighs; the dose uses 50 kg.
    for basis in (DosingWeightBasis.IDEAL, DosingWeightBasis.ADJUSTED):
        used = dosing_weight(basis=basis, total_kg=D(50), height_cm=64 * INCH, sex="female")
        assert used.kg == D(50)


def test_total_body_weight_needs_neither_height_nor_sex():
    used = dosing_weight(basis=DosingWeightBasis.TOTAL, total_kg=D("72.5"), height_cm=None, sex=None)
    assert (used.kg, used.lines) == (D("72.5"), ())


@pytest.mark.parametrize(
    ("height", "sex", "message"),
    [
        (None, "male", "record the patient's height"),
        (D(175), None, "sex at birth"),
        (D(175), "other", "sex at birth"),
        (D(69), "male", "not inches"),  # 69 typed for 69 in
        (D(300), "male", "outside 120.0-230.0 cm"),
    ],
)
def test_ideal_or_adjusted_weight_refuses_without_usable_height_and_sex(height, sex, message):
    with pytest.raises(BodyWeightError, match=message):
        dosing_weight(basis=DosingWeightBasis.IDEAL, total_kg=D(90), height_cm=height, sex=sex)


@given(
    total=st.decimals(min_value=30, max_value=250, places=1),
    height=st.decimals(min_value=120, max_value=230, places=1),
    sex=st.sampled_from(["female", "male"]),
    formula=st.sampled_from(list(IdealWeightFormula)),
    basis=st.sampled_from(list(DosingWeightBasis)),
)
def test_dosing_weight_never_exceeds_the_total(total, height, sex, formula, basis):
    """Property: whatever the basis, the dose is never computed on more than the patient weighs,
    and adjusted lies between ideal and total."""
    used = dosing_weight(basis=basis, total_kg=total, height_cm=height, sex=sex, formula=formula)
    assert 0 < used.kg <= total
    if basis is DosingWeightBasis.ADJUSTED and used.ideal_kg is not None and used.ideal_kg < total:
        ideal = dosing_weight(basis=DosingWeightBasis.IDEAL, total_kg=total, height_cm=height, sex=sex,
                              formula=formula)
        assert ideal.kg <= used.kg
