"""A whole IM and a whole esketamine session through the services, as the clinic runs them."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from openkap.dosing import services
from openkap.dosing.models import DosingSession
from openkap.ledger.models import LedgerEntry
from tests.conftest import PASSWORD
from tests.dosing.conftest import CHECKLIST, MISSED_REASON


def test_esketamine_session_end_to_end(esk_session, nurse_actor, second_nurse_actor, prescriber_actor, stock, patient):
    t0 = timezone.now() - timedelta(minutes=170)
    s = esk_session
    s.scheduled_start = t0 - timedelta(minutes=10)
    s.save()
    services.session_check_in(by=nurse_actor, session_id=s.id, at=t0)
    services.checklist_complete(by=nurse_actor, session_id=s.id, data=CHECKLIST, at=t0 + timedelta(minutes=5))
    order = services.dose_order_sign(by=prescriber_actor, session_id=s.id, password=PASSWORD,
                                     at=t0 + timedelta(minutes=10))
    assert order.dose_mg == 56
    prep = services.dose_prepare(by=nurse_actor, session_id=s.id, lot_id=stock["device"].id,
                                 at=t0 + timedelta(minutes=12))
    assert prep.units == 2
    services.dose_verify(by=second_nurse_actor, session_id=s.id, drug_confirmed=True, concentration_seen="28",
                         amount_seen="2", dose_mg_seen="56", date_of_birth_seen=patient.date_of_birth,
                         at=t0 + timedelta(minutes=13))
    a = t0 + timedelta(minutes=15)
    services.administration_record(by=nurse_actor, session_id=s.id, kind="device", at=a)
    services.administration_record(by=nurse_actor, session_id=s.id, kind="device", at=a + timedelta(minutes=5))
    s.refresh_from_db()
    assert s.status == DosingSession.Status.MONITORING
    assert LedgerEntry.objects.filter(dosing_session=s, kind="administration").count() == 2
    _v, alarms = services.vitals_record(by=nurse_actor, session_id=s.id, systolic=182, diastolic=100, heart_rate=90,
                                       spo2=97, respiratory_rate=16, at=a + timedelta(minutes=40))
    assert [al.code for al in alarms] == ["systolic_high"]
    services.alarm_acknowledge(by=nurse_actor, alarm_id=alarms[0].id, action="rechecked_confirmed", note="")
    services.observation_record(by=nurse_actor, session_id=s.id, moaas=4, respiration_normal=True,
                                cadss_answers={f"q{i}": 1 for i in range(1, 7)}, at=a + timedelta(minutes=41))
    services.adverse_event_record(by=nurse_actor, session_id=s.id, code="nausea", severity="mild",
                                  outcome="resolved", serious=False, onset_at=a + timedelta(minutes=30),
                                  action_taken="Ondansetron", antiemetic_drug="Ondansetron ODT",
                                  antiemetic_dose="4 mg", antiemetic_at=a + timedelta(minutes=32))
    services.vitals_record(by=nurse_actor, session_id=s.id, systolic=130, diastolic=82, heart_rate=76,
                           spo2=98, respiratory_rate=14)
    d = services.session_discharge(by=nurse_actor, session_id=s.id, password=PASSWORD, alert_and_oriented=True,
                                   ambulating=True, nausea_controlled=True, escort_present=True,
                                   escort_name="Ana Lindqvist", escort_phone="555 010 7788",
                                   missed_vitals_reason=MISSED_REASON)
    s.refresh_from_db()
    assert s.status == DosingSession.Status.DISCHARGED
    assert d.minutes_monitored >= 120
    assert s.rems_form.bp_40 == "182/100"
    assert s.rems_form.task is not None


def test_im_session_end_to_end(im_session, nurse_actor, second_nurse_actor, prescriber_actor, stock, patient):
    t0 = timezone.now() - timedelta(minutes=170)
    s = im_session
    s.scheduled_start = t0
    s.save()
    services.session_check_in(by=nurse_actor, session_id=s.id, at=t0)
    services.checklist_complete(by=nurse_actor, session_id=s.id, data=CHECKLIST, at=t0 + timedelta(minutes=5))
    order = services.dose_order_sign(by=prescriber_actor, session_id=s.id, password=PASSWORD,
                                     dose_mg_per_kg="0.75", at=t0 + timedelta(minutes=10))
    assert order.dose_mg == Decimal("51")
    prep = services.dose_prepare(by=nurse_actor, session_id=s.id, lot_id=stock["50"].id, at=t0 + timedelta(minutes=12))
    assert prep.volume_ml == Decimal("1.02")
    services.dose_verify(by=second_nurse_actor, session_id=s.id, drug_confirmed=True, concentration_seen="50",
                         amount_seen="1.02", dose_mg_seen="51", date_of_birth_seen=patient.date_of_birth,
                         at=t0 + timedelta(minutes=13))
    services.administration_record(by=nurse_actor, session_id=s.id, kind="given", at=t0 + timedelta(minutes=15))
    services.vitals_record(by=nurse_actor, session_id=s.id, systolic=130, diastolic=82, heart_rate=76,
                           spo2=98, respiratory_rate=14)
    services.session_discharge(by=nurse_actor, session_id=s.id, password=PASSWORD, alert_and_oriented=True,
                               ambulating=True, nausea_controlled=True, escort_present=True,
                               escort_name="Ana Lindqvist", escort_phone="555 010 7788",
                               missed_vitals_reason=MISSED_REASON)
