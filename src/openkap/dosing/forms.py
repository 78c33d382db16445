"""Forms of the medicine-session pages: parsing only. The rules are the services'
(and the core's), so the web and the API refuse the same things with the same words."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from openkap.core.protocols import Protocol, example_ids
from openkap.core.protocols.fields import BY_NAME as PROTOCOL_BY_NAME
from openkap.core.protocols.fields import FIELDS as PROTOCOL_FIELDS
from openkap.core.protocols.fields import MAX_VALUE_CHARS, Kind
from openkap.core.protocols.fields import Field as ProtocolField
from openkap.dosing.models import AdverseEvent, Alarm, PregnancyStatus, RemsForm
from openkap.dosing.services import AFTERCARE, CNS_ACTIVE, REMS_EDITABLE, STANDARD_ITEMS

NUMERIC = {"inputmode": "numeric", "pattern": "[0-9]*", "autocomplete": "off"}
DECIMAL = {"inputmode": "decimal", "autocomplete": "off"}


def _time(label: str = "Time (leave empty for now)") -> forms.TimeField:
    return forms.TimeField(
        label=label, required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Only for a late entry: the time it happened today.",
    )


def _reading(label: str, required: bool = False) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=required, widget=forms.NumberInput(attrs=NUMERIC))


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label, choices=[("", "—"), ("yes", "Yes"), ("no", "No")], required=False,
        coerce=lambda v: {"yes": True, "no": False}.get(v), empty_value=None,
    )


class SessionPageForm(forms.Form):
    """A form on the session page, where many step forms share field names (time, note):
    ids carry the form's name so each label points at its own field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_{type(self).__name__.removesuffix('Form').lower()}_%s")
        super().__init__(*args, **kwargs)


class ProtocolContentForm(forms.Form):
    content = forms.CharField(
        label="Protocol (JSON)", widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false", "class": "code"}),
        help_text="The protocol's content as JSON, in the format of the shipped examples. Every limit is checked "
                  "when you save; the version number is set by the library.",
    )
    change_reason = forms.CharField(
        label="What changes, and why", required=False, widget=forms.Textarea(attrs={"rows": 2}),
    )


def _protocol_widget(field: ProtocolField) -> forms.Widget:
    if field.kind is Kind.CHOICE:
        return forms.Select(choices=[("", "—"), *field.choices] if not field.required else field.choices)
    if field.kind is Kind.YES_NO:
        return forms.Select(choices=[("no", "No"), ("yes", "Yes")])
    if field.kind is Kind.CRITERIA:
        return forms.CheckboxSelectMultiple(choices=field.choices)
    if field.kind is Kind.JSON:
        return forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "code"})
    if field.kind in (Kind.ALARMS, Kind.CHECKLIST, Kind.SOURCES, Kind.LONG_TEXT):
        return forms.Textarea(attrs={"rows": 6})
    if field.kind is Kind.DECIMAL:
        return forms.TextInput(attrs=DECIMAL)
    if field.kind is Kind.WHOLE:
        return forms.TextInput(attrs=NUMERIC)
    return forms.TextInput()


def protocol_form_name(name: str) -> str:
    return name.replace(".", "__")


class ProtocolFieldsForm(forms.Form):
    """Every field of a protocol (core.protocols.fields), as text: the service parses
    and checks them, so the form and the API refuse the same values in the same words."""

    change_reason = forms.CharField(label="What changes, and why", required=False,
                                    widget=forms.Textarea(attrs={"rows": 2}), max_length=4000)

    def __init__(self, *args: Any, id_fixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups: dict[str, list[str]] = {}
        for field in PROTOCOL_FIELDS:
            name = protocol_form_name(field.name)
            form_field: forms.Field
            if field.kind is Kind.CRITERIA:
                form_field = forms.MultipleChoiceField(choices=field.choices, widget=_protocol_widget(field),
                                                       required=False)
            else:
                form_field = forms.CharField(widget=_protocol_widget(field), required=False, strip=False,
                                             max_length=MAX_VALUE_CHARS)
            form_field.label, form_field.help_text = field.label, field.help
            if field.name == "id" and id_fixed:
                form_field.disabled = True
                form_field.help_text = "A new version keeps the identifier; a new identifier is a new protocol."
            self.fields[name] = form_field
            self.groups.setdefault(field.group, []).append(name)
        self.order_fields([*(protocol_form_name(f.name) for f in PROTOCOL_FIELDS), "change_reason"])

    @staticmethod
    def initial_from(values: dict[str, str]) -> dict[str, object]:
        return {
            protocol_form_name(name): (value.split() if PROTOCOL_BY_NAME[name].kind is Kind.CRITERIA else value)
            for name, value in values.items()
        }

    def grouped(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(group, [self[name] for name in names]) for group, names in self.groups.items()]

    def fields_for_service(self) -> dict[str, object]:
        values: dict[str, object] = {}
        for field in PROTOCOL_FIELDS:
            name = protocol_form_name(field.name)
            if self.fields[name].disabled:
                continue
            value = self.cleaned_data.get(name)
            values[field.name] = "\n".join(value) if isinstance(value, list) else (value or "")
        return values

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            name = protocol_form_name(key)
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class ExampleImportForm(forms.Form):
    example_id = forms.ChoiceField(label="Shipped example", choices=[])

    def __init__(self, *args, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["example_id"]).choices = choices if choices is not None else [(e, e) for e in example_ids()]


class PasswordForm(SessionPageForm):
    password = forms.CharField(
        label="Your password (signature)", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ProtocolApproveForm(PasswordForm):
    accept_warnings = forms.BooleanField(
        label="I have read the warnings and approve these limits for our clinic", required=False,
    )


class CheckInForm(SessionPageForm):
    time = _time()


class ChecklistForm(SessionPageForm):
    fasting_confirmed = forms.BooleanField(label="Fasting confirmed", required=False)
    fasting_note = forms.CharField(label="Fasting note (last food and drink)", required=False, max_length=300)
    escort_name = forms.CharField(label="Escort's name", required=False, max_length=200)
    escort_phone = forms.CharField(label="Escort's phone", required=False, max_length=30)
    escort_relationship = forms.CharField(label="Relationship", required=False, max_length=60)
    systolic = _reading("Systolic BP (mmHg)")
    diastolic = _reading("Diastolic BP (mmHg)")
    heart_rate = _reading("Heart rate (/min)")
    spo2 = _reading("SpO2 (%)")
    respiratory_rate = _reading("Respiratory rate (/min)")
    baseline_bp_note = forms.CharField(
        label="Blood pressure note (optional; above 140/90 the prescriber decides with the order)", required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    pregnancy_status = forms.ChoiceField(label="Pregnancy status", choices=[("", "—"), *PregnancyStatus.choices],
                                         required=False)
    new_medications = forms.CharField(label="New medications since the last visit (or 'none')", required=False,
                                      widget=forms.Textarea(attrs={"rows": 2}))
    cns_active_medications = forms.MultipleChoiceField(
        label="CNS-active medicines taken recently", choices=list(CNS_ACTIVE.items()), required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    suicide_risk_reviewed = forms.BooleanField(label="Current suicide-risk screen reviewed", required=False)
    suicide_risk_note = forms.CharField(label="Clinician's assessment (required when the screen is flagged)",
                                        required=False, widget=forms.Textarea(attrs={"rows": 2}))
    pre_dose_measures_note = forms.CharField(
        label="Why the dose goes ahead without the missing measures", required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    intention = forms.CharField(label="The patient's intention for this session", required=False,
                                widget=forms.Textarea(attrs={"rows": 2}))
    time = _time()

    def __init__(self, *args, protocol: Protocol | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.item_fields = []
        for item in protocol.pre_dose_checklist if protocol else ():
            if item.code in STANDARD_ITEMS:
                continue
            name = f"item_{item.code}"
            self.fields[name] = forms.BooleanField(label=item.text, required=False)
            self.item_fields.append(name)

    def data_for_service(self) -> dict[str, object]:
        data = {k: v for k, v in self.cleaned_data.items() if k != "time" and not k.startswith("item_")}
        data["items"] = {name.removeprefix("item_"): bool(self.cleaned_data.get(name)) for name in self.item_fields}
        return data


class OrderForm(SessionPageForm):
    dose = forms.DecimalField(label="Dose", required=False, max_digits=10, decimal_places=4,
                              widget=forms.NumberInput(attrs={**DECIMAL, "step": "any"}))
    override_reason = forms.CharField(label="Override reason (soft limits only)", required=False,
                                      widget=forms.Textarea(attrs={"rows": 2}))
    bp_decision = forms.CharField(
        label="Your decision on the pre-dose blood pressure (above 140/90)", required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Weigh the risk of a short-term rise against the benefit (SPRAVATO label 2.1).",
    )
    password = forms.CharField(label="Your password (signature)", required=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    time = _time("Ordered at (leave empty for now)")

    def __init__(self, *args, unit: str = "mg/kg", **kwargs):
        super().__init__(*args, **kwargs)
        self.unit = unit
        self.fields["dose"].label = f"Dose ({unit}; leave empty for the protocol's default)"


class CancelForm(SessionPageForm):
    reason = forms.CharField(label="Reason", max_length=1000, required=False)


class WeightForm(SessionPageForm):
    value = forms.DecimalField(label="Weight", max_digits=6, decimal_places=2,
                               widget=forms.NumberInput(attrs={**DECIMAL, "step": "0.1"}))
    unit = forms.ChoiceField(choices=[("kg", "kg"), ("lb", "lb (converted to kg)")])


class PrepareForm(SessionPageForm):
    lot = forms.TypedChoiceField(label="Lot drawn from", coerce=int, choices=[], widget=forms.RadioSelect)
    time = _time()

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["lot"]).choices = [(c.lot.id, c.lot.lot_number) for c in lots if c.usable]


class WitnessMixin(SessionPageForm):
    witness = forms.TypedChoiceField(label="Witness", coerce=int, choices=[], required=False, empty_value=None)
    witness_password = forms.CharField(label="Witness's password", required=False,
                                       widget=forms.PasswordInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, witnesses=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["witness"]).choices = [("", "—"), *[(u.id, u.full_name) for u in witnesses]]


class VoidForm(WitnessMixin):
    reason = forms.CharField(label="Why is the preparation set aside?", max_length=500, required=False)
    drawn = forms.BooleanField(label="Drug was drawn (waste it, witnessed)", required=False)


class VerifyForm(SessionPageForm):
    drug_confirmed = forms.BooleanField(label="The drug is as labelled on the order", required=False)
    concentration_seen = forms.DecimalField(label="Concentration on the label", required=False, max_digits=9,
                                            decimal_places=2, widget=forms.NumberInput(attrs={**DECIMAL, "step": "any"}))
    amount_seen = forms.DecimalField(label="Volume drawn (mL) or units counted", required=False, max_digits=12,
                                     decimal_places=3, widget=forms.NumberInput(attrs={**DECIMAL, "step": "any"}))
    dose_mg_seen = forms.DecimalField(label="Dose (mg)", required=False, max_digits=12, decimal_places=4,
                                      widget=forms.NumberInput(attrs={**DECIMAL, "step": "any"}))
    date_of_birth_seen = forms.DateField(label="Patient's date of birth (wristband)", required=False,
                                         widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    time = _time()


class AdministrationForm(WitnessMixin):
    kind = forms.CharField(widget=forms.HiddenInput)
    rate_ml_per_h = forms.DecimalField(label="Pump rate (mL/h)", required=False, max_digits=9, decimal_places=2,
                                       widget=forms.NumberInput(attrs={**DECIMAL, "step": "any"}))
    infused_volume_ml = forms.DecimalField(label="Volume infused (mL, pump reading)", required=False, max_digits=9,
                                           decimal_places=2, widget=forms.NumberInput(attrs={**DECIMAL, "step": "any"}))
    reason = forms.CharField(label="Reason", required=False, max_length=1000)
    time = _time()


class VitalsForm(SessionPageForm):
    systolic = _reading("Systolic")
    diastolic = _reading("Diastolic")
    heart_rate = _reading("HR")
    spo2 = _reading("SpO2 %")
    respiratory_rate = _reading("RR")
    note = forms.CharField(label="Note", required=False, max_length=300)
    time = _time()


class AlarmForm(SessionPageForm):
    action = forms.ChoiceField(label="Action taken", choices=[("", "—"), *Alarm.Action.choices], required=False)
    note = forms.CharField(label="Note", required=False, max_length=1000)


MOAAS_CHOICES = [
    ("", "—"),
    ("5", "5 · Responds readily to name in normal tone"),
    ("4", "4 · Lethargic response to name in normal tone"),
    ("3", "3 · Responds only after name is called loudly or repeatedly"),
    ("2", "2 · Responds only after mild prodding or shaking"),
    ("1", "1 · Does not respond to mild prodding or shaking"),
    ("0", "0 · Does not respond to deep stimulus"),
]
CADSS_CHOICES = [("", "—"), ("0", "0 Not at all"), ("1", "1 Slightly"), ("2", "2 Moderately"), ("3", "3 Considerably"),
                 ("4", "4 Extremely")]


class ObservationForm(SessionPageForm):
    moaas = forms.TypedChoiceField(label="Sedation (MOAA/S)", choices=MOAAS_CHOICES, coerce=int, required=False,
                                   empty_value=None)
    respiration_normal = _yes_no("Breathing normal (rate, depth, no obstruction)")
    note = forms.CharField(label="Note", required=False, max_length=300)
    time = _time()

    def __init__(self, *args, cadss_items=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.cadss_fields = []
        for item in cadss_items:
            name = f"cadss_{item.id}"
            self.fields[name] = forms.TypedChoiceField(label=item.label, choices=CADSS_CHOICES, coerce=int,
                                                       required=False, empty_value=None)
            self.cadss_fields.append(name)

    def cadss_answers(self) -> dict[str, int] | None:
        answers = {n.removeprefix("cadss_"): self.cleaned_data.get(n) for n in self.cadss_fields}
        if all(v is None for v in answers.values()):
            return None
        return answers  # type: ignore[return-value]


class AdverseEventForm(SessionPageForm):
    code = forms.ChoiceField(label="Event", choices=[("", "—"), *AdverseEvent.Code.choices], required=False)
    description = forms.CharField(label="Description (required for 'other')", required=False, max_length=300)
    severity = forms.ChoiceField(choices=[("", "—"), *AdverseEvent.Severity.choices], required=False)
    onset = _time("Onset (leave empty for now)")
    action_taken = forms.CharField(label="Action taken", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    antiemetic_drug = forms.CharField(label="Antiemetic given", required=False, max_length=100)
    antiemetic_dose = forms.CharField(label="Antiemetic dose", required=False, max_length=40)
    antiemetic_time = _time("Antiemetic time")
    outcome = forms.ChoiceField(choices=[("", "—"), *AdverseEvent.Outcome.choices], required=False)
    serious = _yes_no("Serious adverse event")


class DischargeForm(SessionPageForm):
    alert_and_oriented = forms.BooleanField(label="Alert and oriented", required=False)
    ambulating = forms.BooleanField(label="Walks without help", required=False)
    nausea_controlled = forms.BooleanField(label="Nausea controlled", required=False)
    escort_present = forms.BooleanField(label="Escort present to take the patient home", required=False)
    escort_name = forms.CharField(label="Escort's name", required=False, max_length=200)
    escort_phone = forms.CharField(label="Escort's phone", required=False, max_length=30)
    aftercare_instructions = forms.CharField(label="Aftercare instructions given", initial=AFTERCARE, required=False,
                                             widget=forms.Textarea(attrs={"rows": 4}))
    missed_vitals_reason = forms.CharField(
        label="Why scheduled vitals checks were missed", required=False, max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed when a scheduled check has no reading (the card above lists them).",
    )
    password = forms.CharField(label="Your password (signature)", required=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    time = _time()


class EndForm(WitnessMixin):
    reason = forms.CharField(label="Why does the session end without a dose?", required=False, max_length=1000)


RemsEditForm = forms.modelform_factory(RemsForm, fields=REMS_EDITABLE, widgets={
    "serious_adverse_event_description": forms.Textarea(attrs={"rows": 2}),
})


class RemsSubmitForm(SessionPageForm):
    submission_reference = forms.CharField(label="REMS confirmation number", required=False, max_length=80)
