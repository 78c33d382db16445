"""Every section of a chart shows the same tab strip, with the open section marked."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

SECTIONS = {
    "Overview": "patients:chart",
    "Appointments": "scheduling:patient_appointments",
    "Measures": "measures:patient",
    "Pathway": "pathway:overview",
    "Medicine sessions": "dosing:patient_sessions",
    "Outcomes": "outcomes:patient",
    "Psychotherapy notes": "pathway:psychotherapy_notes",
}


def _tabs(html: str) -> tuple[list[str], list[str]]:
    nav = re.search(r'<nav class="tabs" aria-label="Chart sections">(.*?)</nav>', html, re.S)
    assert nav, "no chart tab strip"
    links = re.findall(r"<a [^>]*>(.*?)</a>", nav.group(1), re.S)
    labels = [re.sub(r"<[^>]+>|\s+", " ", link).strip() for link in links]
    current = [label for link, label in zip(re.findall(r"<a [^>]*>", nav.group(1)), labels, strict=True)
               if "aria-current" in link]
    return labels, current


@pytest.mark.parametrize("label", list(SECTIONS))
def test_each_section_shows_every_tab_and_marks_itself(client_for, therapist, patient, label):
    response = client_for(therapist).get(reverse(SECTIONS[label], args=[patient.id]))
    assert response.status_code == 200
    labels, current = _tabs(response.content.decode())
    assert [lbl.split(" ")[0] for lbl in labels] == [s.split(" ")[0] for s in SECTIONS]
    assert len(current) == 1
    assert current[0].startswith(label)


def test_tabs_follow_the_roles_permissions(client_for, nurse, patient):
    labels, _ = _tabs(client_for(nurse).get(reverse("patients:chart", args=[patient.id])).content.decode())
    assert "Psychotherapy notes" not in labels
    assert "Medicine sessions" in labels


@pytest.mark.parametrize(("name", "object_type"), [("scheduling:patient_appointments", "appointments"),
                                                   ("outcomes:patient", "patient_outcomes")])
def test_a_tab_by_break_glass_shows_the_header_and_audits_its_read_once(
    name, object_type, client_for, therapist, admin, org, as_actor, unassigned_patient
):
    """The tab's own read is the audited one (flagged break-glass); its header (weight, care
    team) is built from the patient that read fetched, not from a second chart read."""
    from openkap.audit.models import AuditAction, AuditEvent
    from openkap.patients import services

    services.weight_record(by=as_actor(admin, org), patient_id=unassigned_patient.id, value="80.4", unit="kg")
    services.break_glass(by=as_actor(therapist, org), patient_id=unassigned_patient.id,
                         reason="Patient in crisis at front desk")
    before = AuditEvent.objects.filter(action=AuditAction.VIEW).count()
    html = client_for(therapist).get(reverse(name, args=[unassigned_patient.id])).content.decode()
    assert "Emergency (break-glass) access" in html
    assert unassigned_patient.mrn in html
    assert "80.40 kg" in html
    views = AuditEvent.objects.filter(action=AuditAction.VIEW).order_by("id")[before:]
    assert [(e.object_type, e.patient_id, e.break_glass) for e in views] == [
        (object_type, unassigned_patient.id, True)]
