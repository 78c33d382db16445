"""Physical counts of a lot."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from openkap.accounts.authz import Actor, require
from openkap.core.authz import Perm
from openkap.ledger.models import (
    InventoryRecord,
    LedgerEntry,
)

from .common import K, _amount, _when
from .lookups import _witness, lot_of
from .writer import _Links, _lock_heads, _write


def ledger_count(
    *,
    by: Actor,
    witness_id: int,
    lot_id: int,
    units: object,
    estimated: bool = False,
    occurred_at: datetime | None = None,
    inventory: InventoryRecord | None = None,
) -> LedgerEntry:
    """A witnessed physical count of a lot. It does not move the book: a difference is
    kept on the count as an open discrepancy until an admin adjusts it with a reason.
    ``estimated`` marks an opened container estimated rather than measured (allowed
    for Schedule III)."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = _amount(lot.product, units=units, allow_zero=True)
    when = _when(occurred_at)
    witness = _witness(by, witness_id, "witness")
    detail = {"estimated": "yes"} if estimated else {}
    with transaction.atomic():
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.COUNT, mg=mg_, units=units_,
            occurred_at=when, witnesses=[witness], links=_Links(inventory=inventory, detail=detail),
        )
    return entry
