from __future__ import annotations

import json
from typing import Any, cast

from django import forms


def scope_choices() -> list[tuple[str, str]]:
    """A scope per type for read + search, and the writes the server accepts, from the
    registry that routes requests (so the page cannot offer what is not served)."""
    from openkap.fhir.framework import REGISTRY

    choices = []
    for name, rt in sorted(REGISTRY.items()):
        reads = ("r" if rt.read else "") + ("s" if rt.search else "")
        if reads:
            choices.append((f"system/{name}.{reads}", f"{name}: read{' and search' if 's' in reads else ''}"))
        if rt.create:
            choices.append((f"system/{name}.c", f"{name}: create"))
        if rt.update:
            choices.append((f"system/{name}.u", f"{name}: update"))
    return choices


class ClientForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="The system, e.g. 'State PDMP registry' or 'Referring EHR'.")
    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, help_text="What the client's tokens may do; its access is never more "
        "than a nurse's and an admin's reads together.")
    jwks = forms.CharField(
        label="Public keys (JWK Set)", required=False, widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text='{"keys": [...]} with a kid and alg RS384 or ES384 for each key. Or give one PEM key below.')
    public_key_pem = forms.CharField(
        label="Public key (PEM)", required=False, widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="-----BEGIN PUBLIC KEY----- … (RSA 2048 bits or more, or EC P-384). Never a private key.")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["scopes"]).choices = scope_choices()

    def clean_jwks(self) -> Any:
        text = self.cleaned_data["jwks"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise forms.ValidationError("This is not JSON.") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("jwks") and not (data.get("public_key_pem") or "").strip() and not self.has_error("jwks"):
            raise forms.ValidationError("Give the client's public keys: a JWK Set or a PEM public key.")
        return data
