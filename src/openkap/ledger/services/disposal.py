"""Destruction (reverse distributor or on-site, witnessed) and loss or theft."""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import User
from openkap.core.authz import Perm
from openkap.ledger.models import (
    LedgerEntry,
    Supplier,
)

from .common import K, _amount, _text, _when
from .lookups import _witness, lot_of
from .transfers import DESTRUCTION_METHODS
from .writer import _Links, _lock_heads, _write


def ledger_destroy(
    *,
    by: Actor,
    lot_id: int,
    witness_id: int,
    second_witness_id: int,
    method: str,
    mg: object = None,
    units: object = None,
    reverse_distributor_id: int | None = None,
    location: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Destruction or return of stock (DEA Form 41): two authorised witnesses, the
    method, where, and the reverse distributor when returned. Expired lots may be
    destroyed."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = _amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    errors: dict[str, str] = {}
    if method not in DESTRUCTION_METHODS:
        errors["method"] = "Choose how the drug was destroyed or returned."
    witnesses: list[User] = []
    for field, wid in (("witness", witness_id), ("second_witness", second_witness_id)):
        try:
            witnesses.append(_witness(by, wid, field))
        except ValidationError as exc:
            errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if len(witnesses) == 2 and witnesses[0].id == witnesses[1].id:
        errors["second_witness"] = "Form 41 needs two different witnesses."
    distributor = None
    if method == "reverse_distributor":
        distributor = Supplier.objects.filter(
            id=reverse_distributor_id, organization=by.organization, is_reverse_distributor=True
        ).first() if isinstance(reverse_distributor_id, int) else None
        if distributor is None:
            errors["reverse_distributor"] = "Choose the reverse distributor the drug went to."
    try:
        location = _text(location, "location", "where it happened", max_length=200)
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if errors:
        raise ValidationError(errors)
    detail = {"method": method, "location": location}
    if distributor is not None:
        detail |= {"reverse_distributor": distributor.name, "reverse_distributor_dea": distributor.dea_number}
    with transaction.atomic():
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.DESTRUCTION, mg=mg_, units=units_,
            occurred_at=when, witnesses=witnesses, links=_Links(supplier=distributor, detail=detail),
            amount_field="mg" if mg is not None else "units",
        )
    return entry


LOSS_TYPES = {
    "theft_break_in": "Night break-in / armed robbery",
    "employee_pilferage": "Employee pilferage",
    "customer_theft": "Customer / patient theft",
    "lost_in_transit": "Lost in transit",
    "other_loss": "Other loss (breakage, spill)",
}


def ledger_loss(
    *,
    by: Actor,
    lot_id: int,
    loss_type: str,
    discovered_on: date | None,
    circumstances: str,
    mg: object = None,
    units: object = None,
    police_report: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """A loss or theft (DEA Form 106 data): what kind, when it was discovered, the
    circumstances and any police report number. Breakage and spills are losses too."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = _amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    errors: dict[str, str] = {}
    if loss_type not in LOSS_TYPES:
        errors["loss_type"] = "Choose the type of loss or theft."
    if not isinstance(discovered_on, date) or discovered_on > timezone.localdate():
        errors["discovered_on"] = "Enter the date the loss was discovered (not in the future)."
    try:
        circumstances = _text(circumstances, "circumstances", "what happened", max_length=2000)
        police_report = _text(police_report, "police_report", "the police report number", required=False, max_length=60)
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if errors or not isinstance(discovered_on, date):  # the date's own error is above
        raise ValidationError(errors)
    detail = {"loss_type": loss_type, "discovered_on": discovered_on.isoformat()}
    if police_report:
        detail["police_report"] = police_report
    with transaction.atomic():
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.LOSS, mg=mg_, units=units_,
            occurred_at=when, reason=circumstances, links=_Links(detail=detail),
            amount_field="mg" if mg is not None else "units",
        )
    return entry
