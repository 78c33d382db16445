"""Every step of the session page renders, for the roles that use it; the board and its htmx partial; the PDF."""

import re
from collections import Counter
from datetime import timedelta

from django.utils import timezone

from openkap.dosing import services
from tests.conftest import PASSWORD
from tests.dosing.conftest import CHECKLIST


def test_pages_render_at_every_step(esk_session, nurse, nurse_actor, second_nurse_actor, prescriber_actor, stock,
                                    patient, client_for, prescriber, django_capture_on_commit_callbacks):
    s = esk_session
    t0 = timezone.now() - timedelta(minutes=170)
    s.scheduled_start = t0
    s.save()
    c = client_for(nurse)
    url = f"/dosing/sessions/{s.id}/"

    def page():
        r = c.get(url)
        assert r.status_code == 200, r.content[:2000]
        html = r.content.decode()
        # Each step's form has its own ids, so every label points at its own field (issue 21.10).
        repeated = [i for i, n in Counter(re.findall(r'\sid="([^"]+)"', html)).items() if n > 1]
        assert repeated == []
        return html

    assert "Check in" in page()
    services.session_check_in(by=nurse_actor, session_id=s.id, at=t0)
    assert "Pre-dose checklist" in page()
    services.checklist_complete(by=nurse_actor, session_id=s.id, data=CHECKLIST, at=t0 + timedelta(minutes=5))
    html = page()
    assert "Waiting for the prescriber" in html
    r = client_for(prescriber).get(url)
    assert "Sign the order" in r.content.decode()
    services.dose_order_sign(by=prescriber_actor, session_id=s.id, password=PASSWORD, at=t0 + timedelta(minutes=10))
    assert "choose the lot" in page()
    services.dose_prepare(by=nurse_actor, session_id=s.id, lot_id=stock["device"].id, at=t0 + timedelta(minutes=12))
    assert "You prepared this dose" in page()
    services.dose_verify(by=second_nurse_actor, session_id=s.id, drug_confirmed=True, concentration_seen="28",
                         amount_seen="2", dose_mg_seen="56", date_of_birth_seen=patient.date_of_birth,
                         at=t0 + timedelta(minutes=13))
    assert "Device 1 given" in page()
    a = t0 + timedelta(minutes=15)
    services.administration_record(by=nurse_actor, session_id=s.id, kind="device", at=a)
    assert "Device 2 given" in page()
    services.administration_record(by=nurse_actor, session_id=s.id, kind="device", at=a + timedelta(minutes=5))
    services.vitals_record(by=nurse_actor, session_id=s.id, systolic=182, diastolic=100, heart_rate=90,
                           spo2=97, respiratory_rate=16, at=a + timedelta(minutes=40))
    html = page()
    assert "Open alarms" in html
    assert "Sign the discharge" in html
    r = c.get(f"/dosing/board/{s.site_id}/")
    assert r.status_code == 200
    assert "Lindqvist" in r.content.decode()
    r = c.get(f"/dosing/board/{s.site_id}/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert 'id="board"' in r.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # made by the worker, here at once
        assert c.post(f"/dosing/sessions/{s.id}/record/prepare/").status_code == 302
    r = c.get(f"/dosing/sessions/{s.id}/record.pdf")
    assert r.status_code == 200
    assert r.content.startswith(b"%PDF")
