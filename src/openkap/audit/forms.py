from django import forms

from openkap.audit.models import AuditAction


class AuditFilterForm(forms.Form):
    mrn = forms.CharField(label="Patient MRN", required=False, max_length=40)
    # Kept for links that filter by the record (not shown: people search by MRN).
    patient_id = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    actor_email = forms.CharField(label="User email", required=False, max_length=254)
    action = forms.ChoiceField(choices=[("", "Any action"), *AuditAction.choices], required=False)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
