"""Hypothesis properties of the ledger over random sequences of entries.

The model below keeps its own sign table and running sums, so the ledger is
checked against arithmetic written independently of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkap.core.ledger import (
    BreakReason,
    EntryKind,
    InvalidEntryError,
    LedgerBook,
    LedgerEntry,
    NegativeBalanceError,
    Quantity,
    Unit,
    reconcile,
    replay,
    verify_chain,
)
from tests.profiles import examples

from .helpers import SPRAVATO, T0, VIAL_10, VIAL_100, Lot, entry

K = EntryKind
LOTS = (VIAL_100, VIAL_10, SPRAVATO)
STAFF = ("nurse-ana", "dr-ben", "admin-cho", "nurse-dev")
MOVEMENTS = (
    K.RECEIPT,
    K.ADMINISTRATION,
    K.WASTE,
    K.TRANSFER_OUT,
    K.TRANSFER_IN,
    K.DESTRUCTION,
    K.LOSS,
)
# Independent of the module's own table.
SIGN = {
    K.RECEIPT: 1,
    K.TRANSFER_IN: 1,
    K.ADMINISTRATION: -1,
    K.WASTE: -1,
    K.TRANSFER_OUT: -1,
    K.DESTRUCTION: -1,
    K.LOSS: -1,
}


def effect(e: LedgerEntry) -> tuple[Decimal, Decimal]:
    if e.kind is K.COUNT:
        return Decimal(0), Decimal(0)
    if e.kind in (K.ADJUSTMENT, K.CORRECTION):
        return e.mg, e.units
    s = SIGN[e.kind]
    return s * e.mg, s * e.units


@dataclass
class Model:
    balance: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    accepted: list[LedgerEntry] = field(default_factory=list)
    corrected: set[str] = field(default_factory=set)
    discrepancy: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    adjusted: set[str] = field(default_factory=set)

    def on_hand(self, lot_id: str) -> tuple[Decimal, Decimal]:
        return self.balance.get(lot_id, (Decimal(0), Decimal(0)))

    def after(self, e: LedgerEntry) -> tuple[Decimal, Decimal]:
        mg, units = self.on_hand(e.lot_id)
        d_mg, d_units = effect(e)
        return mg + d_mg, units + d_units

    def accept(self, e: LedgerEntry) -> None:
        if e.kind is K.COUNT:
            mg, units = self.on_hand(e.lot_id)
            self.discrepancy[e.entry_id] = (e.mg - mg, e.units - units)
        self.balance[e.lot_id] = self.after(e)
        self.accepted.append(e)
        if e.kind is K.CORRECTION:
            self.corrected.add(str(e.refers_to_id))
        if e.kind is K.ADJUSTMENT:
            self.adjusted.add(str(e.refers_to_id))


def _amount(data: st.DataObject, lot: Lot) -> Decimal:
    if lot.unit is Unit.DEVICE:
        return Decimal(data.draw(st.integers(1, 4)))
    return Decimal(data.draw(st.integers(1, 600))) / 100  # 0.01 mL steps


def _draft(data: st.DataObject, model: Model, n: int) -> LedgerEntry | None:
    """A well-formed entry; only its effect on the balance may get it refused."""
    kind = data.draw(st.sampled_from((*MOVEMENTS, K.COUNT, K.ADJUSTMENT, K.CORRECTION)))
    actor = data.draw(st.sampled_from(STAFF))
    others = tuple(s for s in STAFF if s != actor)
    common: dict[str, Any] = {"entry_id": f"E{n}", "at": T0 + timedelta(minutes=n), "actor": actor}
    if kind is K.CORRECTION:
        targets = [
            e for e in model.accepted if e.kind in MOVEMENTS and e.entry_id not in model.corrected
        ]
        if not targets:
            return None
        target = data.draw(st.sampled_from(targets))
        lot = next(lot for lot in LOTS if lot.lot_id == target.lot_id)
        units = -SIGN[target.kind] * target.units
        return entry(kind, units, lot=lot, refers_to=target.entry_id, **common)
    if kind is K.ADJUSTMENT:
        counts = [
            e
            for e in model.accepted
            if e.kind is K.COUNT
            and e.entry_id not in model.adjusted
            and model.discrepancy[e.entry_id][1] != 0
        ]
        if not counts:
            return None
        count = data.draw(st.sampled_from(counts))
        lot = next(lot for lot in LOTS if lot.lot_id == count.lot_id)
        return entry(
            kind, model.discrepancy[count.entry_id][1], lot=lot, refers_to=count.entry_id, **common
        )
    lot = data.draw(st.sampled_from(LOTS))
    if kind is K.COUNT:
        book_units = model.on_hand(lot.lot_id)[1]
        off = data.draw(st.sampled_from((0, 0, -1, 1)))
        units = max(
            Decimal(0),
            book_units + off * (Decimal(1) if lot.unit is Unit.DEVICE else Decimal("0.1")),
        )
        return entry(kind, units, lot=lot, witnesses=(others[0],), **common)
    witnesses = others[:2] if kind is K.DESTRUCTION else others[:1] if kind is K.WASTE else ()
    return entry(kind, _amount(data, lot), lot=lot, witnesses=witnesses, **common)


def _corrupt(data: st.DataObject, draft: LedgerEntry, model: Model) -> LedgerEntry:
    """Break one rule that holds for every kind of entry."""
    ways = ["mg", "actor_witness", "no_actor", "naive_time"]
    if model.accepted:
        ways.append("duplicate_id")
    way = data.draw(st.sampled_from(ways))
    if way == "mg":
        return dataclasses.replace(draft, mg=draft.mg + 1)
    if way == "actor_witness":
        return dataclasses.replace(draft, witness_ids=(draft.actor_id, *draft.witness_ids))
    if way == "no_actor":
        return dataclasses.replace(draft, actor_id="")
    if way == "naive_time":
        return dataclasses.replace(draft, occurred_at=draft.occurred_at.replace(tzinfo=None))
    return dataclasses.replace(draft, entry_id=data.draw(st.sampled_from(model.accepted)).entry_id)


def _book_state(book: LedgerBook, model: Model, draft: LedgerEntry) -> tuple[object, ...]:
    return (
        book.balances(),
        tuple(book.head(site) for site in ("site-north", "site-south")),
        book.entry(draft.entry_id),
        tuple(book.is_adjusted(e.entry_id) for e in model.accepted if e.kind is K.COUNT),
    )


def _run(data: st.DataObject, *, corrupt: bool) -> tuple[LedgerBook, Model]:
    book = LedgerBook()
    model = Model()
    steps = data.draw(st.integers(1, 40), label="steps")
    for n in range(steps):
        draft = _draft(data, model, n)
        if draft is None:
            continue
        broken = corrupt and data.draw(st.booleans(), label="corrupt")
        if broken:
            draft = _corrupt(data, draft, model)
        before = _book_state(book, model, draft)
        would_be = model.after(draft)
        if broken or would_be[0] < 0 or would_be[1] < 0:
            error = InvalidEntryError if broken else NegativeBalanceError
            with pytest.raises(error):
                book.record(draft)
            assert _book_state(book, model, draft) == before
        else:
            model.accept(book.record(draft))
        for lot in LOTS:
            on_hand = book.balance(lot.lot_id).on_hand
            assert (on_hand.mg, on_hand.units) == model.on_hand(lot.lot_id)
            assert on_hand.mg >= 0
            assert on_hand.units >= 0
    return book, model


@settings(max_examples=examples(200), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_balance_is_the_sum_of_effects_and_never_negative(data: st.DataObject) -> None:
    book, model = _run(data, corrupt=False)
    # The accepted history replays to the same balances and verifies.
    assert replay(model.accepted) == book.balances()
    assert verify_chain(model.accepted).ok
    for lot in LOTS:
        total = [effect(e) for e in model.accepted if e.lot_id == lot.lot_id]
        on_hand = book.balance(lot.lot_id).on_hand
        assert on_hand.mg == sum((t[0] for t in total), Decimal(0))
        assert on_hand.units == sum((t[1] for t in total), Decimal(0))
        assert on_hand.mg == on_hand.units * lot.strength


@settings(max_examples=examples(200), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_refused_entries_change_nothing(data: st.DataObject) -> None:
    _run(data, corrupt=True)


@settings(max_examples=examples(200), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_correction_cancels_its_entry_exactly(data: st.DataObject) -> None:
    book, model = _run(data, corrupt=False)
    by_id = {e.entry_id: e for e in model.accepted}
    pairs = {str(e.refers_to_id) for e in model.accepted if e.kind is K.CORRECTION}
    for e in model.accepted:
        if e.kind is K.CORRECTION:
            a, b = effect(by_id[str(e.refers_to_id)]), effect(e)
            assert (a[0] + b[0], a[1] + b[1]) == (Decimal(0), Decimal(0))
    # Dropping each corrected entry with its correction leaves the same balances.
    for lot in LOTS:
        rest = [
            effect(e)
            for e in model.accepted
            if e.lot_id == lot.lot_id and e.entry_id not in pairs and e.kind is not K.CORRECTION
        ]
        assert book.balance(lot.lot_id).on_hand == Quantity(
            sum((r[0] for r in rest), Decimal(0)), sum((r[1] for r in rest), Decimal(0))
        )


@settings(max_examples=examples(100), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_reconciliation_over_all_time_matches_the_balance(data: st.DataObject) -> None:
    book, model = _run(data, corrupt=False)
    start = T0 - timedelta(days=1)
    end = T0 + timedelta(days=1)
    for lot in LOTS:
        r = reconcile(model.accepted, lot_id=lot.lot_id, start=start, end=end)
        assert r.opening == Quantity(Decimal(0), Decimal(0))
        assert r.expected_on_hand == book.balance(lot.lot_id).on_hand
        assert r.expected_on_hand == (
            r.received
            - r.administered
            - r.wasted
            - r.transferred_out
            + r.transferred_in
            - r.destroyed
            - r.lost
            + r.adjustments
        )


def _tampered(value: Any, data: st.DataObject) -> Any:
    if isinstance(value, EntryKind):
        return data.draw(st.sampled_from([k for k in EntryKind if k is not value]))
    if isinstance(value, Unit):
        return data.draw(st.sampled_from([u for u in Unit if u is not value]))
    if isinstance(value, Decimal):
        return value + data.draw(st.sampled_from((Decimal(1), Decimal("-0.01"), Decimal(28))))
    if isinstance(value, datetime):
        return value + timedelta(seconds=data.draw(st.integers(1, 10**6)))
    if isinstance(value, tuple):
        return (*value, "intruder")
    if isinstance(value, str):
        return value + data.draw(st.sampled_from(("x", "0", " ")))
    if value is None:
        return "E0"
    # Fields are drawn from dataclasses.fields(): a new field type lands here.
    raise AssertionError(f"no tamper for {type(value).__name__}: add one for the new field")


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_single_field_tamper_is_named_at_its_entry(data: st.DataObject) -> None:
    _, model = _run(data, corrupt=False)
    history = list(model.accepted)
    if not history:
        return
    assert verify_chain(history).ok
    position = data.draw(st.integers(0, len(history) - 1), label="position")
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(LedgerEntry)]))
    original = history[position]
    history[position] = dataclasses.replace(
        original, **{name: _tampered(getattr(original, name), data)}
    )
    report = verify_chain(history)
    assert report.first_broken is not None
    assert report.first_broken.position == position
    assert report.first_broken.entry_id == history[position].entry_id
    assert report.entries_checked == position
    expected_reason = (
        BreakReason.PREV_HASH_MISMATCH
        if name in ("prev_hash", "site_id")
        else BreakReason.HASH_MISMATCH
    )
    assert report.first_broken.reason is expected_reason
