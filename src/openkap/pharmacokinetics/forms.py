from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from openkap.core.pk import ROUTES
from openkap.core.pk.params import INTERACTIONS
from openkap.pharmacokinetics.explain import SHORT_LABELS
from openkap.pharmacokinetics.predictions import (
    DOSE_MG_MAX,
    HOURS_RANGE,
    INFUSION_MIN_MAX,
    WEIGHT_KG_RANGE,
)


class CompareForm(forms.Form):
    """Routes at equal milligrams; ranges match the prediction's own checks."""

    dose_mg = forms.DecimalField(
        label="Dose (mg)",
        min_value=Decimal("0.1"),
        max_value=Decimal(str(DOSE_MG_MAX)),
        max_digits=6,
        decimal_places=1,
        initial=Decimal(100),
        help_text="The same milligrams for every route.",
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
        initial=["im", "sublingual"],
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
    hours = forms.DecimalField(
        label="Hours to show",
        min_value=Decimal(str(HOURS_RANGE[0])),
        max_value=Decimal(str(HOURS_RANGE[1])),
        max_digits=3,
        decimal_places=1,
        initial=Decimal(6),
    )

    def prediction_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "routes": data["routes"],
            "dose_mg": data["dose_mg"],
            "weight_kg": data["weight_kg"],
            "infusion_min": data["infusion_min"],
            "hours": data["hours"],
            "interaction": data["interaction"] or None,
        }
