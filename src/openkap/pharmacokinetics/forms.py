from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from openkap.core.pk import ROUTES
from openkap.core.pk.params import AGE_RANGE_YEARS, INTERACTIONS
from openkap.pharmacokinetics.explain import SHORT_LABELS
from openkap.pharmacokinetics.predictions import (
    DOSE_MG_MAX,
    HOURS_RANGE,
    INFUSION_MIN_MAX,
    WEIGHT_KG_RANGE,
    usual_doses,
)

USUAL, EQUAL = "usual", "equal"


class CompareForm(forms.Form):
    """Routes at their usual doses or at equal milligrams; ranges match the prediction's
    own checks. A query without ``basis`` (older links) compares equal milligrams."""

    basis = forms.ChoiceField(
        label="Doses",
        choices=[(USUAL, "Each route at its usual first dose (example protocols, for this weight)"),
                 (EQUAL, "The same milligrams for every route")],
        widget=forms.RadioSelect,
        initial=USUAL,
        required=False,
    )
    dose_mg = forms.DecimalField(
        label="Dose (mg)",
        min_value=Decimal("0.1"),
        max_value=Decimal(str(DOSE_MG_MAX)),
        max_digits=6,
        decimal_places=1,
        initial=Decimal(56),
        required=False,
        help_text="With the same milligrams for every route (esketamine comes in 28-mg devices).",
    )
    weight_kg = forms.DecimalField(
        label="Weight (kg)",
        min_value=Decimal(str(WEIGHT_KG_RANGE[0])),
        max_value=Decimal(str(WEIGHT_KG_RANGE[1])),
        max_digits=5,
        decimal_places=1,
        initial=Decimal(70),
        help_text="Racemic ketamine models scale with weight; the esketamine model has no weight effect.",
    )
    routes = forms.MultipleChoiceField(
        label="Routes",
        choices=[(r, SHORT_LABELS[r]) for r in ROUTES],
        widget=forms.CheckboxSelectMultiple,
        initial=["im", "sublingual", "in-esketamine"],
        error_messages={"required": "Choose at least one route."},
    )
    infusion_min = forms.IntegerField(
        label="IV infusion time (min)",
        min_value=0,
        max_value=int(INFUSION_MIN_MAX),
        required=False,
        initial=40,
        help_text="IV only; 0 is a bolus. Empty: 40 min.",
    )
    interaction = forms.ChoiceField(
        label="Interacting medicine",
        choices=[("", "None")] + [(k, i.label) for k, i in INTERACTIONS.items()],
        required=False,
        help_text="Racemic routes: documented CYP3A/2B6 effect on ketamine exposure.",
    )
    age_years = forms.IntegerField(
        label="Age (years)",
        min_value=int(AGE_RANGE_YEARS[0]),
        max_value=int(AGE_RANGE_YEARS[1]),
        required=False,
        help_text="Above 60 the liver clears ketamine more slowly (Perez-Ruixo 2021). Empty: not applied.",
    )
    hours = forms.DecimalField(
        label="Hours to show",
        min_value=Decimal(str(HOURS_RANGE[0])),
        max_value=Decimal(str(HOURS_RANGE[1])),
        max_digits=3,
        decimal_places=1,
        initial=Decimal(6),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        data["basis"] = data.get("basis") or EQUAL
        if data["basis"] == EQUAL and data.get("dose_mg") is None and "dose_mg" not in self.errors:
            self.add_error("dose_mg", "Enter the dose to compare at equal milligrams.")
        return data

    def prediction_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        usual = data["basis"] == USUAL
        return {
            "routes": data["routes"],
            "dose_mg": None if usual else data["dose_mg"],
            "doses_mg": ({r: d.dose_mg for r, d in usual_doses(data["weight_kg"]).items()} if usual else None),
            "weight_kg": data["weight_kg"],
            "infusion_min": data["infusion_min"],
            "hours": data["hours"],
            "interaction": data["interaction"] or None,
            "age_years": data.get("age_years"),
        }
