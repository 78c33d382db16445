"""The one writer: every entry goes through ``_write``, which locks the heads and balances and chains the hash."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model, Q
from django.db.models.expressions import RawSQL
from django.db.models.sql import InsertQuery, UpdateQuery
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.accounts.models import Site, User
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import audit_event, audit_record
from openkap.core import ledger as core
from openkap.dosing.models import DosingSession
from openkap.ledger.chain import to_core
from openkap.ledger.models import (
    InventoryRecord,
    LedgerEntry,
    Lot,
    LotBalance,
    SiteLedgerHead,
    Supplier,
)

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
    dosing_session: DosingSession | None = None
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
) -> LedgerEntry:
    """Append one entry to ``lot``'s site chain. The caller holds the site head lock."""
    links = links or _Links()
    balance = _lock_balance(lot)
    if balance is None:  # the lot's first entry
        balance = LotBalance.objects.create(lot=lot, organization_id=lot.organization_id)
    witness_list = list(witnesses)
    row = LedgerEntry(
        organization_id=lot.organization_id, site_id=lot.site_id, sequence=head.last_sequence + 1,
        lot=lot, kind=kind.value, mg=mg, units=units,
        strength_mg_per_unit=lot.product.strength_mg_per_unit, unit=lot.product.unit,
        occurred_at=occurred_at, recorded_by=by.user,
        witness=witness_list[0] if witness_list else None,
        second_witness=witness_list[1] if len(witness_list) > 1 else None,
        refers_to=refers_to, reason=reason,
        dosing_session=links.dosing_session, patient_id=links.patient_id, supplier=links.supplier,
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
    balance.mg, balance.units = after.on_hand.mg, after.on_hand.units
    balance.entries += 1
    head.last_sequence, head.last_hash = row.sequence, row.entry_hash
    row.id = getattr(balance, "next_entry_id", None)
    audit: dict[str, Any] = {"by": by, "action": AuditAction.CREATE, "object_type": "ledger_entry",
             "patient_id": links.patient_id, "break_glass": links.break_glass,
             "detail": {"kind": kind.value, "site": lot.site_id, "sequence": row.sequence, "lot": lot.id,
                        "mg": str(mg), "units": str(units)}}
    if row.id is None:
        row.save()
        balance.save(update_fields=["mg", "units", "entries"])
        head.save(update_fields=["last_sequence", "last_hash"])
        audit_record(object_id=row.id, **audit)
    else:
        _save_together(row, audit_event(object_id=row.id, **audit), balance, head)
    return row


def _lock_balance(lot: Lot) -> LotBalance | None:
    """The lot's balance, locked. On PostgreSQL the same statement draws the new entry's
    id, so the entry, its audit row, the balance and the head can be written at once."""
    balances = LotBalance.objects.select_for_update().filter(lot=lot)
    if connection.vendor == "postgresql":
        table = LedgerEntry._meta.db_table
        balances = balances.annotate(next_entry_id=RawSQL("nextval(pg_get_serial_sequence(%s, 'id'))", (table,)))
    return balances.first()


def _save_together(row: LedgerEntry, event: AuditEvent, balance: LotBalance, head: SiteLedgerHead) -> None:
    """Insert the entry and its audit row and move the balance and the head in one
    statement (PostgreSQL's data-modifying WITH): one round trip while the site's chain
    is locked instead of four. All or nothing, like the statements it replaces."""
    statements = [
        _insert_sql(row), _insert_sql(event),
        _update_sql(balance, ["mg", "units", "entries"]), _update_sql(head, ["last_sequence", "last_hash"]),
    ]
    *first, (last, _) = statements
    sql = "WITH " + ", ".join(f"w{n} AS ({part})" for n, (part, _) in enumerate(first)) + " " + last
    with connection.cursor() as cursor:
        cursor.execute(sql, [param for _, params in statements for param in params])
    row._state.adding, row._state.db = False, connection.alias


def _insert_sql(obj: Model) -> tuple[str, list[Any]]:
    """The ORM's own INSERT of ``obj`` (every column, the primary key too if set)."""
    meta = obj._meta
    fields = [f for f in meta.local_concrete_fields if obj.pk is not None or f is not meta.auto_field]
    query = InsertQuery(type(obj))
    query.insert_values(fields, [obj])
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _update_sql(obj: Model, fields: list[str]) -> tuple[str, list[Any]]:
    """The ORM's own UPDATE of ``fields`` of ``obj``'s row."""
    query = UpdateQuery(type(obj))
    query.add_update_values({name: getattr(obj, name) for name in fields})
    query.add_q(Q(pk=obj.pk))
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _usable(lot: Lot, occurred_at: datetime, field: str = "lot") -> None:
    day = timezone.localtime(occurred_at).date()
    if lot.is_expired_on(day):
        raise ValidationError({field: f"Lot {lot.lot_number} expired on {lot.expires_on:%Y-%m-%d}: it cannot be used. Destroy or return it."})
