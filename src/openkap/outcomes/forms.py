"""The report's filters, as a GET form (a report can be bookmarked and changes nothing)."""

from __future__ import annotations

from django import forms

from openkap.accounts.models import Organization, Site, User
from openkap.core.instruments import get_instrument
from openkap.core.outcomes import DEFAULT_DEFINITIONS
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.outcomes.cohort import CohortFilters
from openkap.outcomes.selectors import REPORT_INSTRUMENTS


class ReportFilterForm(forms.Form):
    instrument = forms.ChoiceField(
        choices=[(i, get_instrument(i).short_name) for i in REPORT_INSTRUMENTS], initial="phq9"
    )
    date_from = forms.DateField(required=False, label="First session from",
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="First session to",
                              widget=forms.DateInput(attrs={"type": "date"}))
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All sites")
    clinician = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="All clinicians",
                                       label="Clinician (care team)")
    route = forms.ChoiceField(required=False, choices=[("", "All routes"), *((r.value, ROUTE_LABELS[r]) for r in Route)])
    diagnosis = forms.CharField(required=False, max_length=8, label="Diagnosis (ICD-10)",
                                help_text="A code or its start, e.g. F33 or F43.1")
    baseline_band = forms.CharField(required=False, max_length=40, label="Baseline severity band")
    endpoint_from_days = forms.IntegerField(min_value=0, max_value=365, initial=DEFAULT_DEFINITIONS.endpoint_from_days,
                                            required=False, label="Endpoint from (days after induction)")
    endpoint_to_days = forms.IntegerField(min_value=0, max_value=365, initial=DEFAULT_DEFINITIONS.endpoint_to_days,
                                          required=False, label="Endpoint to (days)")

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.filter(organization=organization).order_by("name")  # type: ignore[attr-defined]
        self.fields["clinician"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(memberships__organization=organization, memberships__is_active=True,
                                memberships__role__in=["therapist", "prescriber", "nurse"])
            .distinct().order_by("full_name")
        )
        instrument = self.data.get("instrument") or "phq9"
        if instrument in REPORT_INSTRUMENTS:
            self.fields["baseline_band"] = forms.ChoiceField(
                required=False, label="Baseline severity band",
                choices=[("", "All bands"), *((b.id, b.label) for b in get_instrument(instrument).bands)],
            )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        low = data.get("endpoint_from_days")
        high = data.get("endpoint_to_days")
        if low is not None and high is not None and low > high:
            self.add_error("endpoint_to_days", "The endpoint window must end after it starts.")
        return data

    def filters(self) -> CohortFilters:
        d = self.cleaned_data
        return CohortFilters(
            instrument=d["instrument"],
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
            site_id=d["site"].id if d.get("site") else None,
            clinician_id=d["clinician"].id if d.get("clinician") else None,
            route=Route(d["route"]) if d.get("route") else None,
            diagnosis=d.get("diagnosis") or "",
            baseline_band=d.get("baseline_band") or "",
            endpoint_from_days=d["endpoint_from_days"] if d.get("endpoint_from_days") is not None
            else DEFAULT_DEFINITIONS.endpoint_from_days,
            endpoint_to_days=d["endpoint_to_days"] if d.get("endpoint_to_days") is not None
            else DEFAULT_DEFINITIONS.endpoint_to_days,
        )


class ResearchExportForm(forms.Form):
    k = forms.IntegerField(
        label="k (smallest group of patients sharing age band, sex, state, ZIP3 and route)",
        min_value=2, max_value=100, initial=5,
        help_text="Patients in smaller groups are generalised step by step, or left out.",
    )
    dates = forms.ChoiceField(
        label="Dates",
        choices=[("relative", "Days from each patient's first dosing session (Safe Harbor)"),
                 ("shifted", "Dates shifted by a secret offset per patient (whole weeks)")],
        initial="relative", widget=forms.RadioSelect,
    )
