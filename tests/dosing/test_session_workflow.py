"""Each step of a session: what it records, what it refuses (with the reason), and that a
refusal changes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.audit.models import AuditEvent
from openkap.dosing import services
from openkap.dosing.models import (
    AdministrationEvent,
    Alarm,
    DosingSession,
    Observation,
    PreDoseChecklist,
    RemsForm,
    VitalSigns,
)
from openkap.ledger.models import LedgerEntry, LotBalance
from openkap.measures.models import MeasureAssignment
from openkap.pathway import services as pathway_services
from openkap.tasks.models import Task
from tests.conftest import PASSWORD
from tests.dosing.conftest import (
    CHECKLIST,
    DISCHARGE,
    NORMAL,
    ago,
    book,
    run_to_monitoring,
    screen,
    to_order,
)

# --- check-in ------------------------------------------------------------------------------


def test_check_in_pins_the_plans_approved_protocol(esk_session, nurse_actor, library):
    session = services.session_check_in(by=nurse_actor, session_id=esk_session.id)
    assert session.status == DosingSession.Status.CHECKED_IN
    assert session.protocol_version == library["intranasal-esketamine-spravato"]
    assert session.started_at is not None


def test_check_in_on_another_day_is_refused(esk_session, nurse_actor):
    esk_session.scheduled_start = timezone.now() + timedelta(days=2)
    esk_session.save()
    with pytest.raises(ValidationError, match="booked for"):
        services.session_check_in(by=nurse_actor, session_id=esk_session.id)
    esk_session.refresh_from_db()
    assert esk_session.status == DosingSession.Status.SCHEDULED


def test_check_in_without_the_protocol_in_the_library_is_refused(ready, stock, patient, site, room, nurse, nurse_actor):
    session = book(patient, ready, site, room, nurse)
    with pytest.raises(ValidationError, match="not in the protocol library"):
        services.session_check_in(by=nurse_actor, session_id=session.id)


def test_check_in_twice_is_refused(esk_session, nurse_actor):
    services.session_check_in(by=nurse_actor, session_id=esk_session.id)
    with pytest.raises(ValidationError, match="checked in"):
        services.session_check_in(by=nurse_actor, session_id=esk_session.id)


# --- the checklist --------------------------------------------------------------------------


@pytest.fixture
def checked_in(esk_session, nurse_actor):
    services.session_check_in(by=nurse_actor, session_id=esk_session.id)
    return esk_session


def _checklist_errors(session, nurse_actor, **changes) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        services.checklist_complete(by=nurse_actor, session_id=session.id, data={**CHECKLIST, **changes})
    assert not PreDoseChecklist.objects.filter(session=session).exists()
    assert not VitalSigns.objects.filter(session=session).exists()
    return exc.value.message_dict


def test_checklist_lists_every_unmet_item(checked_in, nurse_actor):
    with pytest.raises(ValidationError) as exc:
        services.checklist_complete(by=nurse_actor, session_id=checked_in.id, data={})
    errors = exc.value.message_dict
    for field in ("fasting_confirmed", "escort_name", "escort_phone", "systolic", "diastolic", "heart_rate", "spo2",
                  "respiratory_rate", "pregnancy_status", "new_medications", "suicide_risk_reviewed", "intention",
                  "item_rems-enrolled", "item_nasal-steroid-decongestant"):
        assert field in errors, field
    assert "No food for at least 2 hours" in errors["fasting_confirmed"][0]


def test_checklist_systolic_400_is_refused(checked_in, nurse_actor):
    errors = _checklist_errors(checked_in, nurse_actor, systolic=400)
    assert "outside the possible range" in errors["systolic"][0]


def test_checklist_records_a_high_baseline_bp_as_measured(checked_in, nurse_actor):
    # Issue 12: the nurse records the reading; the prescriber's decision goes with the
    # signed order (tests/dosing/test_spravato_bp.py), not a note on the checklist.
    checklist = services.checklist_complete(by=nurse_actor, session_id=checked_in.id, data={
        **CHECKLIST, "systolic": 152, "diastolic": 96,
        "baseline_bp_note": "Home readings 128/82 (white-coat pattern)."})
    assert (checklist.baseline_vitals.systolic, checklist.baseline_vitals.diastolic) == (152, 96)


@pytest.mark.parametrize("status", ["pregnant", "possibly_pregnant"])
def test_checklist_pregnancy_holds_the_dose(checked_in, nurse_actor, status):
    assert "not given in pregnancy" in _checklist_errors(checked_in, nurse_actor, pregnancy_status=status)[
        "pregnancy_status"][0]


def test_checklist_withdrawn_consent_is_refused(checked_in, nurse_actor, therapist_actor, patient):
    pathway_services.consent_withdraw(by=therapist_actor, patient_id=patient.id, reason="Wants to think again.")
    assert "withdrew consent" in _checklist_errors(checked_in, nurse_actor)["__all__"][0]


def test_checklist_flagged_suicide_screen_needs_an_assessment(checked_in, nurse_actor, patient):
    flagged = {"q1": 2, "q2": 2, "q3": 1, "q4": 2, "q5": 1, "q6": 2, "q7": 1, "q8": 0, "q9": 1}
    screen(patient, nurse_actor, hours_ago=0, answers=flagged)
    assert "safety flag" in _checklist_errors(checked_in, nurse_actor)["suicide_risk_note"][0]
    checklist = services.checklist_complete(by=nurse_actor, session_id=checked_in.id, data={
        **CHECKLIST, "suicide_risk_note": "Passive thoughts, no plan or intent; safety plan reviewed; proceed."})
    assert "item 9 = 1" in checklist.suicide_screen_summary


def test_checklist_without_a_current_screen_is_refused(ready, library, stock, patient, site, room, nurse,
                                                       nurse_actor):
    # The only screens are the baseline ones entered just now, after this (late) checklist.
    session = book(patient, ready, site, room, nurse, with_screen=False)
    services.session_check_in(by=nurse_actor, session_id=session.id, at=ago(10))
    with pytest.raises(ValidationError) as exc:
        services.checklist_complete(by=nurse_actor, session_id=session.id, data=CHECKLIST, at=ago(9))
    assert "No suicide-risk screen" in exc.value.message_dict["suicide_risk_reviewed"][0]


def test_checklist_complete_records_baseline_vitals(checked_in, nurse_actor):
    checklist = services.checklist_complete(by=nurse_actor, session_id=checked_in.id, data=CHECKLIST)
    assert checklist.baseline_vitals.systolic == 128
    assert checklist.items == {"nasal-steroid-decongestant": True, "rems-enrolled": True}
    assert checklist.consent_version == "v1"


# --- verification ---------------------------------------------------------------------------


@pytest.fixture
def prepared(im_session, nurse_actor, prescriber_actor, stock):
    session = to_order(im_session, nurse_actor)
    services.dose_order_sign(by=prescriber_actor, session_id=session.id, password=PASSWORD)
    services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=stock["50"].id)
    return session


VERIFY = {"drug_confirmed": True, "concentration_seen": "50", "amount_seen": "0.68", "dose_mg_seen": "34"}


def test_verify_by_the_preparer_is_refused(prepared, nurse_actor, patient):
    with pytest.raises(ValidationError, match="cannot verify it"):
        services.dose_verify(by=nurse_actor, session_id=prepared.id, date_of_birth_seen=patient.date_of_birth, **VERIFY)


@pytest.mark.parametrize(("field", "value"), [("concentration_seen", "100"), ("amount_seen", "6.8"),
                                              ("dose_mg_seen", "340"), ("drug_confirmed", False)])
def test_verify_mismatch_is_refused(prepared, second_nurse_actor, patient, field, value):
    with pytest.raises(ValidationError) as exc:
        services.dose_verify(by=second_nurse_actor, session_id=prepared.id, date_of_birth_seen=patient.date_of_birth,
                             **{**VERIFY, field: value})
    assert field in exc.value.message_dict


def test_verify_wrong_patient_is_refused(prepared, second_nurse_actor):
    with pytest.raises(ValidationError, match="Does not match this patient"):
        services.dose_verify(by=second_nurse_actor, session_id=prepared.id,
                             date_of_birth_seen=timezone.localdate().replace(year=1970), **VERIFY)


def test_administration_before_verification_is_refused(prepared, nurse_actor):
    with pytest.raises(ValidationError, match="verified by a second clinician"):
        services.administration_record(by=nurse_actor, session_id=prepared.id, kind="given")
    assert not LedgerEntry.objects.filter(dosing_session=prepared).exists()


# --- administration and the ledger ---------------------------------------------------------


@pytest.fixture
def verified(prepared, second_nurse_actor, patient):
    services.dose_verify(by=second_nurse_actor, session_id=prepared.id, date_of_birth_seen=patient.date_of_birth,
                         **VERIFY)
    return prepared


def test_administration_writes_the_ledger_in_the_same_transaction(verified, nurse_actor, stock):
    before = LotBalance.objects.get(lot=stock["50"]).units
    event = services.administration_record(by=nurse_actor, session_id=verified.id, kind="given")
    entry = event.ledger_entry
    assert (entry.kind, entry.units, entry.mg, entry.dosing_session_id) == ("administration", Decimal("0.68"),
                                                                           Decimal(34), verified.id)
    assert LotBalance.objects.get(lot=stock["50"]).units == before - Decimal("0.68")
    verified.refresh_from_db()
    assert verified.status == DosingSession.Status.MONITORING


def test_administration_rollback_leaves_neither_record(verified, nurse_actor, monkeypatch, stock):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(AdministrationEvent.objects, "create", broken)
    before = LotBalance.objects.get(lot=stock["50"]).units
    with pytest.raises(RuntimeError):
        services.administration_record(by=nurse_actor, session_id=verified.id, kind="given")
    assert not LedgerEntry.objects.filter(dosing_session=verified).exists()
    assert LotBalance.objects.get(lot=stock["50"]).units == before
    verified.refresh_from_db()
    assert verified.status == DosingSession.Status.CHECKED_IN


def test_administration_the_ledger_refuses_changes_nothing(verified, nurse_actor, stock):
    LotBalance.objects.filter(lot=stock["50"]).update(units=Decimal("0.5"), mg=Decimal(25))
    with pytest.raises(ValidationError):
        services.administration_record(by=nurse_actor, session_id=verified.id, kind="given")
    assert not AdministrationEvent.objects.filter(session=verified).exists()
    verified.refresh_from_db()
    assert verified.status == DosingSession.Status.CHECKED_IN


def test_esketamine_devices_need_five_minute_rests(esk_session, nurse_actor, second_nurse_actor, prescriber_actor,
                                                   stock, patient):
    session = to_order(esk_session, nurse_actor, minutes_ago=30)
    services.dose_order_sign(by=prescriber_actor, session_id=session.id, password=PASSWORD, at=ago(28))
    services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=stock["device"].id, at=ago(27))
    services.dose_verify(by=second_nurse_actor, session_id=session.id, drug_confirmed=True, concentration_seen="28",
                         amount_seen="2", dose_mg_seen="56", date_of_birth_seen=patient.date_of_birth, at=ago(26))
    services.administration_record(by=nurse_actor, session_id=session.id, kind="device", at=ago(20))
    with pytest.raises(ValidationError, match="5-minute rest between devices"):
        services.administration_record(by=nurse_actor, session_id=session.id, kind="device", at=ago(17))
    assert LedgerEntry.objects.filter(dosing_session=session, kind="administration").count() == 1
    second = services.administration_record(by=nurse_actor, session_id=session.id, kind="device", at=ago(15))
    assert second.device_number == 2
    session.refresh_from_db()
    assert session.status == DosingSession.Status.MONITORING
    assert session.administration_ended_at == second.at


def test_esketamine_stop_wastes_the_remaining_device_with_a_witness(esk_session, nurse_actor, second_nurse_actor,
                                                                    second_nurse, prescriber_actor, stock, patient):
    session = to_order(esk_session, nurse_actor, minutes_ago=30)
    services.dose_order_sign(by=prescriber_actor, session_id=session.id, password=PASSWORD, at=ago(28))
    services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=stock["device"].id, at=ago(27))
    services.dose_verify(by=second_nurse_actor, session_id=session.id, drug_confirmed=True, concentration_seen="28",
                         amount_seen="2", dose_mg_seen="56", date_of_birth_seen=patient.date_of_birth, at=ago(26))
    services.administration_record(by=nurse_actor, session_id=session.id, kind="device", at=ago(20))
    with pytest.raises(ValidationError):
        services.administration_record(by=nurse_actor, session_id=session.id, kind="stop", reason="Nausea",
                                       witness_id=second_nurse.id, witness_password="wrong")
    assert not LedgerEntry.objects.filter(dosing_session=session, kind="waste").exists()
    stop = services.administration_record(by=nurse_actor, session_id=session.id, kind="stop", reason="Nausea",
                                          witness_id=second_nurse.id, witness_password=PASSWORD)
    assert stop.waste_entry.units == 1
    assert stop.waste_entry.witness == second_nurse


@pytest.fixture
def iv_verified(ready, library, stock, patient, site, room, nurse, prescriber, admin, therapist, org, as_actor,
                nurse_actor, prescriber_actor, second_nurse_actor):
    from tests.dosing.conftest import switch_to_route

    switch_to_route(patient, prescriber=prescriber, admin=admin, therapist=therapist, org=org, as_actor=as_actor,
                    route="iv_infusion", protocol_id="iv-ketamine-infusion")
    session = to_order(book(patient, ready, site, room, nurse), nurse_actor, minutes_ago=60)
    services.dose_order_sign(by=prescriber_actor, session_id=session.id, password=PASSWORD, at=ago(58))
    prep = services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=stock["10"].id, at=ago(57))
    services.dose_verify(by=second_nurse_actor, session_id=session.id, drug_confirmed=True, concentration_seen="10",
                         amount_seen=prep.amount, dose_mg_seen="34", date_of_birth_seen=patient.date_of_birth,
                         at=ago(56))
    return session


def test_iv_infusion_rate_change_pause_and_early_stop(iv_verified, nurse_actor, second_nurse, stock):
    s = iv_verified
    start = services.administration_record(by=nurse_actor, session_id=s.id, kind="infusion_start", at=ago(50))
    assert start.rate_ml_per_h == Decimal("150.00")  # 100 mL over 40 min
    with pytest.raises(ValidationError) as exc:
        services.administration_record(by=nurse_actor, session_id=s.id, kind="rate_change", rate_ml_per_h="100",
                                       at=ago(45))
    assert "reason" in exc.value.message_dict
    services.administration_record(by=nurse_actor, session_id=s.id, kind="rate_change", rate_ml_per_h="100",
                                   reason="Dizziness", at=ago(45))
    services.administration_record(by=nurse_actor, session_id=s.id, kind="pause", reason="BP 182/104", at=ago(40))
    services.administration_record(by=nurse_actor, session_id=s.id, kind="resume", at=ago(35))
    stop = services.administration_record(by=nurse_actor, session_id=s.id, kind="stop", infused_volume_ml="50",
                                          reason="Emergence anxiety", witness_id=second_nurse.id,
                                          witness_password=PASSWORD, at=ago(30))
    # 3.4 mL of drug in 100 mL: half infused is 1.7 mL given and 1.7 mL wasted, witnessed.
    assert (stop.ledger_entry.units, stop.waste_entry.units) == (Decimal("1.7"), Decimal("1.7"))
    s.refresh_from_db()
    assert s.status == DosingSession.Status.MONITORING


# --- monitoring ------------------------------------------------------------------------------


@pytest.fixture
def monitoring(im_session, nurse_actor, second_nurse_actor, prescriber_actor, stock):
    return run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                             prescriber_actor=prescriber_actor, lot=stock["50"])


@pytest.mark.parametrize(("reading", "field"), [({"systolic": 400, "diastolic": 90}, "systolic"),
                                                ({"systolic": 120, "diastolic": 130}, "diastolic"),
                                                ({"spo2": 101}, "spo2"), ({"heart_rate": 0}, "heart_rate"),
                                                ({"systolic": 120}, "diastolic")])
def test_vitals_outside_physiology_are_refused(monitoring, nurse_actor, reading, field):
    count = VitalSigns.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.vitals_record(by=nurse_actor, session_id=monitoring.id, **reading)
    assert field in exc.value.message_dict
    assert VitalSigns.objects.count() == count


def test_vitals_alarm_needs_acknowledgement_with_an_action(monitoring, nurse_actor):
    _v, alarms = services.vitals_record(by=nurse_actor, session_id=monitoring.id, systolic=186, diastolic=112,
                                        heart_rate=80, spo2=90, respiratory_rate=14)
    assert {a.code for a in alarms} == {"systolic_high", "diastolic_high", "spo2_low"}
    assert {a.severity for a in alarms} == {"warning", "critical"}
    spo2 = next(a for a in alarms if a.code == "spo2_low")
    with pytest.raises(ValidationError):
        services.alarm_acknowledge(by=nurse_actor, alarm_id=spo2.id, action="other")
    services.alarm_acknowledge(by=nurse_actor, alarm_id=spo2.id, action="airway_support",
                               note="Chin lift, 2 L O2; SpO2 97%.")
    assert Alarm.objects.filter(session=monitoring, acknowledged_at__isnull=True).count() == 2


def test_observation_cadss_is_a_staff_entered_measures_response(monitoring, nurse_actor, nurse):
    obs = services.observation_record(by=nurse_actor, session_id=monitoring.id, moaas=4, respiration_normal=True,
                                      cadss_answers={f"q{i}": 2 for i in range(1, 7)})
    assert obs.cadss_total == 12
    assert (obs.cadss_response.instrument_id, obs.cadss_response.entered_by) == ("cadss6", nurse)
    with pytest.raises(ValidationError):
        services.observation_record(by=nurse_actor, session_id=monitoring.id, moaas=7)
    assert Observation.objects.filter(session=monitoring).count() == 1


def test_adverse_event_validation_and_record(monitoring, nurse_actor):
    with pytest.raises(ValidationError) as exc:
        services.adverse_event_record(by=nurse_actor, session_id=monitoring.id, code="other", severity="mild",
                                      outcome="resolved", serious=False, antiemetic_drug="Ondansetron")
    assert {"description", "antiemetic_drug"} <= set(exc.value.message_dict)
    event = services.adverse_event_record(
        by=nurse_actor, session_id=monitoring.id, code="vomiting", severity="moderate", outcome="resolved",
        serious=False, onset_at=ago(100), action_taken="Antiemetic, sips of water.", antiemetic_drug="Ondansetron ODT",
        antiemetic_dose="4 mg", antiemetic_at=ago(98))
    assert event.label == "Vomiting"


# --- discharge -----------------------------------------------------------------------------


def test_discharge_is_blocked_with_every_reason(im_session, nurse_actor, second_nurse_actor, prescriber_actor, stock):
    session = run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                                prescriber_actor=prescriber_actor, lot=stock["50"], start_minutes_ago=40)
    services.vitals_record(by=nurse_actor, session_id=session.id, systolic=184, diastolic=100, heart_rate=90,
                           spo2=97, respiratory_rate=16)
    with pytest.raises(services.DischargeBlocked) as exc:
        services.session_discharge(by=nurse_actor, session_id=session.id, password=PASSWORD,
                                   **{**DISCHARGE, "ambulating": False})
    text = " ".join(exc.value.reasons)
    assert "Minimum monitoring time not reached" in text
    assert "not back within limits" in text
    assert "walking without help" in text
    assert "not yet acknowledged" in text
    session.refresh_from_db()
    assert session.status == DosingSession.Status.MONITORING


def test_discharge_signed_assigns_meq30_and_ebi(monitoring, nurse_actor, patient):
    services.vitals_record(by=nurse_actor, session_id=monitoring.id, **NORMAL)
    with pytest.raises(ValidationError, match="password"):
        services.session_discharge(by=nurse_actor, session_id=monitoring.id, password="x", **DISCHARGE)
    discharge = services.session_discharge(by=nurse_actor, session_id=monitoring.id, password=PASSWORD, **DISCHARGE)
    assert discharge.escort_name == "Ana Lindqvist"
    assert "next day after a restful sleep" in discharge.aftercare_instructions
    assert set(MeasureAssignment.objects.filter(patient=patient, instrument_id__in=["meq30", "ebi"])
               .values_list("instrument_id", flat=True)) == {"meq30", "ebi"}
    assert not RemsForm.objects.filter(session=monitoring).exists()


def test_esketamine_discharge_fills_the_rems_form_and_a_task_reminds(esk_session, nurse_actor, second_nurse_actor,
                                                                     prescriber_actor, stock):
    s = run_to_monitoring(esk_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                          prescriber_actor=prescriber_actor, lot=stock["device"])
    services.vitals_record(by=nurse_actor, session_id=s.id, systolic=150, diastolic=92, heart_rate=80, spo2=95,
                           respiratory_rate=15, at=ago(130))
    services.observation_record(by=nurse_actor, session_id=s.id, moaas=4, at=ago(129))
    services.vitals_record(by=nurse_actor, session_id=s.id, **NORMAL)
    services.session_discharge(by=nurse_actor, session_id=s.id, password=PASSWORD, **DISCHARGE)
    form = RemsForm.objects.get(session=s)
    s.refresh_from_db()
    assert (form.bp_pre, form.bp_40, form.bp_discharge) == ("128/80", "150/92", "126/80")
    assert (form.dose_mg, form.devices, form.sedation, form.lowest_spo2) == (56, 2, "yes", 95)
    assert form.task.kind == services.REMS_TASK_KIND
    assert form.task.due_at == s.discharged_at + timedelta(days=7)
    with pytest.raises(ValidationError, match="REMS ID"):
        services.rems_form_submit(by=nurse_actor, session_id=s.id, submission_reference="R-1")
    services.rems_form_update(by=nurse_actor, session_id=s.id,
                              data={"rems_patient_id": "P123456", "setting_rems_id": "S987"})
    services.rems_form_submit(by=nurse_actor, session_id=s.id, submission_reference="R-1")
    assert Task.objects.get(pk=form.task_id).resolved_at is not None


# --- ending without a dose --------------------------------------------------------------------


def test_end_without_dose_wastes_a_drawn_dose_with_a_witness(prepared, nurse_actor, second_nurse, stock):
    with pytest.raises(ValidationError):
        services.session_end_without_dose(by=nurse_actor, session_id=prepared.id, reason="BP 190/115 twice")
    session = services.session_end_without_dose(by=nurse_actor, session_id=prepared.id, reason="BP 190/115 twice",
                                                witness_id=second_nurse.id, witness_password=PASSWORD)
    assert session.status == DosingSession.Status.NOT_DOSED
    waste = LedgerEntry.objects.get(dosing_session=session, kind="waste")
    assert (waste.units, waste.witness) == (Decimal("0.68"), second_nurse)


# --- audit ------------------------------------------------------------------------------------


def test_every_step_is_audited(monitoring, nurse_actor, patient):
    services.vitals_record(by=nurse_actor, session_id=monitoring.id, **NORMAL)
    services.session_discharge(by=nurse_actor, session_id=monitoring.id, password=PASSWORD, **DISCHARGE)
    kinds = set(AuditEvent.objects.filter(patient_id=patient.id).values_list("object_type", flat=True))
    assert {"dosing_session", "pre_dose_checklist", "dose_order", "dose_preparation", "dose_verification",
            "administration_event", "ledger_entry", "vital_signs", "dosing_discharge"} <= kinds
