"""The chart's Outcomes tab and its PDF."""

from __future__ import annotations

from datetime import date, timedelta

from openkap.audit.models import AuditEvent
from openkap.patients.models import CareTeamMember
from tests.outcomes.factories import add_patient, add_response

D0 = date(2025, 3, 3)


def _patient(org, site, prescriber):
    p = add_patient(org, site, prescriber, session_days=[D0, D0 + timedelta(days=7)],
                    scores=[(D0, 20, 1), (D0 + timedelta(days=25), 4, 0)], route="sublingual")
    CareTeamMember.objects.create(organization=org, patient=p, user=prescriber, role="prescriber")
    add_response(org, p, "meq30", D0, [4] * 30)
    return p


def test_patient_outcomes_page_shows_status_sessions_and_experience(org, site, prescriber, client_for):
    p = _patient(org, site, prescriber)
    response = client_for(prescriber).get(f"/patients/{p.id}/outcomes/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Baseline <strong>20</strong>" in body
    assert "(-80.0%)" in body
    assert "Response" in body
    assert "Remission (PHQ-9 below 5)" in body
    assert "Sublingual lozenge" in body
    assert "MEQ-30" in body
    assert "complete mystical experience" in body
    event = AuditEvent.objects.filter(object_type="patient_outcomes").latest("id")
    assert event.patient_id == p.id


def test_patient_outcomes_pdf(org, site, prescriber, client_for):
    p = _patient(org, site, prescriber)
    response = client_for(prescriber).get(f"/patients/{p.id}/outcomes/report.pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_patient_outcomes_refused_outside_the_care_team_and_for_admins(org, site, prescriber, therapist, admin,
                                                                       outsider, client_for):
    p = _patient(org, site, prescriber)
    assert client_for(therapist).get(f"/patients/{p.id}/outcomes/").status_code == 403
    assert client_for(admin).get(f"/patients/{p.id}/outcomes/").status_code == 403
    assert client_for(outsider).get(f"/patients/{p.id}/outcomes/").status_code == 404


def test_a_patient_without_sessions_is_told_why(org, site, prescriber, client_for):
    p = add_patient(org, site, prescriber, scores=[(D0, 12, 0)])
    CareTeamMember.objects.create(organization=org, patient=p, user=prescriber, role="prescriber")
    body = client_for(prescriber).get(f"/patients/{p.id}/outcomes/").content.decode()
    assert "No held dosing session yet" in body
    assert "No medicine session held yet." in body
