"""The appointment letter handed to the patient (issue 17, item 6): in the patient's
language whoever prints it, with the instructions before a medicine session."""

from __future__ import annotations

import pytest
from django.urls import reverse

from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.authz import Role
from openkap.pathway import selectors as pathway_selectors
from openkap.pathway import services as pathway
from openkap.scheduling.models import Appointment
from tests.conftest import make_user
from tests.pathway.test_patient_documents import SPANISH_MONTHS, pdf_text
from tests.scheduling.conftest import at, dosing, prep


@pytest.fixture
def spanish(patient):
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    return patient


def _instructions(therapist, org, as_actor, patient):
    pathway.pre_session_instructions_set(
        by=as_actor(therapist, org), patient_id=patient.id, fasting="Nada de comer 4 horas antes.",
        medications_to_hold="Ninguno.", what_to_bring="Antifaz.",
    )


def test_spanish_letter_lists_appointments_and_the_instructions(spanish, book, therapist, nurse, therapy_room,
                                                               dosing_room, guards_met, org, as_actor,
                                                               client_for, tmp_path):
    _instructions(therapist, org, as_actor, spanish)
    book(therapist, **prep(spanish, therapy_room, therapist, at(1, 10)))
    session = book(therapist, **dosing(spanish, dosing_room, nurse, at(3, 9)))
    # The instructions copied onto the dosing appointment are in the patient's language.
    assert session.patient_instructions.startswith("Ayuno: Nada de comer 4 horas antes.")
    text = pdf_text(client_for(therapist).get(reverse("scheduling:patient_letter", args=[spanish.id])), tmp_path)
    assert "Sus citas" in text
    assert "Cuándo" in text
    assert "Sesión de preparación" in text
    assert "Sesión con el medicamento" in text
    assert "Profesional a cargo" in text
    assert "Profesional de monitoreo" in text
    assert "Antes de cada sesión con el medicamento" in text
    assert "Nada de comer 4 horas antes." in text
    assert SPANISH_MONTHS[at(3, 9).month - 1] in text
    assert "Dosing session" not in text
    assert "Fasting" not in text
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_type="appointment_letter_pdf")
    assert event.detail == {"language": "es"}


def test_english_letter_without_a_medicine_session_has_no_instructions(patient, book, therapist, therapy_room,
                                                                      org, client_for, tmp_path):
    book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.save(update_fields=["user"])
    text = pdf_text(client_for(user).get(reverse("scheduling:portal_letter")), tmp_path)
    assert "Your appointments" in text
    assert "Preparation session" in text
    assert "Before each medicine session" not in text


def test_cancelled_and_past_appointments_are_left_out_and_none_is_a_404(patient, book, therapist, therapy_room,
                                                                       client_for, org, as_actor):
    from openkap.scheduling import services

    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    services.appointment_cancel(by=as_actor(therapist, org), appointment_id=a.id, reason="Patient unwell.")
    assert Appointment.objects.get().status == Appointment.Status.CANCELLED
    response = client_for(therapist).get(reverse("scheduling:patient_letter", args=[patient.id]))
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_letter_follows_the_chart_s_permissions(patient, unassigned_patient, book, therapist, nurse, therapy_room,
                                                outsider, client_for):
    book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    assert client_for(outsider).get(reverse("scheduling:patient_letter", args=[patient.id])).status_code == 404
    book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(2, 10)))
    response = client_for(therapist).get(reverse("scheduling:patient_letter", args=[unassigned_patient.id]))
    assert response.status_code == 403
    assert client_for(therapist).get(reverse("scheduling:portal_letter")).status_code == 403


def test_pre_session_instructions_text_follows_the_active_language(spanish, guards_met, therapist, org, as_actor):
    from django.utils import translation

    _instructions(therapist, org, as_actor, spanish)
    instructions = pathway_selectors.pre_session_instructions(guards_met)
    with translation.override("en"):
        assert instructions.as_text().splitlines()[0] == "Fasting: Nada de comer 4 horas antes."
    with translation.override("es"):
        assert instructions.as_text().splitlines()[0] == "Ayuno: Nada de comer 4 horas antes."
