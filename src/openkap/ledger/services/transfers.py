"""Transfers between two sites of the organisation."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Site
from openkap.core.authz import Perm
from openkap.ledger.models import (
    LedgerEntry,
    Lot,
    Product,
)

from .common import K, _amount, _text, _when
from .lookups import lot_of
from .writer import _Links, _lock_heads, _write


def _counterpart_product(product: Product, site: Site, by: Actor) -> Product:
    found = Product.objects.filter(
        site=site, form=product.form, strength_mg_per_unit=product.strength_mg_per_unit,
        package_size=product.package_size,
    ).filter(Q(ndc=product.ndc) if product.ndc else Q(name=product.name)).first()
    if found is not None:
        return found
    if Product.objects.filter(site=site, name=product.name).exists():
        raise ValidationError({"to_site": f"{site.name} has a different product named {product.name}; rename one first."})
    return Product.objects.create(
        organization=product.organization, site=site, name=product.name, substance=product.substance,
        ndc=product.ndc, form=product.form, unit=product.unit,
        strength_mg_per_unit=product.strength_mg_per_unit, package_size=product.package_size,
        is_compounded=product.is_compounded, created_by=by.user,
    )


def ledger_transfer(
    *,
    by: Actor,
    lot_id: int,
    to_site_id: object,
    mg: object = None,
    units: object = None,
    note: str = "",
    occurred_at: datetime | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move stock to another site of the organisation: a transfer out here and a
    transfer in there (the same lot number, the product added to that site's
    formulary if missing), in one transaction. Each site keeps its own record,
    with both DEA registrations."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = _amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    to_site = (
        Site.objects.filter(id=to_site_id, organization=by.organization, is_active=True).first()
        if isinstance(to_site_id, int) else None
    )
    if to_site is None or to_site.id == lot.site_id:
        raise ValidationError({"to_site": "Choose another active site of your organisation."})
    note = _text(note, "note", "the note", required=False, max_length=500)
    detail = {"from_dea": lot.site.dea_registration, "to_dea": to_site.dea_registration}
    if note:
        detail["note"] = note
    with transaction.atomic():
        heads = _lock_heads(lot.site, to_site)
        product = _counterpart_product(lot.product, to_site, by)
        there, _ = Lot.objects.get_or_create(
            site=to_site, product=product, lot_number=lot.lot_number,
            defaults={"organization": by.organization, "expires_on": lot.expires_on,
                      "supplier": lot.supplier, "transferred_from": lot},
        )
        out = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.TRANSFER_OUT, mg=mg_, units=units_,
            occurred_at=when, links=_Links(counterpart_lot=there, detail=detail),
            amount_field="mg" if mg is not None else "units",
        )
        into = _write(
            by=by, head=heads[to_site.id], lot=there, kind=K.TRANSFER_IN, mg=mg_, units=units_,
            occurred_at=when, links=_Links(counterpart_lot=lot, detail=detail | {"transfer_out_entry": str(out.id)}),
        )
    return out, into


DESTRUCTION_METHODS = {
    "reverse_distributor": "Returned to a reverse distributor",
    "on_site": "Rendered non-retrievable on site",
}
