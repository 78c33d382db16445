"""The pathway counts sessions from these records; the session record and the REMS
form print as PDFs with what they must show."""

import subprocess

import pytest

from openkap.dosing import documents, selectors, services
from openkap.dosing.models import RemsForm
from openkap.pathway.models import IntegrationNote
from openkap.pathway.selectors import episode_snapshot
from tests.conftest import PASSWORD, require_tool
from tests.dosing.conftest import DISCHARGE, MISSED_REASON, NORMAL, ago, run_to_monitoring, to_order


def test_snapshot_counts_sessions_given_and_awaiting_integration(im_session, nurse_actor, second_nurse_actor,
                                                                 prescriber_actor, stock, ready, therapist, org):
    assert episode_snapshot(ready).dosing_sessions_held == 0
    s = run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                          prescriber_actor=prescriber_actor, lot=stock["50"])
    snap = episode_snapshot(ready)
    assert (snap.dosing_sessions_held, snap.dosing_sessions_without_integration) == (1, 1)
    IntegrationNote.objects.create(organization=org, episode=ready, patient=s.patient, dosing_session=s,
                                   session_date=s.started_at.date(), template="dap", sections={}, author=therapist)
    assert episode_snapshot(ready).dosing_sessions_without_integration == 0


def test_snapshot_does_not_count_a_session_ended_without_a_dose(esk_session, nurse_actor, ready):
    to_order(esk_session, nurse_actor)
    services.session_end_without_dose(by=nurse_actor, session_id=esk_session.id, reason="Patient declined today.")
    assert episode_snapshot(ready).dosing_sessions_held == 0


def _text(pdf: bytes, tmp_path) -> str:
    pdftotext = require_tool("pdftotext", "poppler-utils")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run([pdftotext, "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout


@pytest.fixture
def discharged_esk(esk_session, nurse_actor, second_nurse_actor, prescriber_actor, stock):
    s = run_to_monitoring(esk_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                          prescriber_actor=prescriber_actor, lot=stock["device"])
    services.vitals_record(by=nurse_actor, session_id=s.id, systolic=184, diastolic=104, heart_rate=96, spo2=96,
                           respiratory_rate=16, at=ago(130))
    services.alarm_acknowledge(by=nurse_actor, alarm_id=s.alarms.first().id, action="prescriber_notified",
                               note="Rechecked at 5 min: 168/98.")
    services.observation_record(by=nurse_actor, session_id=s.id, moaas=4, respiration_normal=True,
                                cadss_answers={f"q{i}": 1 for i in range(1, 7)}, at=ago(128))
    services.adverse_event_record(by=nurse_actor, session_id=s.id, code="nausea", severity="mild",
                                  outcome="resolved", serious=False, onset_at=ago(140),
                                  action_taken="Ondansetron given.", antiemetic_drug="Ondansetron ODT",
                                  antiemetic_dose="4 mg", antiemetic_at=ago(138))
    services.vitals_record(by=nurse_actor, session_id=s.id, **NORMAL)
    services.session_discharge(by=nurse_actor, session_id=s.id, password=PASSWORD, **DISCHARGE)
    return s


def test_session_record_pdf_shows_the_whole_session(discharged_esk, nurse_actor, tmp_path, patient):
    view = selectors.session_record(by=nurse_actor, session_id=discharged_esk.id)
    text = _text(documents.session_record_pdf(view), tmp_path)
    for expected in (patient.mrn, "intranasal-esketamine-spravato v1", "Fixed dose 56.0 mg",
                     "56.0 mg ÷ 28.0 mg/device = 2 devices", "L-device", "Independently verified by Nia Second",
                     "184/104", "Systolic blood pressure high", "Nausea", "Ondansetron ODT 4 mg", "Ana Lindqvist",
                     "Discharge electronically signed", "Vitals checks missed", MISSED_REASON[:30]):
        assert expected in text, expected


def test_rems_form_pdf_has_every_field(discharged_esk, nurse_actor, tmp_path):
    view = selectors.session_record(by=nurse_actor, session_id=discharged_esk.id)
    form = RemsForm.objects.get(session=discharged_esk)
    text = _text(documents.rems_form_pdf(view, form), tmp_path)
    for expected in ("REMS", "56 mg", "128/80", "184/104", "126/80", "Pulse oximetry used", "lowest SpO2 96%",
                     "Sedation", "Dissociation", "Respiratory depression", "Monitoring duration",
                     "Serious adverse events", "CNS depressants"):
        assert expected in text, expected


def test_pdf_views_answer_pdf(discharged_esk, nurse, client_for, django_capture_on_commit_callbacks):
    c = client_for(nurse)
    with django_capture_on_commit_callbacks(execute=True):  # the session record is made by the worker
        c.post(f"/dosing/sessions/{discharged_esk.id}/record/prepare/")
    for url in (f"/dosing/sessions/{discharged_esk.id}/record.pdf", f"/dosing/sessions/{discharged_esk.id}/rems.pdf"):
        response = c.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
    assert c.get(f"/dosing/sessions/{discharged_esk.id}/rems/").status_code == 200
    overlay = c.get(f"/dosing/sessions/{discharged_esk.id}/predicted-curve/")
    assert overlay.status_code == 200
    assert "<svg" in overlay.content.decode()
