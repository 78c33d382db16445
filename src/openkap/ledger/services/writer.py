"""The one writer: every entry goes through ``_write``, which locks the heads and balances and chains the hash
(its SQL is ``statements``')."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.accounts.models import Site, User
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import audit_event
from openkap.core import ledger as core
from openkap.ledger.chain import to_core
from openkap.ledger.models import (
    InventoryRecord,
    LedgerEntry,
    Lot,
    LotBalance,
    SiteLedgerHead,
    Supplier,
)

from . import statements
from .common import K, _refused


def _lock_heads(*sites: Site) -> dict[int, SiteLedgerHead]:
    """Lock the chain heads of ``sites`` in ascending id order (no deadlocks)."""
    heads: dict[int, SiteLedgerHead] = {}
    for site in sorted({s.id: s for s in sites}.values(), key=lambda s: s.id):
        head = SiteLedgerHead.objects.select_for_update().filter(site=site).first()
        if head is None:  # the site's first entry
            SiteLedgerHead.objects.get_or_create(
                site=site,
                defaults={"organization_id": site.organization_id, "last_hash": core.genesis_hash(str(site.id))},
            )
            head = SiteLedgerHead.objects.select_for_update().get(site=site)
        heads[site.id] = head
    return heads


@dataclass
class _Links:
    dosing_session_id: int | None = None
    patient_id: int | None = None
    supplier: Supplier | None = None
    counterpart_lot: Lot | None = None
    inventory: InventoryRecord | None = None
    detail: Mapping[str, str] | None = None
    break_glass: bool = False


def _write(
    *,
    by: Actor,
    head: SiteLedgerHead,
    lot: Lot,
    kind: core.EntryKind,
    mg: Decimal,
    units: Decimal,
    occurred_at: datetime,
    witnesses: Iterable[User] = (),
    refers_to: LedgerEntry | None = None,
    reason: str = "",
    links: _Links | None = None,
    amount_field: str = "units",
    balance: statements.Balance | None = None,
) -> LedgerEntry:
    """Append one entry to ``lot``'s site chain. The caller holds the site head lock, and
    the lot's balance lock if it passes the ``balance`` it read with it."""
    links = links or _Links()
    if balance is None:
        balance = statements._locked_balance(lot.id)
    if balance is None:  # the lot's first entry
        LotBalance.objects.create(lot=lot, organization_id=lot.organization_id)
        balance = statements._locked_balance(lot.id)
        assert balance is not None
    witness_list = list(witnesses)
    row = LedgerEntry(
        organization_id=lot.organization_id, site_id=lot.site_id, sequence=head.last_sequence + 1,
        lot=lot, kind=kind.value, mg=mg, units=units,
        strength_mg_per_unit=lot.product.strength_mg_per_unit, unit=lot.product.unit,
        occurred_at=occurred_at, recorded_by=by.user,
        witness=witness_list[0] if witness_list else None,
        second_witness=witness_list[1] if len(witness_list) > 1 else None,
        refers_to=refers_to, reason=reason,
        dosing_session_id=links.dosing_session_id, patient_id=links.patient_id, supplier=links.supplier,
        counterpart_lot=links.counterpart_lot, inventory=links.inventory,
        detail=dict(links.detail or {}), prev_hash=head.last_hash,
    )
    before = core.LotBalance(str(lot.id), core.Quantity(balance.mg, balance.units))
    referenced = to_core(refers_to) if refers_to is not None else None
    try:
        if kind is K.COUNT:
            found = core.count_discrepancy(before, to_core(row))
            row.discrepancy_mg, row.discrepancy_units = found.mg, found.units
        draft = to_core(row, refers_to.sequence if refers_to is not None else None)
        if kind is K.CORRECTION and referenced is not None:
            core.check_correction(draft, referenced)
        if kind is K.ADJUSTMENT and refers_to is not None and referenced is not None:
            discrepancy = core.Quantity(refers_to.discrepancy_mg or Decimal(0), refers_to.discrepancy_units or Decimal(0))
            core.check_adjustment(draft, referenced, discrepancy)
        after = core.apply(before, draft)
    except core.LedgerError as exc:
        raise _refused(exc, amount_field) from None
    row.entry_hash = core.seal(draft, head.last_hash).entry_hash
    head.last_sequence, head.last_hash = row.sequence, row.entry_hash
    row.id = balance.next_entry_id

    def event(entry_id: int) -> AuditEvent:
        return audit_event(
            by=by, action=AuditAction.CREATE, object_type="ledger_entry", object_id=entry_id,
            patient_id=links.patient_id, break_glass=links.break_glass,
            detail={"kind": kind.value, "site": lot.site_id, "sequence": row.sequence, "lot": lot.id,
                    "mg": str(mg), "units": str(units)},
        )

    moved = statements.Balance(after.on_hand.mg, after.on_hand.units, balance.entries + 1, None)
    statements._store(row, event, moved, head)
    return row


def _usable(lot: Lot, occurred_at: datetime, field: str = "lot") -> None:
    day = timezone.localtime(occurred_at).date()
    if lot.is_expired_on(day):
        raise ValidationError({field: f"Lot {lot.lot_number} expired on {lot.expires_on:%Y-%m-%d}: it cannot be used. Destroy or return it."})
