"""Lots and an entry builder shared by the ledger tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from openkap.core.ledger import EntryKind, LedgerEntry, Unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

NURSE = "nurse-ana"
PRESCRIBER = "dr-ben"
ADMIN = "admin-cho"


@dataclass(frozen=True)
class Lot:
    lot_id: str
    site_id: str
    strength: Decimal
    unit: Unit


VIAL_100 = Lot("KET-100-A", "site-north", Decimal(100), Unit.ML)
VIAL_10 = Lot("KET-10-B", "site-north", Decimal(10), Unit.ML)
SPRAVATO = Lot("ESK-28-C", "site-south", Decimal(28), Unit.DEVICE)

_ids = itertools.count(1)

_DEFAULT_REFERENCE = {
    EntryKind.RECEIPT: "invoice INV-1",
    EntryKind.ADMINISTRATION: "dosing session DS-1",
    EntryKind.TRANSFER_OUT: "to site-south",
    EntryKind.TRANSFER_IN: "from site-south",
}
_DEFAULT_WITNESSES = {
    EntryKind.WASTE: (PRESCRIBER,),
    EntryKind.COUNT: (PRESCRIBER,),
    EntryKind.DESTRUCTION: (PRESCRIBER, ADMIN),
}
_DEFAULT_REASON = {
    EntryKind.ADJUSTMENT: "count discrepancy reviewed",
    EntryKind.CORRECTION: "entered against the wrong lot",
    EntryKind.LOSS: "vial broken in the medication room",
}


def entry(
    kind: EntryKind,
    units: str | Decimal,
    *,
    lot: Lot = VIAL_100,
    mg: str | Decimal | None = None,
    at: datetime | None = None,
    minutes: int = 0,
    entry_id: str | None = None,
    actor: str = NURSE,
    witnesses: tuple[str, ...] | None = None,
    refers_to: str | None = None,
    reason: str | None = None,
    reference: str | None = None,
) -> LedgerEntry:
    """A well-formed draft (unsealed) unless a keyword says otherwise.

    mg defaults to units x the lot strength, as written out by the tests.
    """
    u = Decimal(units)
    return LedgerEntry(
        entry_id=entry_id or f"E{next(_ids)}",
        site_id=lot.site_id,
        lot_id=lot.lot_id,
        kind=kind,
        mg=Decimal(mg) if mg is not None else u * lot.strength,
        units=u,
        strength_mg_per_unit=lot.strength,
        unit=lot.unit,
        occurred_at=at if at is not None else T0 + timedelta(minutes=minutes),
        actor_id=actor,
        witness_ids=witnesses if witnesses is not None else _DEFAULT_WITNESSES.get(kind, ()),
        refers_to_id=refers_to,
        reason=reason if reason is not None else _DEFAULT_REASON.get(kind, ""),
        reference=reference if reference is not None else _DEFAULT_REFERENCE.get(kind, ""),
    )
