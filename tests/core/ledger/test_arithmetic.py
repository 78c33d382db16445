"""Hand-computed ledger arithmetic and the rules each entry must meet."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest

from openkap.core.ledger import (
    ZERO,
    EntryKind,
    InvalidEntryError,
    LedgerBook,
    LedgerEntry,
    LotBalance,
    NegativeBalanceError,
    Quantity,
    apply,
    check_adjustment,
    check_correction,
    count_discrepancy,
    quantity_from_units,
    replay,
    signed_effect,
)

from .helpers import ADMIN, NURSE, PRESCRIBER, SPRAVATO, VIAL_10, VIAL_100, entry

K = EntryKind


def q(mg: str, units: str) -> Quantity:
    return Quantity(Decimal(mg), Decimal(units))


def empty(lot_id: str = VIAL_100.lot_id) -> LotBalance:
    return LotBalance(lot_id, ZERO)


def test_quantity_from_units_uses_lot_strength() -> None:
    assert quantity_from_units(Decimal("0.35"), Decimal(100)) == q("35", "0.35")
    assert quantity_from_units(Decimal(3), Decimal(28)) == q("84", "3")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (K.RECEIPT, q("200", "2")),
        (K.TRANSFER_IN, q("200", "2")),
        (K.ADMINISTRATION, q("-200", "-2")),
        (K.WASTE, q("-200", "-2")),
        (K.TRANSFER_OUT, q("-200", "-2")),
        (K.DESTRUCTION, q("-200", "-2")),
        (K.LOSS, q("-200", "-2")),
        (K.COUNT, q("0", "0")),
    ],
)
def test_signed_effect_of_each_movement(kind: EntryKind, expected: Quantity) -> None:
    assert signed_effect(entry(kind, "2")) == expected


@pytest.mark.parametrize("kind", [K.ADJUSTMENT, K.CORRECTION])
@pytest.mark.parametrize("units", ["-1.5", "1.5"])
def test_signed_effect_of_adjustment_and_correction_is_their_own_sign(
    kind: EntryKind, units: str
) -> None:
    e = entry(kind, units, refers_to="E0")
    assert signed_effect(e) == q(str(Decimal(units) * 100), units)


def test_receive_administer_waste_hand_computed() -> None:
    # 5 mL of 100 mg/mL = 500 mg; 0.35 mL given = 35 mg; 0.15 mL wasted = 15 mg.
    b = apply(empty(), entry(K.RECEIPT, "5"))
    b = apply(b, entry(K.ADMINISTRATION, "0.35"))
    b = apply(b, entry(K.WASTE, "0.15"))
    assert b == LotBalance(VIAL_100.lot_id, q("450", "4.5"))


def test_esketamine_devices_hand_computed() -> None:
    # A 56 mg kit (2 devices) and an 84 mg kit (3 devices) received; 84 mg given.
    entries = [
        entry(K.RECEIPT, "2", lot=SPRAVATO),
        entry(K.RECEIPT, "3", lot=SPRAVATO),
        entry(K.ADMINISTRATION, "3", lot=SPRAVATO),
    ]
    assert replay(entries)[SPRAVATO.lot_id].on_hand == q("56", "2")


def test_overdraw_refused_with_amounts() -> None:
    b = apply(empty(), entry(K.RECEIPT, "1"))
    with pytest.raises(NegativeBalanceError) as err:
        apply(b, entry(K.ADMINISTRATION, "1.2"))
    assert str(err.value) == (
        "Not enough in lot KET-100-A: 100 mg (1 mL) on hand, "
        "this administration would leave -20 mg (-0.2 mL)."
    )


def test_drawing_exactly_the_balance_leaves_zero() -> None:
    b = apply(empty(), entry(K.RECEIPT, "1"))
    assert apply(b, entry(K.ADMINISTRATION, "1")).on_hand == q("0", "0")


def test_entry_for_another_lot_refused() -> None:
    with pytest.raises(InvalidEntryError, match="for lot KET-10-B, not lot KET-100-A"):
        apply(empty(), entry(K.RECEIPT, "1", lot=VIAL_10))


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (
            entry(K.WASTE, "0.1", witnesses=()),
            "A waste needs a witness other than the person recording it.",
        ),
        (
            entry(K.WASTE, "0.1", witnesses=(NURSE,)),
            "The person recording cannot also be the witness.",
        ),
        (
            entry(K.COUNT, "1", witnesses=()),
            "A count needs a witness other than the person recording it.",
        ),
        (
            entry(K.DESTRUCTION, "1", witnesses=(PRESCRIBER,)),
            "A destruction needs 2 witnesses other than the person recording it.",
        ),
        (
            entry(K.DESTRUCTION, "1", witnesses=(PRESCRIBER, PRESCRIBER)),
            "The same witness is named twice.",
        ),
        (entry(K.WASTE, "0.1", witnesses=(" ",)), "A witness has no name."),
        (entry(K.LOSS, "1", reason=""), "A loss needs a reason."),
        (entry(K.ADJUSTMENT, "1", refers_to="E0", reason=" "), "An adjustment needs a reason."),
        (entry(K.CORRECTION, "1", refers_to="E0", reason=""), "A correction needs a reason."),
        (
            entry(K.RECEIPT, "1", reference=""),
            "A receipt must name the supplier's invoice.",
        ),
        (
            entry(K.ADMINISTRATION, "1", reference=""),
            "An administration must name the dosing session.",
        ),
        (
            entry(K.TRANSFER_OUT, "1", reference=""),
            "A transfer out must name the receiving site.",
        ),
        (
            entry(K.TRANSFER_IN, "1", reference=""),
            "A transfer in must name the sending site.",
        ),
        (entry(K.CORRECTION, "1"), "A correction must name the entry it corrects."),
        (entry(K.ADJUSTMENT, "1"), "An adjustment must name the count."),
        (
            entry(K.WASTE, "1", refers_to="E0"),
            "Only corrections and adjustments refer to another entry; a waste does not.",
        ),
        (entry(K.ADMINISTRATION, "0"), "An administration must be more than 0."),
        (entry(K.RECEIPT, "-1"), "A receipt must be more than 0."),
        (entry(K.COUNT, "-1"), "A count cannot find less than nothing."),
        (entry(K.CORRECTION, "0", refers_to="E0"), "A correction of 0 changes nothing."),
        (
            entry(K.ADMINISTRATION, "0.35", mg="35", lot=VIAL_10),
            "0.35 mL at 10 mg per mL is 3.5 mg, not 35 mg.",
        ),
        (
            entry(K.ADMINISTRATION, "1.5", lot=SPRAVATO),
            "Esketamine devices are single-use: count whole devices.",
        ),
        (entry(K.RECEIPT, "1", actor=""), "The entry does not name the person recording it."),
        (
            entry(K.RECEIPT, "1", at=datetime(2026, 3, 2, 9, 0)),  # noqa: DTZ001
            "The entry's date and time has no time zone.",
        ),
    ],
)
def test_invalid_entry_refused_with_reason(draft: LedgerEntry, message: str) -> None:
    balance = LotBalance(draft.lot_id, q("10000", "100"))
    with pytest.raises(InvalidEntryError) as err:
        apply(balance, draft)
    assert str(err.value) == message


def test_float_quantity_refused() -> None:
    draft = dataclasses.replace(entry(K.RECEIPT, "1"), units=1.0)
    with pytest.raises(InvalidEntryError, match="units is not an exact decimal number"):
        apply(empty(), draft)


def test_non_finite_quantity_refused() -> None:
    draft = dataclasses.replace(entry(K.RECEIPT, "1"), mg=Decimal("NaN"))
    with pytest.raises(InvalidEntryError, match="mg is not an exact decimal number"):
        apply(empty(), draft)


def test_waste_with_a_different_witness_accepted() -> None:
    b = apply(LotBalance(VIAL_100.lot_id, q("100", "1")), entry(K.WASTE, "0.2"))
    assert b.on_hand == q("80", "0.8")


def test_destruction_with_two_witnesses_accepted() -> None:
    b = LotBalance(VIAL_100.lot_id, q("100", "1"))
    assert apply(b, entry(K.DESTRUCTION, "1", witnesses=(PRESCRIBER, ADMIN))).on_hand == ZERO


def test_book_refuses_an_entry_at_another_strength_for_the_same_lot() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5"))
    wrong = dataclasses.replace(entry(K.ADMINISTRATION, "0.5", lot=VIAL_10), lot_id=VIAL_100.lot_id)
    with pytest.raises(InvalidEntryError) as err:
        book.record(wrong)
    assert str(err.value) == ("Lot KET-100-A is 100 mg per mL; this entry says 10 mg per mL.")
    assert book.balance(VIAL_100.lot_id).on_hand == q("500", "5")


def test_book_refuses_a_lot_moving_site() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5"))
    moved = dataclasses.replace(entry(K.ADMINISTRATION, "1"), site_id="site-south")
    with pytest.raises(InvalidEntryError, match=r"Lot KET-100-A belongs to site site-north\."):
        book.record(moved)


def test_book_refuses_a_duplicate_entry_id() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5", entry_id="R1"))
    with pytest.raises(InvalidEntryError, match=r"Entry R1 is already in the ledger\."):
        book.record(entry(K.RECEIPT, "5", entry_id="R1"))


# --- corrections -------------------------------------------------------------------


def test_correction_exactly_reverses_an_administration() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5", entry_id="R1"))
    book.record(entry(K.ADMINISTRATION, "0.4", entry_id="A1"))
    assert book.balance(VIAL_100.lot_id).on_hand == q("460", "4.6")
    book.record(entry(K.CORRECTION, "0.4", refers_to="A1"))
    assert book.balance(VIAL_100.lot_id).on_hand == q("500", "5")


def test_correction_of_a_receipt_is_negative() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5", entry_id="R1"))
    book.record(entry(K.CORRECTION, "-5", refers_to="R1"))
    assert book.balance(VIAL_100.lot_id).on_hand == q("0", "0")


@pytest.mark.parametrize(
    ("correction", "message"),
    [
        (
            entry(K.CORRECTION, "0.3", refers_to="A1"),
            "A correction must exactly reverse entry A1: 40 mg (0.4 mL), not 30 mg (0.3 mL).",
        ),
        (
            entry(K.CORRECTION, "-0.4", refers_to="A1"),
            "A correction must exactly reverse entry A1: 40 mg (0.4 mL), not -40 mg (-0.4 mL).",
        ),
        (
            entry(K.CORRECTION, "1", refers_to="NOPE"),
            "Entry NOPE is not an earlier entry of this ledger.",
        ),
        (
            entry(K.CORRECTION, "1", refers_to="C1"),
            "A count cannot be corrected; record a new count instead.",
        ),
        (
            entry(K.CORRECTION, "-2", refers_to="R2", lot=VIAL_10),
            "A correction must be in the same lot as the entry it corrects.",
        ),
    ],
)
def test_bad_correction_refused_and_changes_nothing(correction: LedgerEntry, message: str) -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5", entry_id="R1"))
    book.record(entry(K.RECEIPT, "2", entry_id="R2"))
    book.record(entry(K.ADMINISTRATION, "0.4", entry_id="A1"))
    book.record(entry(K.COUNT, "6.6", entry_id="C1"))
    before = (book.balances(), book.head(VIAL_100.site_id))
    with pytest.raises(InvalidEntryError) as err:
        book.record(correction)
    assert str(err.value) == message
    assert (book.balances(), book.head(VIAL_100.site_id)) == before


def test_entry_corrected_only_once() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5", entry_id="R1"))
    book.record(entry(K.ADMINISTRATION, "0.4", entry_id="A1"))
    book.record(entry(K.CORRECTION, "0.4", refers_to="A1", entry_id="X1"))
    with pytest.raises(InvalidEntryError, match=r"Entry A1 is already corrected\."):
        book.record(entry(K.CORRECTION, "0.4", refers_to="A1"))
    with pytest.raises(InvalidEntryError, match="A correction cannot be corrected"):
        book.record(entry(K.CORRECTION, "-0.4", refers_to="X1"))


def test_correction_that_would_overdraw_refused() -> None:
    # 5 mL received, 4 mL given: reversing the receipt would leave -1 mL.
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "5", entry_id="R1"))
    book.record(entry(K.ADMINISTRATION, "4", entry_id="A1"))
    with pytest.raises(NegativeBalanceError):
        book.record(entry(K.CORRECTION, "-5", refers_to="R1"))
    assert book.balance(VIAL_100.lot_id).on_hand == q("100", "1")


# --- counts and adjustments --------------------------------------------------------


def test_count_discrepancy_and_its_adjustment_hand_computed() -> None:
    # 10 mL of 10 mg/mL = 100 mg; 2.5 mL given -> book 7.5 mL; count finds 7.0 mL:
    # 0.5 mL (5 mg) missing. Another 1 mL is given before the admin adjusts, so the
    # book ends at 7.5 - 1 - 0.5 = 6.0 mL (60 mg).
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "10", lot=VIAL_10))
    book.record(entry(K.ADMINISTRATION, "2.5", lot=VIAL_10))
    assert count_discrepancy(book.balance(VIAL_10.lot_id), entry(K.COUNT, "7", lot=VIAL_10)) == (
        q("-5", "-0.5")
    )
    book.record(entry(K.COUNT, "7", lot=VIAL_10, entry_id="C1"))
    assert book.balance(VIAL_10.lot_id).on_hand == q("75", "7.5")  # a count moves nothing
    assert book.discrepancy_at_count("C1") == q("-5", "-0.5")
    book.record(entry(K.ADMINISTRATION, "1", lot=VIAL_10))
    book.record(entry(K.ADJUSTMENT, "-0.5", lot=VIAL_10, refers_to="C1", actor=ADMIN))
    assert book.balance(VIAL_10.lot_id).on_hand == q("60", "6")
    assert book.is_adjusted("C1")


@pytest.mark.parametrize(
    ("adjustment", "message"),
    [
        (
            entry(K.ADJUSTMENT, "-0.4", lot=VIAL_10, refers_to="C1"),
            "Count C1 differed from the book by -5 mg (-0.5 mL); "
            "the adjustment must be exactly that, not -4 mg (-0.4 mL).",
        ),
        (
            entry(K.ADJUSTMENT, "-0.5", lot=VIAL_10, refers_to="R1"),
            "An adjustment must name the count that found the difference.",
        ),
        (
            entry(K.ADJUSTMENT, "-0.5", lot=VIAL_10, refers_to="C9"),
            "Entry C9 is not an earlier entry of this ledger.",
        ),
    ],
)
def test_bad_adjustment_refused(adjustment: LedgerEntry, message: str) -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "10", lot=VIAL_10, entry_id="R1"))
    book.record(entry(K.ADMINISTRATION, "2.5", lot=VIAL_10))
    book.record(entry(K.COUNT, "7", lot=VIAL_10, entry_id="C1"))
    with pytest.raises(InvalidEntryError) as err:
        book.record(adjustment)
    assert str(err.value) == message
    assert book.balance(VIAL_10.lot_id).on_hand == q("75", "7.5")


def test_count_adjusted_only_once() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "10", lot=VIAL_10))
    book.record(entry(K.COUNT, "9", lot=VIAL_10, entry_id="C1"))
    book.record(entry(K.ADJUSTMENT, "-1", lot=VIAL_10, refers_to="C1"))
    with pytest.raises(InvalidEntryError, match=r"Count C1 is already adjusted\."):
        book.record(entry(K.ADJUSTMENT, "-1", lot=VIAL_10, refers_to="C1"))


def test_initial_inventory_is_a_count_and_an_adjustment() -> None:
    # Go-live with 3 devices already on the shelf: book 0, count 3 -> +3 devices.
    book = LedgerBook()
    book.record(entry(K.COUNT, "3", lot=SPRAVATO, entry_id="C0"))
    book.record(entry(K.ADJUSTMENT, "3", lot=SPRAVATO, refers_to="C0", actor=ADMIN))
    assert book.balance(SPRAVATO.lot_id).on_hand == q("84", "3")


def test_adjustment_that_would_overdraw_refused() -> None:
    # Count finds 1 mL short of 2 mL; then 1.5 mL is given: adjusting -1 mL would overdraw.
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "2", lot=VIAL_10))
    book.record(entry(K.COUNT, "1", lot=VIAL_10, entry_id="C1"))
    book.record(entry(K.ADMINISTRATION, "1.5", lot=VIAL_10))
    with pytest.raises(NegativeBalanceError):
        book.record(entry(K.ADJUSTMENT, "-1", lot=VIAL_10, refers_to="C1"))
    assert not book.is_adjusted("C1")


# --- the calls the Django service makes one row at a time -----------------------------


def test_service_style_correction_with_the_referenced_row() -> None:
    administered = entry(K.ADMINISTRATION, "0.4", entry_id="A1")
    balance = apply(LotBalance(VIAL_100.lot_id, q("500", "5")), administered)
    correction = entry(K.CORRECTION, "0.4", refers_to="A1")
    check_correction(correction, administered)
    assert apply(balance, correction).on_hand == q("500", "5")


@pytest.mark.parametrize(
    ("correction", "message"),
    [
        (entry(K.CORRECTION, "0.4", refers_to="A2", entry_id="X1"), "does not name this entry"),
        (entry(K.RECEIPT, "0.4", entry_id="X1"), "Entry X1 is not a correction."),
    ],
)
def test_check_correction_refuses_a_mismatched_pair(correction: LedgerEntry, message: str) -> None:
    with pytest.raises(InvalidEntryError, match=message):
        check_correction(correction, entry(K.ADMINISTRATION, "0.4", entry_id="A1"))


def test_check_adjustment_refuses_a_mismatched_pair() -> None:
    count = entry(K.COUNT, "7", lot=VIAL_10, entry_id="C1")
    with pytest.raises(InvalidEntryError, match="does not name this count"):
        check_adjustment(
            entry(K.ADJUSTMENT, "-1", lot=VIAL_10, refers_to="C2"), count, q("-10", "-1")
        )
    with pytest.raises(InvalidEntryError, match=r"Entry W1 is not an adjustment\."):
        check_adjustment(entry(K.WASTE, "1", lot=VIAL_10, entry_id="W1"), count, q("-10", "-1"))


def test_adjustment_in_another_lot_than_its_count_refused() -> None:
    book = LedgerBook()
    book.record(entry(K.RECEIPT, "10", lot=VIAL_10))
    book.record(entry(K.COUNT, "9", lot=VIAL_10, entry_id="C1"))
    with pytest.raises(InvalidEntryError, match="same lot as its count"):
        book.record(entry(K.ADJUSTMENT, "-0.1", lot=VIAL_100, refers_to="C1"))


def test_count_discrepancy_needs_a_count() -> None:
    with pytest.raises(InvalidEntryError, match=r"Entry R1 is not a count\."):
        count_discrepancy(empty(), entry(K.RECEIPT, "1", entry_id="R1"))


def test_zero_strength_refused() -> None:
    draft = dataclasses.replace(
        entry(K.RECEIPT, "1"), strength_mg_per_unit=Decimal(0), mg=Decimal(0)
    )
    with pytest.raises(InvalidEntryError, match="strength must be more than 0"):
        apply(empty(), draft)


def test_quantity_with_too_many_digits_refused_not_rounded() -> None:
    units = Decimal("0." + "3" * 70)
    draft = dataclasses.replace(entry(K.RECEIPT, "1"), units=units, mg=units * 100)
    with pytest.raises(InvalidEntryError, match="too many digits"):
        apply(empty(), draft)
