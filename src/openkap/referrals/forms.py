"""The referral forms. They only shape input; the services check and decide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.utils.translation import gettext_lazy as _

from openkap.core.referrals import ASQ_SCREEN_ITEMS, PRESCREEN_INSTRUMENTS, RED_FLAGS
from openkap.patients.models import Patient
from openkap.referrals import wording
from openkap.referrals.models import Referral

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

SEX_CHOICES = [
    ("female", _("Female")),
    ("male", _("Male")),
    ("intersex", _("Intersex")),
    ("unknown", _("I prefer not to say")),
]
assert {c for c, _label in SEX_CHOICES} == set(Patient.SexAtBirth.values)

RED_FLAG_LABELS = {
    "high_blood_pressure": _("High blood pressure that is not under control"),
    "psychosis": _("Psychosis: hearing or seeing things others do not, or beliefs others said were not real"),
    "mania": _("Mania or hypomania, or a diagnosis of bipolar disorder"),
    "pregnancy": _("Pregnant, possibly pregnant, or breastfeeding"),
    "substance_use": _("In the past year: drugs other than as prescribed, a problem with alcohol or drugs, "
                       "or any use of ketamine outside a clinic"),
    "vascular": _("An aneurysm, bleeding in the brain, or an arteriovenous malformation"),
    "ketamine_reaction": _("An allergic or severe reaction to ketamine or esketamine"),
    "liver_or_bladder": _("Severe liver disease, or bladder inflammation such as interstitial cystitis"),
    "sedating_medicines": _("Takes benzodiazepines, opioids, stimulants or MAO-inhibitor antidepressants"),
}
assert set(RED_FLAG_LABELS) == {f.id for f in RED_FLAGS}

MAX_INPUT = 20_000  # far above every limit, so the service names the limit; no unbounded input


class HoneypotMixin(forms.Form):
    # Hidden from people (CSS and aria-hidden); a bot that fills every field fills it.
    website = forms.CharField(required=False, max_length=MAX_INPUT, label=_("Leave this empty"))


def _text(label: StrOrPromise, *, required: bool = True, area: bool = False, help_text: StrOrPromise = "",
          autocomplete: str = "") -> forms.CharField:
    attrs = {"autocomplete": autocomplete} if autocomplete else {}
    widget = forms.Textarea(attrs={"rows": 5, **attrs}) if area else forms.TextInput(attrs=attrs)
    return forms.CharField(label=label, required=required, max_length=MAX_INPUT, strip=False, widget=widget,
                           help_text=help_text)


class ContactForm(HoneypotMixin):
    given_name = _text(_("First name"), autocomplete="given-name")
    family_name = _text(_("Last name"), autocomplete="family-name")
    date_of_birth = forms.CharField(label=_("Date of birth"), max_length=40,
                                    widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
                                    help_text=_("For example 1985-03-21."))
    sex_at_birth = forms.ChoiceField(label=_("Sex assigned at birth"), choices=SEX_CHOICES,
                                     widget=forms.RadioSelect,
                                     help_text=_("Ketamine dosing and some questionnaires depend on it."))
    email = forms.CharField(label=_("Email"), max_length=MAX_INPUT,
                            widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone = _text(_("Phone"), autocomplete="tel")
    preferred_language = forms.ChoiceField(label=_("Preferred language"), choices=Referral.Language.choices,
                                           widget=forms.RadioSelect)


class StoryForm(HoneypotMixin):
    reason = _text(_("What brings you to us?"), area=True,
                   help_text=_("In your own words: what you are struggling with, and for how long."))
    current_treatment = _text(
        _("Current treatment"), required=False, area=True,
        help_text=_("Medicines you take, therapy, and the name of your doctor or therapist, if any."),
    )


class InstrumentForm(HoneypotMixin):
    """One instrument's items as radio buttons, in the active language."""

    def __init__(self, instrument_id: str, items: tuple[str, ...] | None = None, *args: object,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.instrument_id = instrument_id
        self.stem = wording.stem(instrument_id)
        for item in items or PRESCREEN_INSTRUMENTS[instrument_id]:
            choices: list[tuple[str, StrOrPromise]] = [
                (str(v), label) for v, label in wording.options(instrument_id, item)
            ]
            refusable = instrument_id == "asq" and item in ASQ_SCREEN_ITEMS
            if refusable:
                choices.append(("refused", _("I prefer not to answer")))
            self.fields[item] = forms.ChoiceField(
                label=wording.item_text(instrument_id, item), choices=choices, widget=forms.RadioSelect,
                required=True,
            )

    def answers(self) -> dict[str, int | None]:
        return {k: None if v == "refused" else int(v)
                for k, v in self.cleaned_data.items() if k != "website"}


class HealthForm(HoneypotMixin):
    red_flags = forms.MultipleChoiceField(
        label=_("Has any of these ever applied to you? Tick all that do."), required=False,
        choices=[(f.id, RED_FLAG_LABELS[f.id]) for f in RED_FLAGS], widget=forms.CheckboxSelectMultiple,
        help_text=_("These do not rule you out; they tell the team what to ask about first."),
    )


class ConsentForm(HoneypotMixin):
    consent_to_contact = forms.BooleanField(
        label=_("The clinic's intake team may contact me by phone or email about this referral."),
        required=False,
    )


class ClinicianReferralForm(HoneypotMixin):
    referrer_name = _text(_("Your name"), autocomplete="name")
    referrer_npi = forms.CharField(label=_("Your NPI"), max_length=40,
                                   help_text=_("Ten digits; checked against its check digit."))
    referrer_practice = _text(_("Practice or organisation"), autocomplete="organization")
    referrer_email = forms.CharField(label=_("Your email"), max_length=MAX_INPUT,
                                     widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    referrer_phone = _text(_("Your phone"), autocomplete="tel")
    given_name = _text(_("Patient's first name"))
    family_name = _text(_("Patient's last name"))
    date_of_birth = forms.CharField(label=_("Patient's date of birth"), max_length=40,
                                    widget=forms.DateInput(attrs={"type": "date"}))
    sex_at_birth = forms.ChoiceField(label=_("Patient's sex assigned at birth"), choices=SEX_CHOICES,
                                     widget=forms.RadioSelect)
    email = forms.CharField(label=_("Patient's email"), required=False, max_length=MAX_INPUT,
                            widget=forms.EmailInput)
    phone = _text(_("Patient's phone"), required=False)
    preferred_language = forms.ChoiceField(label=_("Patient's preferred language"),
                                           choices=Referral.Language.choices, widget=forms.RadioSelect)
    reason = _text(_("Reason for referral"), area=True)
    current_treatment = _text(_("Current treatment and medicines"), required=False, area=True)
    suicide_risk = forms.BooleanField(
        label=_("The patient has reported thoughts of suicide or self-harm in the past month."), required=False,
    )
    red_flags = HealthForm.base_fields["red_flags"]
    letter = forms.FileField(label=_("Referral letter (PDF)"), required=False,
                             help_text=_("Optional; a PDF of at most 5 MB."),
                             widget=forms.ClearableFileInput(attrs={"accept": "application/pdf"}))
    consent_to_contact = forms.BooleanField(
        label=_("The patient agreed to be contacted by the clinic about this referral."), required=False,
    )


class AcceptForm(forms.Form):
    existing_patient_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    different_person = forms.BooleanField(required=False)
    note = forms.CharField(required=False, max_length=MAX_INPUT, widget=forms.Textarea(attrs={"rows": 2}),
                           label=_("Note (optional)"))


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Decision"), widget=forms.RadioSelect,
        choices=[(Referral.Status.DECLINED, _("Decline")),
                 (Referral.Status.REFERRED_ELSEWHERE, _("Refer elsewhere"))],
    )
    referred_to = forms.CharField(label=_("Referred to"), required=False, max_length=MAX_INPUT)
    letter = forms.CharField(label=_("Letter"), max_length=MAX_INPUT, widget=forms.Textarea(attrs={"rows": 14}))
    send = forms.BooleanField(label=_("Email the letter"), required=False, initial=True)
    note = forms.CharField(label=_("Internal note (optional)"), required=False, max_length=MAX_INPUT,
                           widget=forms.Textarea(attrs={"rows": 2}))
