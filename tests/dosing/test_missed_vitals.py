"""Discharge with missed vitals checks (issue 21.5): the board showed OVERDUE and the
discharge passed anyway. Now a missed scheduled check needs a documented reason (or
blocks, when the protocol says so), kept on the record, its page and its PDF."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from openkap.dosing import services
from openkap.dosing.models import DosingSession
from openkap.dosing.services import DischargeBlocked
from tests.conftest import PASSWORD
from tests.dosing.conftest import DISCHARGE, NORMAL, run_to_monitoring

WITHOUT_REASON = {**DISCHARGE, "missed_vitals_reason": ""}


@pytest.fixture
def monitoring(im_session, nurse_actor, second_nurse_actor, prescriber_actor, stock):
    # Dosed about 175 minutes ago; no vitals since the pre-dose baseline.
    return run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                             prescriber_actor=prescriber_actor, lot=stock["50"])


def _schedule(session) -> tuple[int, ...]:
    return session.protocol_version.protocol.vitals_schedule_min


def test_discharge_without_the_scheduled_checks_needs_a_reason(monitoring, nurse_actor):
    services.vitals_record(by=nurse_actor, session_id=monitoring.id, **NORMAL)  # only the final set
    with pytest.raises(DischargeBlocked) as blocked:
        services.session_discharge(by=nurse_actor, session_id=monitoring.id, password=PASSWORD, **WITHOUT_REASON)
    assert any("were not recorded: write why" in r for r in blocked.value.reasons)
    monitoring.refresh_from_db()
    assert monitoring.status == DosingSession.Status.MONITORING

    reason = "Patient asleep and settled; SpO2 probe on throughout, readings not charted."
    discharge = services.session_discharge(by=nurse_actor, session_id=monitoring.id, password=PASSWORD,
                                           **{**DISCHARGE, "missed_vitals_reason": reason})
    assert discharge.missed_vitals_reason == reason
    # Every check between the dose and the final set (which covers only the last window).
    assert discharge.missed_vitals_min
    assert set(discharge.missed_vitals_min) <= set(_schedule(monitoring))


def test_every_check_recorded_needs_no_reason_and_stores_none(monitoring, nurse_actor):
    start = monitoring.administration_started_at
    for minute in _schedule(monitoring):
        services.vitals_record(by=nurse_actor, session_id=monitoring.id, at=start + timedelta(minutes=minute),
                               **NORMAL)
    services.vitals_record(by=nurse_actor, session_id=monitoring.id, **NORMAL)
    discharge = services.session_discharge(by=nurse_actor, session_id=monitoring.id, password=PASSWORD,
                                           **{**DISCHARGE, "missed_vitals_reason": "Should not be kept."})
    assert discharge.missed_vitals_min == []
    assert discharge.missed_vitals_reason == ""


def test_a_protocol_that_blocks_refuses_whatever_the_reason(monitoring, nurse_actor):
    version = monitoring.protocol_version
    content = json.loads(version.content)
    version.content = json.dumps({**content, "missed_vitals": "block"})
    version.save(update_fields=["content"])
    services.vitals_record(by=nurse_actor, session_id=monitoring.id, **NORMAL)
    with pytest.raises(DischargeBlocked) as blocked:
        services.session_discharge(by=nurse_actor, session_id=monitoring.id, password=PASSWORD, **DISCHARGE)
    assert any("does not allow discharge without them" in r for r in blocked.value.reasons)


def test_the_session_page_asks_for_the_reason_and_shows_it_after(monitoring, nurse_actor, nurse, client_for):
    services.vitals_record(by=nurse_actor, session_id=monitoring.id, **NORMAL)
    client = client_for(nurse)
    url = reverse("dosing:session", args=[monitoring.id])
    page = client.get(url).content.decode()
    assert 'data-testid="missed-vitals"' in page
    assert "Why scheduled vitals checks were missed" in page
    form = {**dict.fromkeys(("alert_and_oriented", "ambulating", "nausea_controlled", "escort_present"), "on"),
            "escort_name": "Ana Lindqvist", "escort_phone": "555 010 7788", "password": PASSWORD}
    refused = client.post(reverse("dosing:discharge", args=[monitoring.id]), form)
    assert refused.status_code == 422
    assert "were not recorded: write why" in refused.content.decode()
    done = client.post(reverse("dosing:discharge", args=[monitoring.id]),
                       {**form, "missed_vitals_reason": "Monitor failed; patient observed continuously."}, follow=True)
    text = done.content.decode()
    assert "Vitals checks missed:" in text
    assert "Monitor failed; patient observed continuously." in text


def test_the_api_takes_the_reason_and_returns_the_gaps(monitoring, nurse_actor, nurse, org, as_actor, client):
    from openkap.accounts import services as account_services

    services.vitals_record(by=nurse_actor, session_id=monitoring.id, **NORMAL)
    _, raw = account_services.api_token_create(by=as_actor(nurse, org), name="t")
    body = dict(DISCHARGE.items()) | {"password": PASSWORD, "missed_vitals_reason": ""}
    url = f"/api/v1/dosing/sessions/{monitoring.id}/discharge"
    refused = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert refused.status_code == 422
    body["missed_vitals_reason"] = "Monitor failed; patient observed continuously."
    ok = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert ok.status_code == 200, ok.content
    assert ok.json()["discharge"]["missed_vitals_min"]
