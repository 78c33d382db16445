"""Inventories: initial, biennial and on change of registrant, taken against the ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.ledger.models import (
    InventoryRecord,
    Lot,
)

from .common import _when
from .counts import ledger_count
from .lookups import _witness, site_of


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def inventory_take(
    *,
    by: Actor,
    site_id: int,
    kind: str,
    business_time: str,
    witness_id: int,
    counts: Mapping[int, Any],
    signature: str,
    estimated_lot_ids: Iterable[int] = (),
    taken_at: datetime | None = None,
    notes: str = "",
) -> InventoryRecord:
    """An initial or biennial inventory: every lot on hand counted (opened containers
    may be estimated), at opening or close of business, signed by the person taking
    it (typing their full name) with a witness. One count entry per lot."""
    require(by, Perm.LEDGER_RECORD)
    site = site_of(by, site_id)
    errors: dict[str, str] = {}
    if kind not in InventoryRecord.Kind.values:
        errors["kind"] = "Choose initial, biennial or other inventory."
    elif kind == InventoryRecord.Kind.INITIAL and InventoryRecord.objects.filter(site=site, kind=kind).exists():
        errors["kind"] = "This site already has its initial inventory; take a biennial one."
    if business_time not in InventoryRecord.BusinessTime.values:
        errors["business_time"] = "Say whether it was taken at opening or close of business."
    if not _same_name(signature or "", by.user.full_name):
        errors["signature"] = f"Sign by typing your full name as on your account ({by.user.full_name})."
    try:
        witness = _witness(by, witness_id, "witness")
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    lots = {lot.id: lot for lot in Lot.objects.filter(site=site).select_related("product", "balance")}
    unknown = set(counts) - set(lots)
    if unknown:
        errors["counts"] = "Count only lots of this site."
    on_hand = {lid for lid, lot in lots.items() if hasattr(lot, "balance") and lot.balance.units > 0}
    missing = sorted(on_hand - set(counts))
    if missing:
        errors["counts"] = "Count every lot on hand: " + ", ".join(lots[i].lot_number for i in missing) + "."
    if not counts:
        errors.setdefault("counts", "There is nothing to count at this site yet.")
    notes = (notes or "").strip()[:2000]
    if errors:
        raise ValidationError(errors)
    when = _when(taken_at, "taken_at")
    estimated = set(estimated_lot_ids)
    with transaction.atomic():
        record = InventoryRecord.objects.create(
            organization=by.organization, site=site, kind=kind, business_time=business_time,
            taken_at=when, taken_by=by.user, witness=witness, signature=signature.strip(), notes=notes,
        )
        for lot_id in sorted(counts):
            try:
                ledger_count(by=by, witness_id=witness.id, lot_id=lot_id, units=counts[lot_id],
                             estimated=lot_id in estimated, occurred_at=when, inventory=record)
            except ValidationError as exc:
                raise ValidationError({"counts": f"Lot {lots[lot_id].lot_number}: " + " ".join(exc.messages)}) from None
        audit_record(by=by, action=AuditAction.CREATE, object_type="ledger_inventory", object_id=record.id,
                     detail={"kind": kind, "site": site.id, "lots": len(counts)})
    return record
