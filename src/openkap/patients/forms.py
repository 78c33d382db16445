from __future__ import annotations

from typing import cast

from django import forms
from django.forms.models import fields_for_model

from openkap.patients.models import CareTeamMember, HeightMeasurement, Patient, WeightMeasurement

PATIENT_FORM_FIELDS = [
    "legal_given_name", "legal_family_name", "preferred_name", "pronouns", "date_of_birth",
    "sex_at_birth", "gender_identity", "email", "phone", "address", "preferred_language",
    "emergency_contact_name", "emergency_contact_phone", "emergency_contact_relationship",
    "allergies", "current_medications",
]

_fields = fields_for_model(
    Patient,
    fields=PATIENT_FORM_FIELDS,
    widgets={
        "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        "address": forms.Textarea(attrs={"rows": 2}),
        "allergies": forms.Textarea(attrs={"rows": 2}),
        "current_medications": forms.Textarea(attrs={"rows": 3}),
    },
)
# Parsing only: the rules live in ``services._clean_patient_data`` so that all of a
# submission's errors show together, for the web and the API alike.
_fields["email"] = forms.CharField(required=False, max_length=254, widget=forms.EmailInput)
_fields["preferred_language"].required = False
_fields["preferred_language"].help_text = "Of the portal, emails and the PDFs the patient is given."
# Built from the model's fields, so a class made at run time (mypy sees a Form class).
PatientForm: type[forms.Form] = type("PatientForm", (forms.Form,), dict(_fields))
NewPatientForm: type[forms.Form] = type("NewPatientForm", (PatientForm,), {
    "mrn": forms.CharField(
        label="MRN (leave blank to generate)", required=False, max_length=20,
        help_text="Only when transferring a record number from another system.",
    ),
})


class WeightForm(forms.Form):
    static_fields = True  # no choices read per request (web_forms.form_fields)
    value = forms.DecimalField(label="Weight", max_digits=6, decimal_places=2, min_value=0)
    unit = forms.ChoiceField(choices=WeightMeasurement.Unit.choices)
    measured_on = forms.DateField(label="Measured on", widget=forms.DateInput(attrs={"type": "date"}))


class HeightForm(forms.Form):
    static_fields = True  # no choices read per request (web_forms.form_fields)
    value = forms.DecimalField(label="Height", max_digits=5, decimal_places=1, min_value=0)
    unit = forms.ChoiceField(choices=HeightMeasurement.Unit.choices)
    measured_on = forms.DateField(label="Measured on", widget=forms.DateInput(attrs={"type": "date"}))


class CareTeamForm(forms.Form):
    member = forms.ChoiceField(label="Staff member")

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["member"]).choices = list(choices)


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why you need this chart now. Admins review every emergency access.",
    )


CARE_TEAM_ROLE_LABELS = dict(CareTeamMember.CARE_TEAM_ROLES)


class PortalInviteForm(forms.Form):
    static_fields = True  # no choices read per request (web_forms.form_fields)
    email = forms.EmailField(
        required=False, max_length=254,
        help_text="Leave empty to use the address on the chart.",
    )
