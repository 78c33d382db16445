from django import forms

from openkap.audit.models import AuditAction


class AuditFilterForm(forms.Form):
    patient_id = forms.IntegerField(label="Patient id", required=False, min_value=1)
    actor_email = forms.CharField(label="User email", required=False, max_length=254)
    action = forms.ChoiceField(choices=[("", "Any action"), *AuditAction.choices], required=False)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
