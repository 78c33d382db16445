"""Receiving a lot from a supplier."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.core.authz import Perm
from openkap.ledger.models import (
    LedgerEntry,
    Lot,
    Product,
    Supplier,
)

from .common import MAX_CONTAINERS, MAX_UNITS_PER_ENTRY, K, _text, _when
from .lookups import site_of
from .writer import _Links, _lock_heads, _write

_LOT_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./-]{0,39}$")


def lot_receive(
    *,
    by: Actor,
    site_id: int,
    product_id: object,
    lot_number: str,
    expires_on: date | None,
    supplier_id: object,
    invoice_number: str,
    containers: object,
    received_at: datetime | None = None,
) -> LedgerEntry:
    """Receive containers of a lot from a supplier, on an invoice (Schedule III is
    bought on invoices; the invoice is the receipt record). A second receipt of the
    same lot number adds to the same lot."""
    require(by, Perm.LEDGER_RECORD)
    site = site_of(by, site_id)
    errors: dict[str, str] = {}
    product = Product.objects.filter(id=product_id, site=site).first() if isinstance(product_id, int) else None
    if product is None:
        errors["product"] = "Choose a product of this site's formulary."
    supplier = Supplier.objects.filter(id=supplier_id, organization=by.organization).first() if isinstance(supplier_id, int) else None
    if supplier is None:
        errors["supplier"] = "Choose the supplier on the invoice."
    lot_number = (lot_number or "").strip()
    if not _LOT_NUMBER.match(lot_number):
        errors["lot_number"] = "Enter the lot number as printed (letters, digits, dots, dashes)."
    if not isinstance(expires_on, date):
        errors["expires_on"] = "Enter the expiry date."
    try:
        invoice_number = _text(invoice_number, "invoice_number", "the invoice number", max_length=60)
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if not isinstance(containers, int) or isinstance(containers, bool) or not 1 <= containers <= MAX_CONTAINERS:
        errors["containers"] = f"Enter how many containers arrived (1 to {MAX_CONTAINERS})."
    # Each of the None/type cases has its error above; the test narrows them for mypy.
    if errors or product is None or supplier is None or not isinstance(expires_on, date) \
            or not isinstance(containers, int):
        raise ValidationError(errors)
    when = _when(received_at, "received_at")
    if expires_on < timezone.localtime(when).date():
        raise ValidationError({"expires_on": "This lot has already expired: do not receive it into stock."})
    with transaction.atomic():
        heads = _lock_heads(site)
        lot, created = Lot.objects.get_or_create(
            site=site, product=product, lot_number=lot_number,
            defaults={"organization": by.organization, "expires_on": expires_on, "supplier": supplier},
        )
        if not created and lot.expires_on != expires_on:
            raise ValidationError({"expires_on": f"Lot {lot_number} is on file with expiry {lot.expires_on:%Y-%m-%d}; check the label."})
        units = Decimal(containers) * product.package_size
        if units > MAX_UNITS_PER_ENTRY:
            raise ValidationError({"containers": f"That is more than {MAX_UNITS_PER_ENTRY} {product.unit} on one receipt: please re-check."})
        entry = _write(
            by=by, head=heads[site.id], lot=lot, kind=K.RECEIPT, mg=units * product.strength_mg_per_unit,
            units=units, occurred_at=when,
            links=_Links(supplier=supplier, detail={"invoice": invoice_number, "containers": str(containers)}),
        )
    return entry
