"""Who may do what: another organisation gets 404, a role without the permission 403,
a clinician outside the care team 403; the same through the web and the JSON API."""

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client

from openkap.accounts import services as account_services
from openkap.dosing import selectors, services
from openkap.dosing.models import VitalSigns
from tests.conftest import PASSWORD
from tests.dosing.conftest import NORMAL, run_to_monitoring, to_order


@pytest.fixture
def outsider_actor(outsider, other_org, as_actor):
    return as_actor(outsider, other_org)


def test_services_of_another_organisation_are_404(esk_session, outsider_actor):
    for call in (
        lambda: services.session_check_in(by=outsider_actor, session_id=esk_session.id),
        lambda: services.vitals_record(by=outsider_actor, session_id=esk_session.id, **NORMAL),
        lambda: services.dose_order_sign(by=outsider_actor, session_id=esk_session.id, password=PASSWORD),
        lambda: selectors.session_view(by=outsider_actor, session_id=esk_session.id),
        lambda: selectors.board(by=outsider_actor, site_id=esk_session.site_id),
    ):
        with pytest.raises(Http404):
            call()


def test_therapist_reads_but_does_not_record(esk_session, therapist_actor):
    assert selectors.session_view(by=therapist_actor, session_id=esk_session.id).session == esk_session
    with pytest.raises(PermissionDenied):
        services.session_check_in(by=therapist_actor, session_id=esk_session.id)


def test_therapist_outside_the_care_team_is_403(esk_session, therapist_actor, patient, therapist):
    patient.care_team.filter(user=therapist).update(ended_at=esk_session.created_at)
    with pytest.raises(PermissionDenied):
        selectors.session_view(by=therapist_actor, session_id=esk_session.id)


def test_prescriber_outside_the_care_team_cannot_order(esk_session, nurse_actor, prescriber_actor, patient,
                                                        prescriber):
    to_order(esk_session, nurse_actor)
    patient.care_team.filter(user=prescriber).update(ended_at=esk_session.created_at)
    with pytest.raises(PermissionDenied):
        services.dose_order_sign(by=prescriber_actor, session_id=esk_session.id, password=PASSWORD)


def test_web_role_and_tenant_checks(esk_session, therapist, nurse, outsider, client_for):
    url = f"/dosing/sessions/{esk_session.id}/"
    assert client_for(therapist).get(url).status_code == 200
    assert client_for(therapist).post(url + "vitals/", NORMAL).status_code == 403
    assert client_for(outsider).get(url).status_code == 404
    response = client_for(nurse).post(url + "check-in/", {})
    assert response.status_code == 302


def test_web_vitals_out_of_range_is_422_and_stores_nothing(im_session, nurse, nurse_actor, second_nurse_actor,
                                                           prescriber_actor, stock, client_for):
    s = run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                          prescriber_actor=prescriber_actor, lot=stock["50"])
    count = VitalSigns.objects.count()
    response = client_for(nurse).post(f"/dosing/sessions/{s.id}/vitals/", {**NORMAL, "systolic": 400})
    assert response.status_code == 422
    assert "outside the possible range" in response.content.decode()
    assert VitalSigns.objects.count() == count


# --- the API ------------------------------------------------------------------------------


def _token(user, org, as_actor) -> str:
    _t, raw = account_services.api_token_create(by=as_actor(user, org), name="t")
    return raw


def _call(method: str, path: str, token: str, body: dict | None = None):
    return Client().generic(method, f"/api/v1/dosing{path}", data=json.dumps(body or {}),
                            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_api_session_steps(esk_session, nurse, prescriber, org, as_actor, patient):
    nurse_token, prescriber_token = _token(nurse, org, as_actor), _token(prescriber, org, as_actor)
    assert _call("POST", f"/sessions/{esk_session.id}/check-in", nurse_token).status_code == 200
    checklist = {"fasting_confirmed": True, "escort_name": "Ana", "escort_phone": "555 010 7788",
                 "pregnancy_status": "not_pregnant", "new_medications": "None", "suicide_risk_reviewed": True,
                 "intention": "Rest.", "items": {"rems-enrolled": True, "nasal-steroid-decongestant": True}, **NORMAL}
    bad = _call("POST", f"/sessions/{esk_session.id}/checklist", nurse_token, {**checklist, "systolic": 400})
    assert bad.status_code == 422
    assert "outside the possible range" in bad.json()["errors"]["systolic"][0]
    assert _call("POST", f"/sessions/{esk_session.id}/checklist", nurse_token, checklist).status_code == 200
    preview = _call("POST", f"/sessions/{esk_session.id}/dose-order/preview", prescriber_token, {"dose_mg": "70"})
    assert preview.json()["status"] == "refused"
    assert preview.json()["result"]["stops"][0]["code"] == "dose_not_allowed"
    refused = _call("POST", f"/sessions/{esk_session.id}/dose-order", prescriber_token,
                    {"dose_mg": "84", "password": PASSWORD})
    assert refused.status_code == 422
    assert "Soft limit" in refused.json()["errors"]["override_reason"][0]
    order = _call("POST", f"/sessions/{esk_session.id}/dose-order", prescriber_token, {"password": PASSWORD})
    assert order.status_code == 201
    assert order.json()["dose_mg"] == "56"
    by_nurse = _call("POST", f"/sessions/{esk_session.id}/dose-order/cancel", nurse_token, {"reason": "x"})
    assert by_nurse.status_code == 403
    session = _call("GET", f"/sessions/{esk_session.id}", nurse_token).json()
    assert session["stage"] == "prepare"


def test_api_cross_organisation_and_role(esk_session, outsider, other_org, researcher, therapist, org, as_actor):
    assert _call("GET", f"/sessions/{esk_session.id}", _token(outsider, other_org, as_actor)).status_code == 404
    assert _call("GET", f"/sessions/{esk_session.id}", _token(researcher, org, as_actor)).status_code == 403
    therapist_token = _token(therapist, org, as_actor)
    assert _call("GET", f"/sessions/{esk_session.id}", therapist_token).status_code == 200
    assert _call("POST", f"/sessions/{esk_session.id}/vitals", therapist_token, NORMAL).status_code == 403
    assert _call("GET", f"/sites/{esk_session.site_id}/board", _token(outsider, other_org, as_actor)).status_code == 404


def test_api_vitals_raise_alarms(im_session, nurse, nurse_actor, second_nurse_actor, prescriber_actor, stock, org,
                                 as_actor):
    s = run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                          prescriber_actor=prescriber_actor, lot=stock["50"])
    token = _token(nurse, org, as_actor)
    response = _call("POST", f"/sessions/{s.id}/vitals", token, {**NORMAL, "heart_rate": 140})
    assert response.status_code == 201
    alarm = response.json()["alarms"][0]
    assert (alarm["code"], alarm["severity"]) == ("heart_rate_high", "warning")
    ack = _call("POST", f"/alarms/{alarm['id']}/acknowledgement", token, {"action": "rechecked_artefact"})
    assert ack.status_code == 200
    board = _call("GET", f"/sites/{s.site_id}/board", token).json()
    assert board["sessions"][0]["session_id"] == s.id
