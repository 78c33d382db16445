"""Forms parse input only; the rules are in `services` (shared with the API)."""

from __future__ import annotations

from typing import Any

from django import forms

from openkap.core.instruments import Instrument, all_instruments
from openkap.core.instruments.presentation import item_wording
from openkap.measures.models import Occasion
from openkap.measures.schedule import SCHEDULED_OCCASIONS

# Scales with more values than this are typed as a number (EBI's 0-100).
MAX_RADIO_VALUES = 11


def option_choices(item: Any, *, numbered: bool = True) -> list[tuple[str, str]]:
    """Staff see each option's value; patients see the option's words where it has them."""
    labels = {o.value: o.label for o in item.scale.options}
    choices = []
    for v in item.scale.values:
        words = labels.get(v, "")
        if not words or words == str(v):
            choices.append((str(v), str(v)))
        else:
            choices.append((str(v), f"{v} — {words}" if numbered else words))
    return choices


def answer_field(item: Any, *, required: bool, label: str | None = None, numbered: bool = True) -> forms.Field:
    label = label or item_wording(item)
    if len(item.scale.values) > MAX_RADIO_VALUES:
        return forms.IntegerField(
            label=label, required=required, min_value=item.scale.minimum, max_value=item.scale.maximum,
            help_text=f"{item.scale.minimum} to {item.scale.maximum}",
        )
    return forms.ChoiceField(
        label=label, required=required, choices=option_choices(item, numbered=numbered),
        widget=forms.RadioSelect,
    )


class AnswerForm(forms.Form):
    """One question of the patient's questionnaire (one item per screen)."""

    def __init__(self, *args: Any, item: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["answer"] = answer_field(item, required=True, numbered=False)
        self.is_number = len(item.scale.values) > MAX_RADIO_VALUES


class ResponseEntryForm(forms.Form):
    """Staff entry of a whole instrument on one page. Blank items stay blank (the core
    decides whether the response can be scored)."""

    completed_at = forms.DateTimeField(
        label="Answered at", required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for now.",
    )
    occasion = forms.ChoiceField(choices=Occasion.choices, initial=Occasion.AD_HOC, required=False)
    allow_incomplete = forms.BooleanField(
        label="Record as incomplete if items are unanswered (it will not be scored; safety flags still count)",
        required=False,
    )
    correction_reason = forms.CharField(
        label="What was wrong with the original", required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, instrument: Instrument, correcting: bool = False,
                 fixed_occasion: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        self.item_names = []
        for number, item in enumerate(instrument.items, 1):
            name = f"item_{item.id}"
            self.fields[name] = answer_field(item, required=False, label=f"{number}. {item_wording(item)}")
            self.item_names.append(name)
        self.extra_names = []
        for item in instrument.supplementary_items:
            name = f"extra_{item.id}"
            self.fields[name] = answer_field(item, required=False)
            self.extra_names.append(name)
        if not correcting:
            del self.fields["correction_reason"]
        if fixed_occasion or correcting:
            del self.fields["occasion"]

    def item_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.item_names]

    def extra_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.extra_names]

    def answers(self) -> dict[str, Any]:
        return {name[5:]: self.cleaned_data.get(name) for name in self.item_names}

    def supplementary(self) -> dict[str, Any]:
        return {
            name[6:]: self.cleaned_data.get(name)
            for name in self.extra_names
            if self.cleaned_data.get(name) not in (None, "")
        }


def _instrument_choices() -> list[tuple[str, str]]:
    return [(i.id, f"{i.short_name} — {i.name}") for i in all_instruments()]


class AssignForm(forms.Form):
    instrument_id = forms.ChoiceField(label="Questionnaire", choices=_instrument_choices)
    due_on = forms.DateField(
        label="Due from", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty for today.",
    )


class LinkForm(forms.Form):
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=30, initial=7)
    send_email = forms.BooleanField(label="Email the link to the patient", required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200, label="Why it is no longer needed")


class PlanForm(forms.Form):
    """One set of checkboxes per scheduled occasion."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(Occasion.choices)
        for occasion in SCHEDULED_OCCASIONS:
            self.fields[occasion] = forms.MultipleChoiceField(
                label=labels[occasion], required=False, choices=[(i.id, i.short_name) for i in all_instruments()],
                widget=forms.CheckboxSelectMultiple,
            )


class WordingForm(forms.Form):
    licence_reference = forms.CharField(
        label="Licence or permission", max_length=200, required=False,
        help_text="e.g. the licence agreement number or the permission letter's date",
    )

    def __init__(self, *args: Any, instrument: Instrument, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item_names = []
        for number, item in enumerate(instrument.items, 1):
            name = f"text_{item.id}"
            self.fields[name] = forms.CharField(
                label=f"{number}. {item.label}", required=False, max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            self.item_names.append(name)

    def item_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.item_names]

    def texts(self) -> dict[str, str]:
        return {name[5:]: self.cleaned_data.get(name, "") for name in self.item_names}
