from __future__ import annotations

from django import forms


class TaskResolveForm(forms.Form):
    note = forms.CharField(
        label="What was done", max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required: e.g. who called the patient, the assessment made, the plan.",
    )
