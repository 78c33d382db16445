import pytest
from django.urls import reverse
from django.utils.html import escape

from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.authz import Role
from openkap.scheduling import services
from openkap.scheduling.models import Appointment, CalendarFeed
from tests.conftest import make_user
from tests.scheduling.conftest import at


@pytest.fixture
def two_patients_booked(book, therapist, nurse, patient, unassigned_patient, therapy_room, dosing_room):
    mine = book(therapist, patient_id=patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
                participants=[(therapist.id, "lead")], patient_instructions="Bring your journal.")
    theirs = book(nurse, patient_id=unassigned_patient.id, kind="medical_review", start=at(1, 9), room_id=dosing_room.id,
                  participants=[(nurse.id, "lead")])
    return mine, theirs


def calendar_url(**params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{reverse('scheduling:calendar')}?{query}"


def test_day_calendar_names_only_the_care_teams_patients(two_patients_booked, therapist, client_for, patient, unassigned_patient, site):
    day = at(1, 0).date().isoformat()
    response = client_for(therapist).get(calendar_url(date=day, site=site.id))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Therapy room A" in html
    assert "Medicine room 1" in html
    assert patient.display_name in html
    assert unassigned_patient.legal_family_name not in html
    assert "Booked" in html
    event = AuditEvent.objects.filter(action=AuditAction.VIEW, object_type="calendar").latest("id")
    assert event.detail["patient_ids"] == [patient.id]


def test_nurse_sees_every_name_and_people_columns(two_patients_booked, nurse, client_for, patient, unassigned_patient, site):
    day = at(1, 0).date().isoformat()
    html = client_for(nurse).get(calendar_url(date=day, site=site.id, mode="people")).content.decode()
    assert patient.display_name in html
    assert unassigned_patient.display_name in html
    assert "Theo Therapist" in html
    assert "Nell Nurse" in html


def test_a_calendar_block_writes_its_times_kind_status_and_link(two_patients_booked, nurse, client_for, patient, site):
    """The block's values the selector writes once (ADR 0118): local times, the kind's and a
    status's label (none for a booked one), the appointment's address, each escaped."""
    mine, theirs = two_patients_booked
    Appointment.objects.filter(id=theirs.id).update(status=Appointment.Status.NO_SHOW)
    patient.legal_given_name = "Ann <b> & Co"
    patient.save(update_fields=["legal_given_name"])
    html = client_for(nurse).get(calendar_url(date=at(1, 0).date().isoformat(), site=site.id)).content.decode()
    name = escape(patient.display_name)
    assert f'<a href="{reverse("scheduling:appointment", args=[mine.id])}" class="cal-block kind-preparation status-booked"' in html
    assert f'title="10:00–11:00 {name} · Preparation session · Therapy room A · Theo Therapist">' in html
    assert '<span class="meta">10:00–11:00</span>' in html
    assert "<span class=\"meta\">09:00–09:30 · No-show</span>" in html
    assert "<b>" not in html.split('class="cal-grid"')[1]


def test_htmx_navigation_gets_the_calendar_partial(two_patients_booked, therapist, client_for):
    response = client_for(therapist).get(calendar_url(date=at(2, 0).date().isoformat()), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert 'class="cal-grid"' in html
    assert "← Previous" in html


def test_week_calendar_of_a_clinician(two_patients_booked, therapist, client_for, patient):
    html = client_for(therapist).get(calendar_url(date=at(1, 0).date().isoformat(), view="week")).content.decode()
    assert "Week of" in html
    assert patient.display_name in html


@pytest.mark.parametrize("query", ["date=2026-13-45", "date=0001-01-01&view=year&mode=x", "resource=room:99999999999999999999", "site=abc&resource=user:"])
def test_calendar_survives_odd_parameters(therapist, client_for, query, site):
    assert client_for(therapist).get(f"{reverse('scheduling:calendar')}?{query}").status_code == 200


def test_calendar_is_for_staff_with_the_permission(researcher, client_for, org):
    assert client_for(researcher).get(reverse("scheduling:calendar")).status_code == 403
    patient_user = make_user("p@test.org", "P", org, Role.PATIENT)
    assert client_for(patient_user).get(reverse("scheduling:calendar")).status_code == 403


def test_booking_form_books_and_goes_to_the_day(therapist, client_for, patient, therapy_room):
    response = client_for(therapist).post(reverse("scheduling:book"), {
        "patient": patient.id, "kind": "preparation", "location": f"room:{therapy_room.id}",
        "start": at(1, 10).strftime("%Y-%m-%dT%H:%M"), "lead": therapist.id, "patient_instructions": "Eat lightly.",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    a = Appointment.objects.get()
    assert a.patient_instructions == "Eat lightly."
    assert f"date={at(1, 0).date().isoformat()}" in response.url


def test_booking_form_shows_the_conflict_next_to_the_room(two_patients_booked, nurse, client_for, unassigned_patient, therapy_room):
    response = client_for(nurse).post(reverse("scheduling:book"), {
        "patient": unassigned_patient.id, "kind": "integration", "location": f"room:{therapy_room.id}",
        "start": at(1, 10, 30).strftime("%Y-%m-%dT%H:%M"), "lead": nurse.id,
    })
    assert response.status_code == 422
    html = response.content.decode()
    assert "Therapy room A is already booked" in html
    assert "appointment #" in html
    assert Appointment.objects.count() == 2


def test_booking_a_dosing_session_with_unmet_guards_lists_what_is_missing(therapist, nurse, client_for, patient, dosing_room, episode):
    response = client_for(therapist).post(reverse("scheduling:book"), {
        "patient": patient.id, "kind": "dosing", "location": f"room:{dosing_room.id}",
        "start": at(2, 9).strftime("%Y-%m-%dT%H:%M"), "monitor": nurse.id, "support": therapist.id,
    })
    assert response.status_code == 422
    html = response.content.decode()
    assert "Dosing session not booked" in html
    assert "Escort (driver) not arranged." in html
    assert "Nothing was booked or changed." in html
    assert not Appointment.objects.exists()


def test_booking_form_for_another_clinics_patient_is_404(outsider, client_for, patient):
    assert client_for(outsider).get(f"{reverse('scheduling:book')}?patient={patient.id}").status_code == 404


def test_patient_picker_lists_matching_patients(therapist, client_for, patient):
    html = client_for(therapist).get(reverse("scheduling:patient_picker") + "?q=lindq").content.decode()
    assert f'value="{patient.id}"' in html


def test_appointment_page_and_status_actions(book, therapist, client_for, patient, therapy_room):
    a = book(therapist, patient_id=patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
             participants=[(therapist.id, "lead")], patient_instructions="Bring your journal.")
    client = client_for(therapist)
    html = client.get(reverse("scheduling:appointment", args=[a.id])).content.decode()
    assert "Bring your journal." in html
    response = client.post(reverse("scheduling:no_show", args=[a.id]))
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.status == "booked"  # not started yet: refused with a message
    client.post(reverse("scheduling:cancel", args=[a.id]), {"reason": "Patient travelling", "by_patient": "on"})
    a.refresh_from_db()
    assert (a.status, a.cancelled_by_patient) == ("cancelled", True)


def test_appointment_of_a_patient_outside_the_care_team_is_403(book, nurse, therapist, client_for, unassigned_patient, therapy_room):
    a = book(nurse, patient_id=unassigned_patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
             participants=[(nurse.id, "lead")])
    assert client_for(therapist).get(reverse("scheduling:appointment", args=[a.id])).status_code == 403
    assert client_for(therapist).post(reverse("scheduling:cancel", args=[a.id]), {"reason": "x" * 10}).status_code == 403


def test_chart_tab_shows_no_shows_and_late_cancellations(book, therapist, client_for, patient, therapy_room, org, as_actor):
    from datetime import timedelta

    from django.utils import timezone

    actor = as_actor(therapist, org)
    earlier = services._book(by=actor, patient_id=patient.id, kind="integration", start=timezone.now() - timedelta(days=2),
                             room_id=therapy_room.id, participants=[(therapist.id, "lead")], allow_past=True)
    services.appointment_mark_no_show(by=actor, appointment_id=earlier.id)
    html = client_for(therapist).get(reverse("patients:chart", args=[patient.id])).content.decode()
    assert "Appointments" in html
    assert "1 no-show" in html
    tab = client_for(therapist).get(reverse("scheduling:patient_appointments", args=[patient.id])).content.decode()
    assert "No-show" in tab
    assert 'aria-current="page">Appointments' in tab


def test_patient_feed_address_is_shown_once(therapist, client_for, patient):
    client = client_for(therapist)
    response = client.post(reverse("scheduling:patient_feed", args=[patient.id]))
    assert "/calendar/okcal_" in response.content.decode()
    again = client.get(reverse("scheduling:patient_appointments", args=[patient.id])).content.decode()
    assert "/calendar/okcal_" not in again
    assert "Active since" in again
    client.post(reverse("scheduling:patient_feed", args=[patient.id]), {"action": "revoke"})
    assert not CalendarFeed.objects.filter(patient=patient, revoked_at__isnull=True).exists()


def test_my_feed_page(therapist, client_for):
    client = client_for(therapist)
    response = client.post(reverse("scheduling:my_feed"))
    assert "/calendar/okcal_" in response.content.decode()
    client.post(reverse("scheduling:my_feed"), {"action": "revoke"})
    assert "You have no calendar address" in client.get(reverse("scheduling:my_feed")).content.decode()


def test_admin_sets_appointment_lengths(admin, therapist, client_for):
    client = client_for(admin)
    assert client.post(reverse("scheduling:types"), {"kind": "integration", "minutes": "75"}).status_code == 302
    assert 'value="75"' in client.get(reverse("scheduling:types")).content.decode()
    assert client.post(reverse("scheduling:types"), {"kind": "integration", "minutes": "2"}).status_code == 422
    assert client_for(therapist).get(reverse("scheduling:types")).status_code == 403


# --- the patient portal ------------------------------------------------------------------------


@pytest.fixture
def portal_user(patient, org):
    user = make_user("maya@example.com", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.save()
    return user


def test_portal_shows_upcoming_appointments_with_instructions(two_patients_booked, portal_user, client_for, unassigned_patient):
    client = client_for(portal_user)
    html = client.get(reverse("scheduling:portal_appointments")).content.decode()
    assert "Bring your journal." in html
    assert "Preparation session" in html
    assert unassigned_patient.legal_family_name not in html
    home = client.get(reverse("web:home")).content.decode()
    assert "Your next appointments" in home
    assert AuditEvent.objects.filter(action=AuditAction.VIEW, object_type="appointments", detail__portal=True).exists()


def test_portal_calendar_address(portal_user, client_for, patient):
    client = client_for(portal_user)
    html = client.post(reverse("scheduling:portal_appointments")).content.decode()
    assert "/calendar/okcal_" in html
    client.post(reverse("scheduling:portal_appointments"), {"action": "revoke"})
    assert not CalendarFeed.objects.filter(patient=patient, revoked_at__isnull=True).exists()


def test_portal_is_for_patients_only(therapist, client_for):
    assert client_for(therapist).get(reverse("scheduling:portal_appointments")).status_code == 403


def test_calendar_opens_at_the_site_where_the_clinician_works_that_day(book, therapist, client_for, patient, org, site):
    from openkap.accounts.models import Room, Site

    other = Site.objects.create(organization=org, name="Albany North", address_line1="9 Elm St", city="Albany",
                                state="NY", postal_code="12203", dea_registration="AB1234563")
    room = Room.objects.create(organization=org, site=other, name="North therapy", kind="therapy")
    book(therapist, patient_id=patient.id, kind="preparation", start=at(1, 10), room_id=room.id,
         participants=[(therapist.id, "lead")])
    html = client_for(therapist).get(calendar_url(date=at(1, 0).date().isoformat())).content.decode()
    assert "· Albany North</h2>" in html
    html = client_for(therapist).get(calendar_url(date=at(2, 0).date().isoformat())).content.decode()
    assert "· Albany North</h2>" in html  # no appointment that day: the first site by name


# --- moving an appointment ------------------------------------------------------------------------


def test_the_appointment_page_offers_the_move_form_through_htmx(book, therapist, client_for, patient, therapy_room):
    a = book(therapist, patient_id=patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
             participants=[(therapist.id, "lead")])
    client = client_for(therapist)
    url = reverse("scheduling:reschedule", args=[a.id])
    page = client.get(reverse("scheduling:appointment", args=[a.id])).content.decode()
    assert f'hx-get="{url}"' in page
    fragment = client.get(url, HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert fragment.status_code == 200
    assert "<html" not in html
    assert f'value="{at(1, 10):%Y-%m-%dT%H:%M}"' in html
    assert 'name="minutes" value="60"' in html
    assert f'<option value="room:{therapy_room.id}" selected>' in html
    assert f'<option value="{therapist.id}" selected>' in html
    assert 'name="reason"' in html
    assert "<html" in client.get(url).content.decode()  # without htmx: a page of its own


def test_the_move_form_moves_and_the_page_shows_the_history(book, therapist, client_for, patient, therapy_room):
    a = book(therapist, patient_id=patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
             participants=[(therapist.id, "lead")])
    client = client_for(therapist)
    response = client.post(reverse("scheduling:reschedule", args=[a.id]), {
        "start": at(3, 15).strftime("%Y-%m-%dT%H:%M"), "minutes": 60, "location": f"room:{therapy_room.id}",
        "lead": therapist.id, "reason": "Her train was cancelled.",
    })
    assert response.status_code == 302
    assert response.url == reverse("scheduling:appointment", args=[a.id])
    a.refresh_from_db()
    assert (a.start, a.end) == (at(3, 15), at(3, 16))
    html = client.get(response.url).content.decode()
    assert "Her train was cancelled." in html
    assert "by Theo Therapist" in html
    assert f"{at(1, 10):%a} {at(1, 10).day} {at(1, 10):%b} 10:00" in html


def test_the_move_form_shows_the_dosing_guard_apart(book, therapist, nurse, client_for, patient, dosing_room, guards_met, monkeypatch):
    from openkap.pathway import selectors as pathway_selectors

    a = book(therapist, patient_id=patient.id, kind="dosing", start=at(2, 9), room_id=dosing_room.id,
             participants=[(nurse.id, "monitor")])
    monkeypatch.setattr(pathway_selectors, "dosing_booking_unmet", lambda ep: ["Escort (driver) not arranged."])
    response = client_for(therapist).post(reverse("scheduling:reschedule", args=[a.id]), {
        "start": at(4, 9).strftime("%Y-%m-%dT%H:%M"), "minutes": a.minutes, "location": f"room:{dosing_room.id}",
        "monitor": nurse.id, "reason": "Clinic closed.",
    })
    assert response.status_code == 422
    html = response.content.decode()
    assert "Not moved: the care pathway is not ready" in html
    assert "Escort (driver) not arranged." in html


def test_no_move_is_offered_once_the_dosing_session_has_begun(book, therapist, nurse, client_for, patient, dosing_room, guards_met):
    from openkap.dosing.models import DosingSession

    a = book(therapist, patient_id=patient.id, kind="dosing", start=at(2, 9), room_id=dosing_room.id,
             participants=[(nurse.id, "monitor")])
    DosingSession.objects.filter(pk=a.dosing_session_id).update(status=DosingSession.Status.CHECKED_IN)
    html = client_for(therapist).get(reverse("scheduling:appointment", args=[a.id])).content.decode()
    assert "Reschedule…" not in html


def test_moving_a_patient_outside_the_care_team_is_403(book, nurse, therapist, client_for, unassigned_patient, therapy_room):
    a = book(nurse, patient_id=unassigned_patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
             participants=[(nurse.id, "lead")])
    assert client_for(therapist).get(reverse("scheduling:reschedule", args=[a.id])).status_code == 403
    assert client_for(therapist).post(reverse("scheduling:reschedule", args=[a.id]), {"reason": "x" * 10}).status_code == 403
