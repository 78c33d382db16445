from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from openkap.accounts.models import Room
from openkap.core.authz import STAFF_ROLES, Role


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class CodeForm(forms.Form):
    code = forms.CharField(
        label="6-digit code from your authenticator app (or a recovery code)",
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class InviteForm(forms.Form):
    email = forms.EmailField()
    full_name = forms.CharField(label="Full name", max_length=200)
    role = forms.ChoiceField(choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES])
    licence_number = forms.CharField(label="Licence number (prescribers)", required=False, max_length=40)
    licence_state = forms.CharField(label="Licence state (prescribers)", required=False, max_length=2)
    npi = forms.CharField(label="NPI (prescribers)", required=False, max_length=10)


class AcceptInvitationForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), min_length=12)
    password_again = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use this token, e.g. 'outcomes export script'.")


class SiteForm(forms.Form):
    name = forms.CharField(max_length=200)
    address_line1 = forms.CharField(label="Address", max_length=200)
    address_line2 = forms.CharField(label="Address (line 2)", max_length=200, required=False)
    city = forms.CharField(max_length=100)
    state = forms.CharField(max_length=2, help_text="Two-letter code")
    postal_code = forms.CharField(label="ZIP code", max_length=10)
    phone = forms.CharField(max_length=30, required=False)
    dea_registration = forms.CharField(label="DEA registration number", max_length=9)


class RoomForm(forms.Form):
    site = forms.TypedChoiceField(coerce=int)
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Room.Kind.choices)
