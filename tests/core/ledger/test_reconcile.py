"""Reconciliation of one lot over a period, computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from openkap.core.ledger import (
    EntryKind,
    LedgerBook,
    LedgerEntry,
    LedgerError,
    Quantity,
    reconcile,
)

from .helpers import ADMIN, SPRAVATO, VIAL_100, entry

K = EntryKind
MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)


def mg(value: str) -> Quantity:
    """VIAL_100 is 100 mg/mL, so mL = mg / 100."""
    return Quantity(Decimal(value), Decimal(value) / 100)


def day(month: int, d: int) -> datetime:
    return datetime(2026, month, d, 10, 0, tzinfo=UTC)


def _history() -> list[LedgerEntry]:
    drafts = [
        # February: opening balance 1000 - 100 = 900 mg.
        entry(K.RECEIPT, "10", at=day(2, 20), entry_id="R1"),
        entry(K.ADMINISTRATION, "1", at=day(2, 25), entry_id="A0"),
        # March.
        entry(K.RECEIPT, "5", at=day(3, 2), entry_id="R2"),
        entry(K.ADMINISTRATION, "0.5", at=day(3, 3), entry_id="A1"),
        entry(K.ADMINISTRATION, "0.7", at=day(3, 4), entry_id="A2"),
        entry(K.CORRECTION, "0.7", at=day(3, 5), refers_to="A2", entry_id="X1"),
        entry(K.WASTE, "0.2", at=day(3, 6), entry_id="W1"),
        entry(K.TRANSFER_OUT, "2", at=day(3, 7), entry_id="TO"),
        entry(K.TRANSFER_IN, "1", at=day(3, 8), entry_id="TI"),
        entry(K.DESTRUCTION, "1", at=day(3, 9), entry_id="D1"),
        entry(K.LOSS, "0.3", at=day(3, 10), entry_id="L1"),
        # Book is 900+500-50-70+70-20-200+100-100-30 = 1100 mg; the count finds 1080.
        entry(K.COUNT, "10.8", at=day(3, 30), entry_id="C1"),
        entry(K.ADJUSTMENT, "-0.2", at=day(3, 31), refers_to="C1", actor=ADMIN, entry_id="J1"),
        # April: outside the period.
        entry(K.ADMINISTRATION, "1", at=day(4, 2), entry_id="A3"),
        # Another lot: ignored.
        entry(K.RECEIPT, "3", lot=SPRAVATO, at=day(3, 2)),
    ]
    book = LedgerBook()
    return [book.record(d) for d in drafts]


def test_march_reconciliation_hand_computed() -> None:
    r = reconcile(_history(), lot_id=VIAL_100.lot_id, start=MARCH, end=APRIL)
    assert r.opening == mg("900")
    assert r.received == mg("500")
    assert r.administered == mg("50")  # 50 + 70, less the 70 corrected
    assert r.wasted == mg("20")
    assert r.transferred_out == mg("200")
    assert r.transferred_in == mg("100")
    assert r.destroyed == mg("100")
    assert r.lost == mg("30")
    assert r.adjustments == mg("-20")
    # 900 + 500 - 50 - 20 - 200 + 100 - 100 - 30 - 20
    assert r.expected_on_hand == mg("1080")
    assert r.last_count_id == "C1"
    assert r.last_counted == mg("1080")
    assert r.expected_at_last_count == mg("1100")
    assert r.discrepancy == mg("-20")
    assert r.discrepancy_adjusted


def test_period_before_the_adjustment_shows_the_open_discrepancy() -> None:
    history = [e for e in _history() if e.entry_id != "J1"]
    r = reconcile(history, lot_id=VIAL_100.lot_id, start=MARCH, end=APRIL)
    assert r.adjustments == mg("0")
    assert r.expected_on_hand == mg("1100")
    assert r.discrepancy == mg("-20")
    assert not r.discrepancy_adjusted


def test_april_opens_with_march_close() -> None:
    r = reconcile(
        _history(), lot_id=VIAL_100.lot_id, start=APRIL, end=datetime(2026, 5, 1, tzinfo=UTC)
    )
    assert r.opening == mg("1080")
    assert r.administered == mg("100")
    assert r.expected_on_hand == mg("980")
    assert r.last_count_id is None
    assert r.last_counted is None
    assert r.discrepancy is None
    assert not r.discrepancy_adjusted


def test_latest_count_of_the_period_is_used() -> None:
    book = LedgerBook()
    history = [
        book.record(entry(K.RECEIPT, "2", at=day(3, 1))),
        book.record(entry(K.COUNT, "1.9", at=day(3, 2), entry_id="C1")),
        book.record(entry(K.ADMINISTRATION, "0.5", at=day(3, 3))),
        book.record(entry(K.COUNT, "1.5", at=day(3, 4), entry_id="C2")),
    ]
    r = reconcile(history, lot_id=VIAL_100.lot_id, start=MARCH, end=APRIL)
    assert r.last_count_id == "C2"
    assert r.expected_at_last_count == mg("150")
    assert r.discrepancy == mg("0")


def test_invalid_history_refused() -> None:
    bad = [entry(K.ADMINISTRATION, "1", at=day(3, 2))]
    with pytest.raises(LedgerError, match="Not enough in lot KET-100-A"):
        reconcile(bad, lot_id=VIAL_100.lot_id, start=MARCH, end=APRIL)


def test_period_must_be_aware_and_forward() -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        reconcile([], lot_id=VIAL_100.lot_id, start=APRIL, end=MARCH)
    with pytest.raises(ValueError, match="need a time zone"):
        reconcile([], lot_id=VIAL_100.lot_id, start=datetime(2026, 3, 1), end=APRIL)  # noqa: DTZ001
