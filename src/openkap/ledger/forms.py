"""Parsing only: the rules are in ``services`` (and the core), so the web and the API
refuse the same things with the same words."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from openkap.accounts.models import Site, User
from openkap.dosing.models import DosingSession
from openkap.ledger.models import InventoryRecord, Lot, Product, Supplier
from openkap.ledger.services import DESTRUCTION_METHODS, LOSS_TYPES

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
AMOUNT_IN = [("mg", "mg of ketamine base"), ("units", "mL / devices / lozenges")]


def _choices(items: Iterable[Any], label: Any, blank: str = "Choose…") -> list[tuple[Any, str]]:
    return [("", blank), *((item.id, label(item)) for item in items)]


def lot_label(lot: Lot) -> str:
    balance = getattr(lot, "balance", None)
    on_hand = f" · {balance.units.normalize():f} {lot.product.unit} on hand" if balance else ""
    return f"{lot.product.name} · {lot.product.strength_label} · lot {lot.lot_number} · exp {lot.expires_on:%Y-%m-%d}{on_hand}"


def session_label(session: DosingSession) -> str:
    p = session.patient
    return f"{session.scheduled_start:%Y-%m-%d %H:%M} · {p.display_name} ({p.mrn}) · {session.get_status_display()}"


class _WithChoices(forms.Form):
    def set_choices(self, name: str, choices: list[tuple[Any, str]]) -> None:
        self.fields[name].choices = choices  # type: ignore[attr-defined]


class AmountMixin(forms.Form):
    amount = forms.DecimalField(max_digits=16, decimal_places=6, min_value=0)
    amount_in = forms.ChoiceField(label="Amount in", choices=AMOUNT_IN, initial="mg")

    def mg_units(self) -> dict[str, Any]:
        value = self.cleaned_data["amount"]
        return {"mg": value, "units": None} if self.cleaned_data["amount_in"] == "mg" else {"mg": None, "units": value}


class WitnessMixin(_WithChoices):
    witness = forms.TypedChoiceField(coerce=int, help_text="A nurse, prescriber or admin other than you")
    witness_password = forms.CharField(
        label="Witness's password", widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="The witness co-signs by typing their own password",
    )

    def set_witnesses(self, users: Iterable[User]) -> None:
        self.set_choices("witness", _choices(users, lambda u: u.full_name))


class ReceiveForm(_WithChoices):
    product = forms.TypedChoiceField(coerce=int)
    lot_number = forms.CharField(max_length=40)
    expires_on = forms.DateField(label="Expiry date", widget=DATE)
    supplier = forms.TypedChoiceField(coerce=int)
    invoice_number = forms.CharField(max_length=60, help_text="Schedule III is received on an invoice: it is the receipt record")
    containers = forms.IntegerField(label="Containers received", min_value=1, max_value=500,
                                    help_text="Vials, kits or bottles as delivered")
    received_at = forms.DateTimeField(label="Received at (leave blank for now)", required=False, widget=DATETIME)

    def __init__(self, *args: Any, products: Iterable[Product], suppliers: Iterable[Supplier], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_choices("product", _choices(products, lambda p: f"{p.name} · {p.strength_label} · {p.package_size.normalize():f} {p.unit} per container"))
        self.set_choices("supplier", _choices(suppliers, lambda s: f"{s.name} (DEA {s.dea_number})"))


class AdministerForm(AmountMixin, _WithChoices):
    dosing_session = forms.TypedChoiceField(coerce=int, label="Dosing session")
    lot = forms.TypedChoiceField(coerce=int, label="Lot drawn from")
    occurred_at = forms.DateTimeField(label="Given at (leave blank for now)", required=False, widget=DATETIME)
    field_order = ["dosing_session", "lot", "amount", "amount_in", "occurred_at"]

    def __init__(self, *args: Any, sessions: Iterable[DosingSession], lots: Iterable[Lot], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_choices("dosing_session", _choices(sessions, session_label))
        self.set_choices("lot", _choices(lots, lot_label))


class WasteForm(AmountMixin, WitnessMixin):
    dosing_session = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                            label="Dosing session (if the waste is from a dose)")
    reason = forms.CharField(required=False, max_length=500, help_text="e.g. rest of the vial after the dose was drawn")
    field_order = ["amount", "amount_in", "dosing_session", "reason", "witness", "witness_password"]

    def __init__(self, *args: Any, witnesses: Iterable[User], sessions: Iterable[DosingSession], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_witnesses(witnesses)
        self.set_choices("dosing_session", _choices(sessions, session_label, blank="None"))


class CountForm(WitnessMixin):
    units = forms.DecimalField(label="Found on the shelf", max_digits=16, decimal_places=6, min_value=0)
    estimated = forms.BooleanField(required=False, label="Opened container: amount estimated")
    field_order = ["units", "estimated", "witness", "witness_password"]

    def __init__(self, *args: Any, witnesses: Iterable[User], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_witnesses(witnesses)


class TransferForm(AmountMixin, _WithChoices):
    to_site = forms.TypedChoiceField(coerce=int, label="To site")
    note = forms.CharField(required=False, max_length=500, help_text="e.g. the transfer invoice or record number")

    def __init__(self, *args: Any, sites: Iterable[Site], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_choices("to_site", _choices(sites, lambda s: f"{s.name} (DEA {s.dea_registration})"))


class DestroyForm(AmountMixin, WitnessMixin):
    method = forms.ChoiceField(choices=[("", "Choose…"), *DESTRUCTION_METHODS.items()])
    reverse_distributor = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                                 label="Reverse distributor (if returned)")
    location = forms.CharField(max_length=200, help_text="Where it was destroyed or handed over")
    second_witness = forms.TypedChoiceField(coerce=int, label="Second witness")
    second_witness_password = forms.CharField(label="Second witness's password",
                                              widget=forms.PasswordInput(attrs={"autocomplete": "off"}))
    field_order = ["amount", "amount_in", "method", "reverse_distributor", "location", "witness",
                   "witness_password", "second_witness", "second_witness_password"]

    def __init__(self, *args: Any, witnesses: Iterable[User], distributors: Iterable[Supplier], **kwargs: Any):
        super().__init__(*args, **kwargs)
        witnesses = list(witnesses)
        self.set_witnesses(witnesses)
        self.set_choices("second_witness", _choices(witnesses, lambda u: u.full_name))
        self.set_choices("reverse_distributor", _choices(distributors, lambda s: f"{s.name} (DEA {s.dea_number})", blank="None"))


class LossForm(AmountMixin):
    loss_type = forms.ChoiceField(label="Type of theft or loss", choices=[("", "Choose…"), *LOSS_TYPES.items()])
    discovered_on = forms.DateField(label="Discovered on", widget=DATE)
    police_report = forms.CharField(required=False, max_length=60, label="Police report number (if any)")
    circumstances = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class PeriodForm(forms.Form):
    start = forms.DateField(widget=DATE)
    end = forms.DateField(widget=DATE)


class ProductForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="As on the label, e.g. Ketamine HCl injection 50 mg/mL, 10 mL vial")
    form = forms.ChoiceField(choices=Product.Form.choices)
    strength_mg_per_unit = forms.DecimalField(label="Strength (mg of ketamine base per mL, device or lozenge)",
                                              max_digits=12, decimal_places=4)
    package_size = forms.DecimalField(label="Units per container", max_digits=12, decimal_places=4,
                                      help_text="mL per vial, devices per kit, lozenges per bottle")
    ndc = forms.CharField(label="NDC", max_length=13, required=False, help_text="With dashes, e.g. 0409-2051-05")
    is_compounded = forms.BooleanField(required=False, label="Compounded preparation (no NDC)")


class SupplierForm(forms.Form):
    name = forms.CharField(max_length=200)
    address = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)
    dea_number = forms.CharField(label="DEA number", max_length=9)
    is_reverse_distributor = forms.BooleanField(required=False, label="Reverse distributor (takes returns for destruction)")


class InventoryForm(WitnessMixin):
    kind = forms.ChoiceField(choices=InventoryRecord.Kind.choices)
    business_time = forms.ChoiceField(label="Taken at", choices=InventoryRecord.BusinessTime.choices)
    taken_at = forms.DateTimeField(label="Date and time (leave blank for now)", required=False, widget=DATETIME)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    signature = forms.CharField(max_length=200, label="Signature: type your full name",
                                help_text="You sign that this inventory is complete and accurate")

    def __init__(self, *args: Any, witnesses: Iterable[User], lots: Iterable[Lot], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_witnesses(witnesses)
        self.lots = list(lots)
        for lot in self.lots:
            self.fields[f"count_{lot.id}"] = forms.DecimalField(
                label=f"{lot_label(lot)}: found ({lot.product.unit})", max_digits=16, decimal_places=6,
                min_value=0, required=False,
            )
            self.fields[f"estimated_{lot.id}"] = forms.BooleanField(required=False, label="estimated")

    def lot_fields(self) -> list[tuple[Lot, forms.BoundField, forms.BoundField]]:
        return [(lot, self[f"count_{lot.id}"], self[f"estimated_{lot.id}"]) for lot in self.lots]

    def counts(self) -> dict[int, Any]:
        return {lot.id: self.cleaned_data[f"count_{lot.id}"] for lot in self.lots
                if self.cleaned_data.get(f"count_{lot.id}") is not None}

    def estimated_ids(self) -> list[int]:
        return [lot.id for lot in self.lots if self.cleaned_data.get(f"estimated_{lot.id}")]
