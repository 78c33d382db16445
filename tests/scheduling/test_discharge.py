"""The step that closes a dosing session the patient came to completes the appointment
it was booked with, in that step's transaction: the signed discharge, or the end of a
session before any dose (the patient attended: not a cancellation, not a no-show). The
session is run through the dosing services on a clinic set up by the dosing tests' own
fixtures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from openkap.audit.models import AuditAction, AuditEvent
from openkap.dosing import services as dosing_services
from openkap.dosing.models import DosingSession
from openkap.dosing.services import discharge as dosing_discharge
from openkap.scheduling import services
from openkap.scheduling.models import Appointment
from openkap.scheduling.selectors import Attendance, attendance
from openkap.scheduling.services import status as scheduling_status
from tests.conftest import PASSWORD
from tests.dosing import conftest as dosing_fixtures
from tests.dosing.conftest import DISCHARGE, NORMAL, ago, run_to_monitoring, screen

pytestmark = pytest.mark.usefixtures("daytime_clinic")  # sessions charted earlier today

# The dosing tests' fixtures, used here as they are.
ready = dosing_fixtures.ready
library = dosing_fixtures.library
stock = dosing_fixtures.stock
nurse_actor = dosing_fixtures.nurse_actor
second_nurse = dosing_fixtures.second_nurse
second_nurse_actor = dosing_fixtures.second_nurse_actor
prescriber_actor = dosing_fixtures.prescriber_actor


@pytest.fixture
def monitoring(ready, library, stock, patient, room, therapist, nurse, org, as_actor, nurse_actor,
               second_nurse_actor, prescriber_actor):
    """An esketamine session booked in the calendar this morning, now in monitoring and
    ready for discharge."""
    appointment = services._book(
        by=as_actor(therapist, org), patient_id=patient.id, kind="dosing", start=timezone.now() - timedelta(minutes=190),
        room_id=room.id, participants=[(nurse.id, "monitor"), (therapist.id, "support")], allow_past=True,
    )
    screen(patient, nurse_actor, session=appointment.dosing_session)
    session = run_to_monitoring(appointment.dosing_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                                prescriber_actor=prescriber_actor, lot=stock["device"])
    dosing_services.vitals_record(by=nurse_actor, session_id=session.id, systolic=150, diastolic=92, heart_rate=80,
                                  spo2=95, respiratory_rate=15, at=ago(130))
    dosing_services.observation_record(by=nurse_actor, session_id=session.id, moaas=4, at=ago(129))
    dosing_services.vitals_record(by=nurse_actor, session_id=session.id, **NORMAL)
    return appointment, session


def test_the_discharge_completes_the_appointment_and_audits_it(monitoring, nurse, nurse_actor, patient):
    appointment, session = monitoring
    dosing_services.session_discharge(by=nurse_actor, session_id=session.id, password=PASSWORD, **DISCHARGE)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.COMPLETED
    assert appointment.status_changed_by_id == nurse.id
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_type="appointment", object_id=str(appointment.id))
    assert event.detail == {"status": "completed", "dosing_session_id": session.id, "on": "discharge"}
    assert (event.actor_id, event.patient_id) == (nurse.id, patient.id)


def test_a_discharge_that_rolls_back_leaves_the_appointment_booked(monitoring, nurse_actor, monkeypatch):
    appointment, session = monitoring

    def broken(by, session):
        raise RuntimeError("the measures could not be assigned")

    # A step of the discharge after the appointment is completed fails: all of it rolls back.
    monkeypatch.setattr(dosing_discharge, "_assign_experience_measures", broken)
    with pytest.raises(RuntimeError):
        dosing_services.session_discharge(by=nurse_actor, session_id=session.id, password=PASSWORD, **DISCHARGE)
    appointment.refresh_from_db()
    assert (appointment.status, appointment.status_changed_at, appointment.sequence) == (Appointment.Status.BOOKED, None, 0)
    assert DosingSession.objects.get(pk=session.pk).status == DosingSession.Status.MONITORING
    assert not AuditEvent.objects.filter(action=AuditAction.UPDATE, object_type="appointment").exists()


def test_an_appointment_already_completed_by_hand_stays_as_it_was(monitoring, therapist, org, as_actor, nurse_actor):
    appointment, session = monitoring
    services.appointment_complete(by=as_actor(therapist, org), appointment_id=appointment.id)
    dosing_services.session_discharge(by=nurse_actor, session_id=session.id, password=PASSWORD, **DISCHARGE)
    appointment.refresh_from_db()
    assert (appointment.status, appointment.status_changed_by_id) == (Appointment.Status.COMPLETED, therapist.id)


@pytest.fixture
def checked_in(ready, library, stock, patient, room, therapist, nurse, org, as_actor, nurse_actor):
    """An esketamine session booked for half an hour ago; the patient has arrived."""
    screen(patient, nurse_actor)
    appointment = services._book(
        by=as_actor(therapist, org), patient_id=patient.id, kind="dosing", start=timezone.now() - timedelta(minutes=30),
        room_id=room.id, participants=[(nurse.id, "monitor")], allow_past=True,
    )
    session = dosing_services.session_check_in(by=nurse_actor, session_id=appointment.dosing_session_id)
    return appointment, session


def test_a_session_ended_before_any_dose_completes_its_appointment_and_audits_it(checked_in, nurse, nurse_actor, patient):
    appointment, session = checked_in
    dosing_services.session_end_without_dose(by=nurse_actor, session_id=session.id,
                                             reason="BP 192/114 twice, 10 minutes apart; rebooked.")
    appointment.refresh_from_db()
    assert DosingSession.objects.get(pk=session.pk).status == DosingSession.Status.NOT_DOSED
    assert (appointment.status, appointment.status_changed_by_id) == (Appointment.Status.COMPLETED, nurse.id)
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_type="appointment", object_id=str(appointment.id))
    assert event.detail == {"status": "completed", "dosing_session_id": session.id, "on": "ended_without_dose"}
    assert (event.actor_id, event.patient_id) == (nurse.id, patient.id)
    # The patient came: counted as attended, not as a cancellation or a no-show.
    assert attendance(patient.id) == Attendance(no_shows=0, cancellations=0, late_cancellations=0, completed=1)


def test_an_end_without_a_dose_that_rolls_back_leaves_the_appointment_booked(checked_in, nurse_actor, monkeypatch):
    appointment, session = checked_in

    def audit_log_down(**kwargs):
        raise RuntimeError("the audit log could not be written")

    # The appointment's audit row fails after its status is set: all of the step rolls back.
    monkeypatch.setattr(scheduling_status, "audit_record", audit_log_down)
    with pytest.raises(RuntimeError):
        dosing_services.session_end_without_dose(by=nurse_actor, session_id=session.id, reason="Patient unwell.")
    appointment.refresh_from_db()
    assert (appointment.status, appointment.status_changed_at, appointment.sequence) == (Appointment.Status.BOOKED, None, 0)
    assert DosingSession.objects.get(pk=session.pk).status == DosingSession.Status.CHECKED_IN
    assert not AuditEvent.objects.filter(object_type="dosing_session", detail__step="ended_without_dose").exists()


def test_an_end_without_a_dose_leaves_an_appointment_completed_by_hand_as_it_was(checked_in, therapist, org, as_actor,
                                                                                   nurse_actor):
    appointment, session = checked_in
    services.appointment_complete(by=as_actor(therapist, org), appointment_id=appointment.id)
    dosing_services.session_end_without_dose(by=nurse_actor, session_id=session.id, reason="Patient declined today.")
    appointment.refresh_from_db()
    assert (appointment.status, appointment.status_changed_by_id) == (Appointment.Status.COMPLETED, therapist.id)
