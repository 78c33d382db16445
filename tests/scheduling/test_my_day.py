"""The Today page lists the clinician's own appointments of the day, audited."""

from __future__ import annotations

import pytest

from openkap.audit.models import AuditEvent
from openkap.scheduling.models import Appointment

pytestmark = pytest.mark.django_db


def test_today_lists_my_appointments_and_audits_the_names_shown(book, therapist, nurse, client_for, patient,
                                                                 unassigned_patient, therapy_room):
    from tests.scheduling.conftest import at, prep

    mine = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    other = book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(1, 14)))
    book(therapist, **prep(patient, therapy_room, therapist, at(2, 10)))
    # Earlier today, which booking refuses as past: moved in place.
    for a, hour in ((mine, 10), (other, 14)):
        Appointment.objects.filter(id=a.id).update(start=at(0, hour), end=at(0, hour + 1))
    page = client_for(therapist).get("/").content.decode()
    assert 'data-testid="my-day"' in page
    assert f"/schedule/appointments/{mine.id}/" in page
    assert patient.display_name in page
    assert unassigned_patient.display_name not in page
    assert page.count("/schedule/appointments/") == 1
    event = AuditEvent.objects.filter(actor_id=therapist.id, object_type="appointment_list").latest("id")
    assert event.detail["patient_ids"] == [patient.id]


def test_admin_today_has_no_day_card(admin, client_for):
    assert 'data-testid="my-day"' not in client_for(admin).get("/").content.decode()
