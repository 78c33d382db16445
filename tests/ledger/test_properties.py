"""Random histories written through the Django services (not the core alone): the
stored balance is always the sum of the stored entries and the independent model's
arithmetic, never negative; a refusal changes nothing; a correction cancels its
entry exactly; and the stored chain verifies at the end.

Each example runs inside a transaction that is rolled back, so examples do not see
each other's rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from openkap.ledger import services
from openkap.ledger.models import LedgerEntry, LotBalance
from openkap.ledger.selectors import chain_check
from tests.profiles import examples

from .conftest import EXPIRY

# Amounts in mL of a 10 mg/mL vial, to the hundredth.
AMOUNTS = st.integers(min_value=1, max_value=1500).map(lambda n: Decimal(n) / 100)
OPS = st.one_of(
    st.tuples(st.just("receive"), st.integers(min_value=1, max_value=3)),
    *(st.tuples(st.just(kind), AMOUNTS) for kind in ("administer", "administer", "waste", "loss", "destroy", "transfer")),
    st.tuples(st.just("count"), st.integers(min_value=-50, max_value=50).map(lambda n: Decimal(n) / 100)),
    st.tuples(st.just("adjust"), st.just(0)),
    st.tuples(st.just("correct"), st.integers(min_value=0, max_value=40)),
)
# Independent of the core's sign table.
OUT = {"administration", "waste", "loss", "destruction", "transfer_out"}


class _Rollback(Exception):
    pass


@dataclass
class Model:
    on_hand: dict[int, Decimal] = field(default_factory=dict)
    movements: list[LedgerEntry] = field(default_factory=list)  # correctable, in order
    corrected: set[int] = field(default_factory=set)
    open_counts: list[LedgerEntry] = field(default_factory=list)

    def effect(self, entry: LedgerEntry) -> Decimal:
        return -entry.units if entry.kind in OUT else entry.units


def stored_sum(lot_id: int) -> Decimal:
    total = Decimal(0)
    for e in LedgerEntry.objects.filter(lot_id=lot_id):
        if e.kind in OUT:
            total -= e.units
        elif e.kind in ("receipt", "transfer_in", "adjustment", "correction"):
            total += e.units
    return total


def snapshot() -> tuple[int, list[tuple[int, Decimal, Decimal]]]:
    return LedgerEntry.objects.count(), sorted(LotBalance.objects.values_list("lot_id", "mg", "units"))


def run(ops, world) -> None:
    w = world
    m = Model()
    receipt = services.lot_receive(by=w.nurse_actor, site_id=w.site.id, product_id=w.product.id,
                                   lot_number="PROP-1", expires_on=EXPIRY, supplier_id=w.supplier.id,
                                   invoice_number="INV-P", containers=1)
    lot = receipt.lot
    m.on_hand[lot.id] = Decimal(20)
    m.movements.append(receipt)
    for kind, arg in ops:
        before = snapshot()
        expect_refusal = False
        try:
            if kind == "receive":
                entry = services.lot_receive(by=w.nurse_actor, site_id=w.site.id, product_id=w.product.id,
                                             lot_number="PROP-1", expires_on=EXPIRY, supplier_id=w.supplier.id,
                                             invoice_number="INV-P2", containers=arg)
                m.on_hand[lot.id] += 20 * arg
                m.movements.append(entry)
            elif kind in ("administer", "waste", "loss", "destroy", "transfer"):
                expect_refusal = arg > m.on_hand[lot.id]
                if kind == "administer":
                    entry = services.ledger_administer(by=w.nurse_actor, dosing_session_id=w.session.id,
                                                       lot_id=lot.id, units=arg)
                elif kind == "waste":
                    entry = services.ledger_waste(by=w.nurse_actor, witness_id=w.prescriber.id, lot_id=lot.id,
                                                  units=arg)
                elif kind == "loss":
                    entry = services.ledger_loss(by=w.nurse_actor, lot_id=lot.id, units=arg, loss_type="other_loss",
                                                 discovered_on=timezone.localdate(), circumstances="spilled")
                elif kind == "destroy":
                    entry = services.ledger_destroy(by=w.nurse_actor, lot_id=lot.id, units=arg,
                                                    witness_id=w.prescriber.id, second_witness_id=w.admin.id,
                                                    method="on_site", location="med room")
                else:
                    entry, into = services.ledger_transfer(by=w.nurse_actor, lot_id=lot.id,
                                                           to_site_id=w.other_site.id, units=arg)
                    m.on_hand[into.lot_id] = m.on_hand.get(into.lot_id, Decimal(0)) + arg
                assert not expect_refusal
                m.on_hand[lot.id] -= arg
                m.movements.append(entry)
            elif kind == "count":
                found = max(Decimal(0), m.on_hand[lot.id] + arg)
                entry = services.ledger_count(by=w.nurse_actor, witness_id=w.prescriber.id, lot_id=lot.id,
                                              units=found)
                assert entry.discrepancy_units == found - m.on_hand[lot.id]
                if entry.discrepancy_units:
                    m.open_counts.append(entry)
            elif kind == "adjust":
                if not m.open_counts:
                    continue
                count = m.open_counts.pop(0)
                expect_refusal = m.on_hand[lot.id] + count.discrepancy_units < 0
                services.ledger_adjust(by=w.admin_actor, count_id=count.id, reason="reviewed")
                assert not expect_refusal
                m.on_hand[lot.id] += count.discrepancy_units
            elif kind == "correct":
                if not m.movements:
                    continue
                target = m.movements[arg % len(m.movements)]
                legs = [target]
                if target.kind == "transfer_out":
                    legs.append(LedgerEntry.objects.get(kind="transfer_in", detail__transfer_out_entry=str(target.id)))
                expect_refusal = target.id in m.corrected or any(
                    m.on_hand[leg.lot_id] - m.effect(leg) < 0 for leg in legs)
                corrections = services.ledger_correct(by=w.admin_actor, entry_id=target.id, reason="in error")
                assert not expect_refusal
                for leg, correction in zip(sorted(legs, key=lambda e: e.site_id), corrections, strict=True):
                    assert m.effect(leg) + correction.units == 0  # corrections cancel exactly
                    m.on_hand[leg.lot_id] -= m.effect(leg)
                m.corrected.add(target.id)
        except ValidationError:
            assert expect_refusal, (kind, arg)
            assert snapshot() == before  # a refusal changes nothing
            event(f"{kind} refused")
        else:
            event(kind)
        for lot_id, units in m.on_hand.items():
            stored = LotBalance.objects.get(lot_id=lot_id)
            assert stored.units == units == stored_sum(lot_id)
            assert stored.mg == units * 10
            assert units >= 0
    assert chain_check().ok


@dataclass
class World:
    nurse_actor: object
    admin_actor: object
    site: object
    other_site: object
    product: object
    supplier: object
    session: object
    prescriber: object
    admin: object


def _world(nurse_actor, admin_actor, site, other_site, supplier, session, prescriber, admin) -> World:
    product = services.product_create(by=admin_actor, site_id=site.id, name="Ketamine 10 mg/mL, 20 mL",
                                      form="vial", strength_mg_per_unit=10, package_size=20, ndc="42023-113-10")
    return World(nurse_actor, admin_actor, site, other_site, product, supplier, session, prescriber, admin)


@given(ops=st.lists(OPS, min_size=3, max_size=30))
@settings(max_examples=examples(100), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_random_histories_through_the_services(
    ops, nurse_actor, admin_actor, site, other_site, supplier, session, prescriber, admin
):
    try:
        with transaction.atomic():
            run(ops, _world(nurse_actor, admin_actor, site, other_site, supplier, session, prescriber, admin))
            raise _Rollback
    except _Rollback:
        pass
