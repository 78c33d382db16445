from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from openkap.audit.models import AuditEvent
from openkap.dosing.models import DosingSession
from openkap.ledger import selectors, services

from .conftest import make_session


def reconcile(by, site_id):
    today = timezone.localdate()
    return selectors.site_reconciliation(by=by, site_id=site_id, start=today - timedelta(days=7), end=today)


def test_period_totals_and_expected_on_hand(nurse_actor, admin_actor, prescriber, admin, lot, session, other_site):
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="40")
    services.ledger_waste(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, mg="10")
    services.ledger_transfer(by=nurse_actor, lot_id=lot.id, to_site_id=other_site.id, units="2")
    services.ledger_loss(by=nurse_actor, lot_id=lot.id, units="1", loss_type="other_loss",
                         discovered_on=timezone.localdate(), circumstances="broken vial")
    services.ledger_destroy(by=nurse_actor, lot_id=lot.id, units="1", witness_id=prescriber.id,
                            second_witness_id=admin.id, method="on_site", location="med room")
    count = services.ledger_count(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, units="5.4")
    rec = reconcile(nurse_actor, lot.site_id)
    [(found_lot, r)] = rec.lots
    assert found_lot == lot
    assert (r.received.mg, r.administered.mg, r.wasted.mg) == (1000, 40, 10)
    assert (r.transferred_out.mg, r.lost.mg, r.destroyed.mg) == (200, 100, 100)
    assert r.expected_on_hand.units == Decimal("5.5")
    assert r.discrepancy.units == Decimal("-0.1")
    assert not r.discrepancy_adjusted
    assert rec.open_discrepancies == [count]
    services.ledger_adjust(by=admin_actor, count_id=count.id, reason="evaporation estimate")
    rec = reconcile(nurse_actor, lot.site_id)
    assert rec.lots[0][1].discrepancy_adjusted
    assert rec.lots[0][1].expected_on_hand.units == Decimal("5.4")
    assert rec.open_discrepancies == []


def test_sessions_are_matched_both_ways(nurse_actor, admin_actor, org, lot, patient, nurse, session):
    in_chair = make_session(org, lot.site, patient, nurse, status=DosingSession.Status.MONITORING)
    forgotten = make_session(org, lot.site, patient, nurse)
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="40")
    services.ledger_administer(by=nurse_actor, dosing_session_id=in_chair.id, lot_id=lot.id, mg="30")
    rec = reconcile(nurse_actor, lot.site_id)
    assert [m.session for m in rec.matched] == [session]
    assert rec.matched[0].administered.mg == 40
    assert [m.session for m in rec.administrations_without_discharge] == [in_chair]
    assert rec.discharges_without_administration == [forgotten]
    assert rec.problems == 2


def test_a_corrected_administration_no_longer_matches(nurse_actor, admin_actor, lot, session):
    given = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="40")
    services.ledger_correct(by=admin_actor, entry_id=given.id, reason="wrong session")
    rec = reconcile(nurse_actor, lot.site_id)
    assert rec.discharges_without_administration == [session]
    assert rec.lots[0][1].administered.mg == 0


def test_reconciliation_is_audited_with_the_patients_shown(nurse_actor, lot, session):
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="40")
    reconcile(nurse_actor, lot.site_id)
    event = AuditEvent.objects.get(object_type="ledger_reconciliation")
    assert event.detail["patient_ids"] == [session.patient_id]
