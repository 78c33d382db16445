"""The patient's preferred language (issue 17, item 6): stored on the record, chosen in
the portal, and followed by the portal, questionnaires and emails; staff pages stay English."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from openkap.audit.models import AuditEvent
from openkap.measures import services
from openkap.measures.models import MeasureAssignment, MeasureDraft
from openkap.patients import services as patient_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def phq9(episode):
    services.sync_schedule(episode, by=None)
    return MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="phq9")


def test_patient_chooses_spanish_in_the_portal_and_it_is_kept_on_the_record(portal_user, patient, client_for):
    client = client_for(portal_user)
    assert '<html lang="en">' in client.get("/").content.decode()
    response = client.post("/language/", {"language": "es", "next": "/portal/care/"})
    assert response.status_code == 302
    assert response["Location"] == "/portal/care/"
    patient.refresh_from_db()
    assert patient.preferred_language == "es"
    event = AuditEvent.objects.filter(object_type="patient", object_id=str(patient.id)).latest("id")
    assert event.detail == {"fields": ["preferred_language"]}
    # The record decides, not the browser.
    home = client_for(portal_user).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="es">' in home
    assert "Le damos la bienvenida" in home


def test_a_bad_language_changes_nothing(portal_user, patient, client_for):
    client_for(portal_user).post("/language/", {"language": "fr", "next": "/"})
    patient.refresh_from_db()
    assert patient.preferred_language == "en"


def test_staff_pages_stay_english_whatever_the_browser_asks(therapist, client_for):
    html = client_for(therapist).get("/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="en">' in html
    assert "Sign out" in html


def test_phq9_in_spanish_scores_the_same(portal_user, patient, phq9, client_for):
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    client = client_for(portal_user)
    url = f"/portal/questionnaires/{phq9.id}/"
    page = client.get(url).content.decode()
    assert "Pregunta 1 de 9" in page
    assert "Poco interés o placer en hacer cosas" in page
    assert "Ningún día" in page
    assert "Not at all" not in page
    refused = client.post(url, {"step": "q1", "action": "next"})
    assert "Elija una respuesta para continuar." in refused.content.decode()
    client.post(url, {"step": "q1", "answer": "2", "action": "next"})
    # The draft holds the value, not the words: scoring does not depend on the language.
    assert MeasureDraft.objects.get(assignment=phq9).answers == {"q1": 2}


def test_an_instrument_without_a_validated_translation_says_it_is_in_english(portal_user, patient, episode, client_for):
    services.sync_schedule(episode, by=None)
    other = MeasureAssignment.objects.get(episode=episode, instrument_id="auditc")
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    page = client_for(portal_user).get(f"/portal/questionnaires/{other.id}/").content.decode()
    assert "Este cuestionario se muestra en inglés" in page


def test_emails_follow_the_patient_language(patient, therapist, org, as_actor, phq9,
                                           django_capture_on_commit_callbacks):
    patient.preferred_language = "es"
    patient.email = "maya@example.org"
    patient.save(update_fields=["preferred_language", "email"])
    by = as_actor(therapist, org)
    with django_capture_on_commit_callbacks(execute=True):
        patient_services.portal_invite(by=by, patient_id=patient.id, email="maya@example.org")
        services.link_create(by=by, assignment_id=phq9.id, send_email=True)
    invitation, link = mail.outbox
    assert invitation.subject == f"Su portal del paciente en {org.name}"
    assert invitation.body.startswith("Hola, ")
    assert link.subject == f"Un cuestionario de {org.name}"
    assert "El enlace funciona una sola vez" in link.body


def test_the_single_use_link_speaks_the_patient_language(patient, therapist, org, as_actor, phq9):
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    _link, raw = services.link_create(by=as_actor(therapist, org), assignment_id=phq9.id)
    page = Client().get(f"/q/{raw}/").content.decode()
    assert "Pensamientos de que estaría mejor muerto(a)" not in page  # one question per screen: item 1 first
    assert "Poco interés o placer en hacer cosas" in page
    assert '<html lang="es">' in page


def test_staff_record_the_language_through_the_api_and_the_web_form(therapist, org, as_actor, patient, client_for):
    import json

    from openkap.accounts import services as account_services

    token = account_services.api_token_create(by=as_actor(therapist, org), name="t")[1]

    def call(method, path, body):
        return Client().generic(method, path, data=json.dumps(body), content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {token}")

    created = call("POST", "/api/v1/patients", {"legal_given_name": "Lucía", "legal_family_name": "Ortega",
                                                 "date_of_birth": "1985-03-01", "sex_at_birth": "female",
                                                 "preferred_language": "es"})
    assert created.status_code == 201
    assert created.json()["preferred_language"] == "es"
    refused = call("PATCH", f"/api/v1/patients/{created.json()['id']}", {"preferred_language": "fr"})
    assert refused.status_code == 422
    assert call("GET", f"/api/v1/patients/{created.json()['id']}", {}).json()["preferred_language"] == "es"
    from openkap.patients.services import patient_update

    patient_update(by=as_actor(therapist, org), patient_id=patient.id, data={"preferred_language": "es"})
    patient.refresh_from_db()
    assert patient.preferred_language == "es"
    with pytest.raises(Exception, match="English or Spanish"):
        patient_update(by=as_actor(therapist, org), patient_id=patient.id, data={"preferred_language": "xx"})


def test_spanish_portal_names_the_occasion_and_due_state_in_spanish(portal_user, patient, phq9, client_for):
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    page = client_for(portal_user).get("/portal/questionnaires/").content.decode()
    assert "Medición inicial" in page
    # The fixture's episode opened weeks ago: its baseline is overdue.
    assert re.search(r'data-testid="due-words">Atrasado desde el (lunes|martes|miércoles|jueves|viernes|sábado|domingo) '
                     r"\d+ de (enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre)<",
                     page)
    assert "Baseline" not in page
    assert "Overdue" not in page


def test_staff_see_the_same_measure_in_english(therapist, patient, phq9, client_for):
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    page = client_for(therapist).get(f"/patients/{patient.id}/measures/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Baseline" in page
    assert "Overdue since" in page


def test_the_header_names_the_patient_s_role_in_their_language(portal_user, patient, client_for):
    from openkap.core.authz import ROLE_LABELS
    from openkap.web.context import ROLE_NAMES

    assert set(ROLE_NAMES) == set(ROLE_LABELS)
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    assert "· Paciente</span>" in client_for(portal_user).get("/").content.decode()
