"""Adjustments after a count and corrections of an entry (reversing entries, never edits)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from openkap.accounts.authz import Actor, require
from openkap.core import ledger as core
from openkap.core.authz import Perm
from openkap.ledger.chain import to_core
from openkap.ledger.models import (
    LedgerEntry,
)

from .common import K, _text, _when
from .lookups import entry_of
from .writer import _Links, _lock_heads, _write


def _after(entry: LedgerEntry, occurred_at: datetime | None) -> datetime:
    when = _when(occurred_at)
    if when < entry.occurred_at:
        raise ValidationError({"occurred_at": f"This cannot be dated before entry {entry.number} it refers to."})
    return when


def ledger_adjust(*, by: Actor, count_id: int, reason: str, occurred_at: datetime | None = None) -> LedgerEntry:
    """Move the book by a count's discrepancy, with an admin's reason."""
    require(by, Perm.LEDGER_ADMIN)
    count = entry_of(by, count_id)
    reason = _text(reason, "reason", "the reason for the adjustment", max_length=2000)
    when = _after(count, occurred_at)
    if count.kind != K.COUNT:
        raise ValidationError({"__all__": "Only a count can be adjusted."})
    if not count.discrepancy_units:
        raise ValidationError({"__all__": "This count matched the book: there is nothing to adjust."})
    with transaction.atomic():
        heads = _lock_heads(count.site)
        if LedgerEntry.objects.filter(refers_to=count).exists():
            raise ValidationError({"__all__": f"Count {count.number} is already adjusted."})
        entry = _write(
            by=by, head=heads[count.site_id], lot=count.lot, kind=K.ADJUSTMENT,
            mg=count.discrepancy_mg or Decimal(0), units=count.discrepancy_units,
            occurred_at=when, refers_to=count, reason=reason,
        )
    return entry


def ledger_correct(*, by: Actor, entry_id: int, reason: str, occurred_at: datetime | None = None) -> list[LedgerEntry]:
    """Reverse an entry recorded in error with a correction that names it (the entry
    itself never changes). Correcting either leg of a transfer reverses both."""
    require(by, Perm.LEDGER_ADMIN)
    target = entry_of(by, entry_id)
    reason = _text(reason, "reason", "why the entry was wrong", max_length=2000)
    when = _after(target, occurred_at)
    targets = [target]
    legs = LedgerEntry.objects.select_related("lot__product", "site")
    if target.kind == K.TRANSFER_OUT:
        targets += list(legs.filter(kind=K.TRANSFER_IN, detail__transfer_out_entry=str(target.id)))
    elif target.kind == K.TRANSFER_IN:
        targets += list(legs.filter(kind=K.TRANSFER_OUT, id=int(target.detail.get("transfer_out_entry", 0))))
    with transaction.atomic():
        heads = _lock_heads(*(t.site for t in targets))
        corrections = []
        for t in sorted(targets, key=lambda t: t.site_id):
            if LedgerEntry.objects.filter(refers_to=t).exists():
                raise ValidationError({"__all__": f"Entry {t.number} is already corrected."})
            reverse = -core.signed_effect(to_core(t))
            corrections.append(_write(
                by=by, head=heads[t.site_id], lot=t.lot, kind=K.CORRECTION, mg=reverse.mg,
                units=reverse.units, occurred_at=when, refers_to=t, reason=reason,
                links=_Links(dosing_session_id=t.dosing_session_id, patient_id=t.patient_id),
            ))
    return corrections
