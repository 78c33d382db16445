"""Documents handed to the patient (issue 17, item 6): the consent they signed and their
safety plan print in the patient's language, whoever prints them, and only for those
who may read the chart."""

from __future__ import annotations

import subprocess

import pytest
from django.urls import reverse
from django.utils import timezone

from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.authz import Role
from openkap.core.pathway.plan import SAFETY_PLAN_SECTIONS
from openkap.pathway.documents import SAFETY_PLAN_LABELS
from openkap.pathway.models import ConsentSignature
from tests.conftest import make_user, require_tool
from tests.pathway.helpers import CONSENT_TEXT, SAFETY_PLAN

# Written out by hand, not taken from Django's locale data the code uses.
SPANISH_MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
                  "octubre", "noviembre", "diciembre"]


def pdf_text(response, tmp_path) -> str:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    path = tmp_path / "doc.pdf"
    path.write_bytes(response.content)
    pdftotext = require_tool("pdftotext", "poppler-utils")
    text = subprocess.run([pdftotext, str(path), "-"], capture_output=True, check=True, text=True).stdout
    return " ".join(text.split())


@pytest.fixture
def portal(patient, org, client_for):
    user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.save(update_fields=["user"])
    return client_for(user)


def _spanish(patient):
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])


def test_safety_plan_labels_cover_core_sections():
    assert set(SAFETY_PLAN_LABELS) == set(SAFETY_PLAN_SECTIONS)


def test_spanish_patient_downloads_the_safety_plan_in_spanish(walk_to, patient, portal, tmp_path):
    walk_to("ready")
    _spanish(patient)
    text = pdf_text(portal.get(reverse("pathway:portal_safety_plan_pdf")), tmp_path)
    assert "Mi plan de seguridad" in text
    assert "Señales de alerta" in text
    assert "Personas y lugares que ayudan" in text
    for written in SAFETY_PLAN.values():
        if written:
            assert " ".join(written.split()) in text  # the patient's own words, as written
    assert "Línea de Prevención del Suicidio y Crisis: llame o envíe un mensaje de texto al 988" in text
    assert SPANISH_MONTHS[timezone.localdate().month - 1] in text
    assert "Warning signs" not in text
    assert "Page" not in text
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_type="safety_plan_pdf")
    assert (event.patient_id, event.detail["language"]) == (patient.id, "es")


def test_english_patient_gets_english(walk_to, patient, portal, tmp_path):
    walk_to("ready")
    text = pdf_text(portal.get(reverse("pathway:portal_safety_plan_pdf")), tmp_path)
    assert "My safety plan" in text
    assert "Warning signs" in text
    assert "Señales" not in text


def test_clinician_prints_in_the_patient_s_language_and_keeps_english_pages(walk_to, patient, therapist,
                                                                            client_for, tmp_path):
    walk_to("ready")
    _spanish(patient)
    client = client_for(therapist)
    text = pdf_text(client.get(reverse("pathway:safety_plan_pdf", args=[patient.id])), tmp_path)
    assert "Mi plan de seguridad" in text
    page = client.get(reverse("pathway:preparation", args=[patient.id])).content.decode()
    assert "Coping and safety plan" in page
    assert "Print the plan for the patient" in page
    assert "PDF in Español" in page


def test_consent_copy_is_the_text_signed_with_its_fingerprint(walk_to, patient, portal, tmp_path):
    episode = walk_to("ready")
    _spanish(patient)
    signature = ConsentSignature.objects.get(episode=episode)
    text = pdf_text(portal.get(reverse("pathway:portal_consent_pdf")), tmp_path)
    assert "Su consentimiento firmado" in text
    assert " ".join(CONSENT_TEXT.split())[:120] in text
    assert signature.document_sha256 in text.replace(" ", "")
    assert f"Firmado escribiendo el nombre “{patient.legal_name}” en la clínica" in text


def test_withdrawn_consent_prints_the_withdrawal(walk_to, patient, portal, tmp_path, by_therapist):
    from openkap.pathway import services

    walk_to("ready")
    services.consent_withdraw(by=by_therapist, patient_id=patient.id, reason="Wants to think again.")
    text = pdf_text(portal.get(reverse("pathway:portal_consent_pdf")), tmp_path)
    assert "You withdrew this consent on" in text


def test_nothing_to_print_is_a_404_and_not_audited(patient, portal, therapist, client_for):
    assert portal.get(reverse("pathway:portal_safety_plan_pdf")).status_code == 404
    assert portal.get(reverse("pathway:portal_consent_pdf")).status_code == 404
    assert client_for(therapist).get(reverse("pathway:consent_pdf", args=[patient.id])).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_prints_follow_the_chart_s_permissions(walk_to, patient, unassigned_patient, other_patient, therapist,
                                               outsider, portal, client_for):
    walk_to("ready")
    assert client_for(outsider).get(reverse("pathway:safety_plan_pdf", args=[patient.id])).status_code == 404
    therapist_client = client_for(therapist)
    assert therapist_client.get(reverse("pathway:consent_pdf", args=[other_patient.id])).status_code == 404
    assert therapist_client.get(reverse("pathway:consent_pdf", args=[unassigned_patient.id])).status_code == 403
    # A patient has no way to name another chart, and staff cannot use the portal's address.
    assert portal.get(reverse("pathway:consent_pdf", args=[patient.id])).status_code in (403, 404)
    assert therapist_client.get(reverse("pathway:portal_consent_pdf")).status_code == 403
    assert therapist_client.post(reverse("pathway:portal_consent_pdf")).status_code == 405


def test_spanish_care_page_names_the_safety_plan_sections_and_crisis_line_in_spanish(walk_to, patient, portal):
    walk_to("ready")
    _spanish(patient)
    page = portal.get(reverse("pathway:portal_care")).content.decode()
    assert "Señales de alerta" in page
    assert "Warning signs" not in page
    assert "Línea de Prevención del Suicidio y Crisis" in page
    assert reverse("pathway:portal_safety_plan_pdf") in page
    assert reverse("pathway:portal_consent_pdf") in page
    response = portal.post(reverse("pathway:portal_intention"), {"text": "Estar presente."}, follow=True)
    assert "Su intención está guardada." in response.content.decode()
