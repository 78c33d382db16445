"""Forms parse; the rules live in the services so the web and the API agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from openkap.core import consent_text
from openkap.core.pathway import CHECKLIST, Finding
from openkap.core.pathway.episode import measure_name
from openkap.core.pathway.notes import NoteTemplate
from openkap.core.pathway.plan import (
    MEASURE_PHASES,
    SAFETY_PLAN_SECTIONS,
    SCHEDULABLE_MEASURES,
)
from openkap.core.protocols import example_ids, load_example
from openkap.pathway.models import (
    OUTCOME_CHOICES,
    ROUTE_CHOICES,
    Intake,
    ReassessmentReview,
    TreatmentPlan,
)

BLANK = [("", "—")]


def _area(rows: int = 3, **attrs: Any) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, **attrs})


def _date() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PasswordField(forms.CharField):
    def __init__(self) -> None:
        super().__init__(
            label="Your password (to sign)", strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
            help_text="Signing needs your password again; a wrong one is logged.",
        )


class TransitionForm(forms.Form):
    name = forms.CharField(max_length=40, widget=forms.HiddenInput)
    reason = forms.CharField(required=False, widget=_area(2), label="Reason")


class IntakeForm(forms.Form):
    presenting_problems = forms.CharField(required=False, widget=_area(3))
    diagnoses = forms.CharField(
        required=False, widget=_area(3, placeholder="F33.1 Major depressive disorder, recurrent, moderate"),
        label="Diagnoses (ICD-10-CM)", help_text="One per line: the code, then the description.",
    )
    psychiatric_history = forms.CharField(required=False, widget=_area(3))
    medical_history = forms.CharField(required=False, widget=_area(3))
    current_medications = forms.CharField(required=False, widget=_area(2))
    substance_use = forms.CharField(required=False, widget=_area(2))
    prior_psychedelic_use = forms.CharField(
        required=False, widget=_area(2), label="Prior ketamine or psychedelic use"
    )
    pregnancy_status = forms.ChoiceField(required=False, choices=BLANK + list(Intake.Pregnancy.choices))
    systolic_bp = forms.IntegerField(required=False, label="Systolic BP (mmHg)")
    diastolic_bp = forms.IntegerField(required=False, label="Diastolic BP (mmHg)")
    weight_value = forms.DecimalField(
        required=False, label="Weight today", max_digits=6, decimal_places=2,
        help_text="Recorded in the patient's weights (converted to kg once).",
    )
    weight_unit = forms.ChoiceField(choices=[("kg", "kg"), ("lb", "lb")], initial="kg", label="Unit")
    intended_route = forms.ChoiceField(
        required=False, choices=BLANK + ROUTE_CHOICES, label="Intended route",
        help_text="Judges the checklist for this route until a plan names one.",
    )

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["diagnoses"] = parse_diagnoses(data["diagnoses"])
        return data


def parse_diagnoses(text: str) -> list[dict[str, str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        code, _, description = line.partition(" ")
        rows.append({"code": code, "description": description.strip(" -–:")})
    return rows


def diagnoses_text(diagnoses: list[dict[str, str]]) -> str:
    return "\n".join(f"{d['code']} {d['description']}" for d in diagnoses)


ANSWER_CHOICES = [("", "Not asked yet"), ("no", "Absent"), ("yes", "Present")]


class ChecklistForm(forms.Form):
    """One yes/no question per checklist item, with an optional note."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in CHECKLIST.items:
            self.fields[f"item_{item.id}"] = forms.ChoiceField(
                label=item.label, choices=ANSWER_CHOICES, required=False, widget=forms.RadioSelect
            )
            self.fields[f"note_{item.id}"] = forms.CharField(
                label="Note", required=False, max_length=2000
            )

    def answers(self) -> dict[str, bool | None]:
        mapping = {"yes": True, "no": False, "": None}
        return {item.id: mapping[self.cleaned_data[f"item_{item.id}"]] for item in CHECKLIST.items}

    def notes(self) -> dict[str, str]:
        return {item.id: self.cleaned_data[f"note_{item.id}"] for item in CHECKLIST.items}


class EligibilityForm(forms.Form):
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, widget=forms.RadioSelect)
    reasons = forms.CharField(widget=_area(3))
    conditions = forms.CharField(
        required=False, widget=_area(2),
        help_text="Required for 'eligible with conditions' (e.g. blood pressure below 140/90 before each dose).",
    )

    def __init__(self, *args: Any, relative: tuple[Finding, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for finding in relative:
            self.fields[f"justification_{finding.item_id}"] = forms.CharField(
                label=f"Justification: {finding.label}", required=False, widget=_area(2),
                help_text="Relative contraindication present: why treatment is still justified.",
            )
        self.fields["password"] = PasswordField()

    def justifications(self) -> dict[str, str]:
        return {
            name.removeprefix("justification_"): value
            for name, value in self.cleaned_data.items()
            if name.startswith("justification_")
        }


def protocol_choices() -> list[tuple[str, str]]:
    return [(pid, f"{load_example(pid).title} ({pid})") for pid in example_ids()]


MEASURE_CHOICES = [(m, measure_name(m)) for m in SCHEDULABLE_MEASURES]


class PlanForm(forms.Form):
    indication = forms.CharField(widget=_area(2))
    route = forms.ChoiceField(choices=BLANK + ROUTE_CHOICES)
    protocol_id = forms.ChoiceField(label="Protocol", choices=())
    dose_level = forms.ChoiceField(
        label="Intended dose level", choices=TreatmentPlan.DOSE_LEVEL_CHOICES, widget=forms.RadioSelect
    )
    dosing_sessions_planned = forms.IntegerField(label="Dosing sessions planned", min_value=1, max_value=52)
    integration_cadence_days = forms.IntegerField(
        label="Integration within (days)", min_value=1, max_value=30, initial=7,
        help_text="An integration session is due within this many days of each dosing session.",
    )
    goals = forms.CharField(widget=_area(3))
    change_reason = forms.CharField(
        required=False, widget=_area(2), label="What changes, and why",
        help_text="Required for every version after the first.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["protocol_id"]).choices = BLANK + protocol_choices()
        for phase, label in MEASURE_PHASES.items():
            self.fields[f"measures_{phase}"] = forms.MultipleChoiceField(
                label=label, choices=MEASURE_CHOICES, required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text="PHQ-9, GAD-7 and the C-SSRS screener are always taken at baseline."
                if phase == "baseline" else "",
            )
        self.fields["password"] = PasswordField()

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "indication": d["indication"], "route": d["route"], "protocol_id": d["protocol_id"],
            "dose_level": d["dose_level"], "dosing_sessions_planned": d["dosing_sessions_planned"],
            "integration_cadence_days": d["integration_cadence_days"], "goals": d["goals"],
            "change_reason": d["change_reason"], "password": d["password"],
            "measure_schedule": {phase: d[f"measures_{phase}"] for phase in MEASURE_PHASES},
        }


class PreparationSessionForm(forms.Form):
    held_on = forms.DateField(label="Held on", widget=_date())
    therapist = forms.ChoiceField(label="Therapist", choices=())
    notes = forms.CharField(required=False, widget=_area(3))

    def __init__(self, *args: Any, therapists: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["therapist"]).choices = [(str(i), n) for i, n in therapists]


class IntentionForm(forms.Form):
    text = forms.CharField(label=_("Intention"), max_length=2000, widget=_area(2))


class SafetyPlanForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, label in SAFETY_PLAN_SECTIONS.items():
            self.fields[key] = forms.CharField(label=label, required=False, widget=_area(4))


class EscortForm(forms.Form):
    name = forms.CharField(label="Escort's name", max_length=200)
    phone = forms.CharField(label="Escort's phone", max_length=30)
    relationship = forms.CharField(required=False, max_length=60)


class InstructionsForm(forms.Form):
    fasting = forms.CharField(required=False, widget=_area(2))
    medications_to_hold = forms.CharField(required=False, widget=_area(2), label="Medications to hold")
    what_to_bring = forms.CharField(required=False, widget=_area(2), label="What to bring")


class ConsentSignForm(forms.Form):
    document_sha256 = forms.CharField(max_length=64, widget=forms.HiddenInput)
    has_read = forms.BooleanField(label=_("I have read this document and had my questions answered"))
    typed_name = forms.CharField(label=_("Full legal name (typed signature)"), max_length=200)


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Reason for withdrawing consent"), widget=_area(2))


class ConsentDocumentForm(forms.Form):
    route = forms.ChoiceField(choices=BLANK + ROUTE_CHOICES)
    title = forms.CharField(max_length=200)
    text = forms.CharField(widget=_area(18), help_text=(
        "Plain text; paragraphs separated by a blank line. State the protocol's facts with placeholders, "
        "filled from the patient's protocol when they sign: "
        + "; ".join(f"{{{{{name}}}}} = {what}" for name, what in consent_text.PLACEHOLDERS.items()) + "."
    ))


class IntegrationNoteForm(forms.Form):
    session_date = forms.DateField(label="Integration session held on", widget=_date())
    dosing_session = forms.ChoiceField(label="Integrates the dosing session of", required=False, choices=())

    def __init__(self, *args: Any, template: NoteTemplate, sessions: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        cast(forms.ChoiceField, self.fields["dosing_session"]).choices = [("", "No dosing session (preparation or general)")] + [
            (str(i), label) for i, label in sessions
        ]
        for section in template.sections:
            self.fields[f"section_{section.key}"] = forms.CharField(
                label=section.label, required=False, widget=_area(3), help_text=section.prompt
            )

    def sections(self) -> dict[str, str]:
        return {s.key: self.cleaned_data[f"section_{s.key}"] for s in self.template.sections}


class PsychotherapyNoteForm(forms.Form):
    session_date = forms.DateField(label="Session date", widget=_date())
    text = forms.CharField(label="Note", widget=_area(10))


class GrantForm(forms.Form):
    user = forms.ChoiceField(label="Share with", choices=())

    def __init__(self, *args: Any, colleagues: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["user"]).choices = [(str(i), n) for i, n in colleagues]


class ReassessmentForm(forms.Form):
    summary = forms.CharField(widget=_area(4), help_text="Response to treatment, measures, risk, the patient's view.")
    recommendation = forms.ChoiceField(choices=ReassessmentReview.Recommendation.choices, widget=forms.RadioSelect)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"] = PasswordField()


class JournalForm(forms.Form):
    text = forms.CharField(label=_("Reflection"), widget=_area(5))


class CommitmentForm(forms.Form):
    prefix = "practice"  # shares the journal page with the reflection form
    text = forms.CharField(label=_("A small practice"), max_length=200,
                           help_text=_("For example: 10 minutes of mindful walking each morning."))
