"""Canonical form, the per-site hash chain and verification."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from openkap.core.ledger import (
    BreakReason,
    EntryKind,
    LedgerBook,
    LedgerEntry,
    Quantity,
    Unit,
    canonical_bytes,
    compute_hash,
    genesis_hash,
    seal,
    verify_chain,
)

from .helpers import SPRAVATO, VIAL_10, VIAL_100, entry

K = EntryKind


def _sample() -> LedgerEntry:
    return LedgerEntry(
        entry_id="E-1",
        site_id="site-north",
        lot_id="KET-100-A",
        kind=EntryKind.WASTE,
        mg=Decimal("15.0"),
        units=Decimal("0.150"),
        strength_mg_per_unit=Decimal("100.00"),
        unit=Unit.ML,
        # 10:30 in UTC+02:00 is 08:30 UTC.
        occurred_at=datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        actor_id="nurse-ana",
        witness_ids=("dr-ben",),
        reason="",
        reference="dosing session DS-7",
        prev_hash="ab" * 32,
    )


def test_canonical_form_is_pinned() -> None:
    # Stored chains depend on this exact byte string: changing it breaks every ledger.
    expected = (
        '{"actor_id":"nurse-ana","entry_id":"E-1","kind":"waste","lot_id":"KET-100-A",'
        '"mg":"15","occurred_at":"2026-03-02T08:30:00.000000Z","prev_hash":"'
        + "ab"
        * 32
        + '","reason":"","reference":"dosing session DS-7","refers_to_id":null,'
        '"site_id":"site-north","strength_mg_per_unit":"100","unit":"mL","units":"0.15",'
        '"v":"openkap-ledger-v1","witness_ids":["dr-ben"]}'
    ).encode()
    assert canonical_bytes(_sample()) == expected
    assert compute_hash(_sample()) == hashlib.sha256(expected).hexdigest()


def test_hash_ignores_decimal_spelling_and_time_zone() -> None:
    # A database round trip may return 15.000 and UTC; the hash must not change.
    a = _sample()
    b = dataclasses.replace(
        a,
        mg=Decimal("15.000"),
        units=Decimal("0.15"),
        strength_mg_per_unit=Decimal(100),
        occurred_at=datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
    )
    assert compute_hash(a) == compute_hash(b)


def test_hash_ignores_its_own_field() -> None:
    a = _sample()
    assert compute_hash(a) == compute_hash(dataclasses.replace(a, entry_hash="f" * 64))


def test_genesis_differs_per_site() -> None:
    assert genesis_hash("site-north") != genesis_hash("site-south")
    assert len(genesis_hash("site-north")) == 64


def test_seal_links_and_hashes() -> None:
    sealed = seal(_sample(), "cd" * 32)
    assert sealed.prev_hash == "cd" * 32
    assert sealed.entry_hash == compute_hash(sealed)


def _two_site_history() -> list[LedgerEntry]:
    book = LedgerBook()
    drafts = [
        entry(K.RECEIPT, "5", lot=VIAL_100, entry_id="N1"),
        entry(K.RECEIPT, "3", lot=SPRAVATO, entry_id="S1"),
        entry(K.ADMINISTRATION, "0.5", lot=VIAL_100, entry_id="N2"),
        entry(K.ADMINISTRATION, "2", lot=SPRAVATO, entry_id="S2"),
        entry(K.RECEIPT, "20", lot=VIAL_10, entry_id="N3"),
        entry(K.WASTE, "0.1", lot=VIAL_100, entry_id="N4"),
    ]
    return [book.record(d) for d in drafts]


def test_chains_are_per_site() -> None:
    history = _two_site_history()
    by_id = {e.entry_id: e for e in history}
    assert by_id["N1"].prev_hash == genesis_hash("site-north")
    assert by_id["S1"].prev_hash == genesis_hash("site-south")
    assert by_id["N2"].prev_hash == by_id["N1"].entry_hash
    assert by_id["S2"].prev_hash == by_id["S1"].entry_hash
    assert by_id["N3"].prev_hash == by_id["N2"].entry_hash
    assert by_id["N4"].prev_hash == by_id["N3"].entry_hash


def test_untouched_history_verifies_with_balances() -> None:
    report = verify_chain(_two_site_history())
    assert report.ok
    assert report.entries_checked == 6
    assert report.balances[VIAL_100.lot_id].on_hand == Quantity(Decimal(440), Decimal("4.4"))
    assert report.balances[SPRAVATO.lot_id].on_hand == Quantity(Decimal(28), Decimal(1))
    assert report.balances[VIAL_10.lot_id].on_hand == Quantity(Decimal(200), Decimal(20))


def test_changed_quantity_is_a_hash_mismatch_at_that_entry() -> None:
    history = _two_site_history()
    history[2] = dataclasses.replace(history[2], units=Decimal("0.05"), mg=Decimal(5))
    report = verify_chain(history)
    assert report.first_broken is not None
    assert (report.first_broken.position, report.first_broken.entry_id) == (2, "N2")
    assert report.first_broken.reason is BreakReason.HASH_MISMATCH
    assert report.entries_checked == 2


def test_rehashed_change_breaks_the_next_link() -> None:
    # Someone edits N2 and recomputes its hash: N3 no longer points at it.
    history = _two_site_history()
    edited = dataclasses.replace(history[2], units=Decimal("0.05"), mg=Decimal(5))
    history[2] = seal(edited, edited.prev_hash)
    report = verify_chain(history)
    assert report.first_broken is not None
    assert report.first_broken.entry_id == "N3"
    assert report.first_broken.reason is BreakReason.PREV_HASH_MISMATCH


def test_deleted_entry_breaks_the_next_link_of_its_site() -> None:
    history = _two_site_history()
    del history[2]  # N2
    report = verify_chain(history)
    assert report.first_broken is not None
    assert report.first_broken.entry_id == "N3"
    assert report.first_broken.reason is BreakReason.PREV_HASH_MISMATCH


def test_fully_rechained_overdraw_is_named_as_negative_balance() -> None:
    # Even a forger who recomputes every hash cannot make the book go negative.
    book = LedgerBook()
    first = book.record(entry(K.RECEIPT, "1", entry_id="R1"))
    overdraw = seal(entry(K.ADMINISTRATION, "2", entry_id="A1"), first.entry_hash)
    report = verify_chain([first, overdraw])
    assert report.first_broken is not None
    assert report.first_broken.entry_id == "A1"
    assert report.first_broken.reason is BreakReason.NEGATIVE_BALANCE
    assert report.balances[VIAL_100.lot_id].on_hand == Quantity(Decimal(100), Decimal(1))


def test_fully_rechained_invalid_entry_is_named() -> None:
    book = LedgerBook()
    first = book.record(entry(K.RECEIPT, "1", entry_id="R1"))
    unwitnessed = seal(entry(K.WASTE, "0.5", entry_id="W1", witnesses=()), first.entry_hash)
    report = verify_chain([first, unwitnessed])
    assert report.first_broken is not None
    assert report.first_broken.entry_id == "W1"
    assert report.first_broken.reason is BreakReason.INVALID_ENTRY
    assert "needs a witness" in report.first_broken.detail


def test_unsealed_entry_is_a_broken_link() -> None:
    report = verify_chain([entry(K.RECEIPT, "1", entry_id="R1")])
    assert report.first_broken is not None
    assert report.first_broken.reason is BreakReason.PREV_HASH_MISMATCH


def test_empty_ledger_verifies() -> None:
    report = verify_chain([])
    assert report.ok
    assert report.entries_checked == 0


def test_entry_stored_without_a_time_zone_is_named_as_invalid() -> None:
    book = LedgerBook()
    first = book.record(entry(K.RECEIPT, "1", entry_id="R1"))
    naive = dataclasses.replace(first, occurred_at=first.occurred_at.replace(tzinfo=None))
    report = verify_chain([naive])
    assert report.first_broken is not None
    assert report.first_broken.entry_id == "R1"
    assert report.first_broken.reason is BreakReason.INVALID_ENTRY
    assert report.first_broken.detail == "The entry's date and time has no time zone."
