"""The Measures tab, tasks pages, licensed-wording pages and the JSON API: access rules
(404 across organisations, 403 by role or care team), rendering, audit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from openkap.accounts import services as account_services
from openkap.audit.models import AuditEvent
from openkap.dosing.models import DosingSession
from openkap.measures import services
from openkap.measures.models import MeasureResponse
from openkap.tasks.models import Task
from tests.measures.factories import PHQ9_ITEM9_POSITIVE, PHQ9_NO_FLAG

pytestmark = pytest.mark.django_db


@pytest.fixture
def series(therapist, patient, org, episode, site, as_actor):
    """Baseline PHQ-9 21, three dosing sessions, improving to 6."""
    by = as_actor(therapist, org)
    start = timezone.now() - timedelta(days=30)
    for n in range(3):
        DosingSession.objects.create(
            organization=org, patient=patient, episode=episode, site=site, status="discharged",
            scheduled_start=start + timedelta(days=7 * n + 7), started_at=start + timedelta(days=7 * n + 7),
            created_by=therapist,
        )
    for days, answers, occasion in (
        (0, [3, 3, 3, 2, 2, 3, 2, 3, 0], "baseline"),
        (10, [2, 2, 2, 2, 1, 2, 1, 1, 0], "after_integration"),
        (20, [1, 1, 1, 1, 1, 1, 0, 1, 0], "after_integration"),
        (27, [1, 1, 1, 1, 0, 1, 0, 1, 0], "after_integration"),
    ):
        services.response_enter(
            by=by, patient_id=patient.id, instrument_id="phq9", occasion=occasion,
            answers={f"q{i}": v for i, v in enumerate(answers, 1)}, completed_at=start + timedelta(days=days),
        )


def test_measures_tab_shows_trend_change_and_dosing_markers(therapist, patient, series, client_for):
    page = client_for(therapist).get(f"/patients/{patient.id}/measures/").content.decode()
    assert page.count("<svg") >= 1
    assert 'role="img"' in page
    for text in ("D1", "D2", "D3", "Baseline 21", "Response ≤ 10.5", "Remission &lt; 5", "Moderately severe"):
        assert text in page, text
    # 21 -> 6: -15 points, -71 %: response, not remission (PHQ-9 < 5).
    assert "-71%" in page
    assert AuditEvent.objects.filter(action="view", object_type="measures", patient_id=patient.id).exists()


def test_measures_tab_access(therapist, admin, researcher, outsider, patient, unassigned_patient, client_for):
    url = f"/patients/{patient.id}/measures/"
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(admin).get(url).status_code == 403  # registry, not clinical content
    assert client_for(researcher).get(url).status_code == 403
    assert client_for(therapist).get(f"/patients/{unassigned_patient.id}/measures/").status_code == 403


def test_response_of_another_patient_is_404_under_this_chart(therapist, nurse, org, patient, unassigned_patient,
                                                             as_actor, client_for):
    other = services.response_enter(by=as_actor(nurse, org), patient_id=unassigned_patient.id,
                                    instrument_id="phq9", answers=PHQ9_NO_FLAG)
    assert client_for(therapist).get(f"/patients/{patient.id}/measures/responses/{other.id}/").status_code == 404


def test_staff_entry_page_records_and_announces_the_flag(therapist, patient, client_for):
    client = client_for(therapist)
    data = {f"item_{k}": str(v) for k, v in PHQ9_ITEM9_POSITIVE.items()}
    response = client.post(f"/patients/{patient.id}/measures/enter/phq9/", data, follow=True)
    assert response.status_code == 200
    assert "urgent task was raised" in response.content.decode()
    saved = MeasureResponse.objects.get()
    assert saved.on_behalf is True
    assert saved.entered_by == therapist
    assert client.get(f"/patients/{patient.id}/measures/enter/no-such-scale/").status_code == 404


def test_staff_entry_page_shows_missing_items(therapist, patient, client_for):
    response = client_for(therapist).post(f"/patients/{patient.id}/measures/enter/phq9/", {"item_q1": "1"})
    assert response.status_code == 422
    assert "unanswered" in response.content.decode()
    assert not MeasureResponse.objects.exists()


def test_task_pages_by_role_and_organisation(therapist, prescriber, nurse, researcher, outsider, patient, org,
                                            as_actor, client_for):
    services.response_enter(by=as_actor(therapist, org), patient_id=patient.id, instrument_id="phq9",
                            answers=PHQ9_ITEM9_POSITIVE)
    task = Task.objects.get()
    for user in (therapist, prescriber, nurse):
        assert client_for(user).get(f"/tasks/{task.id}/").status_code == 200
        assert task.title in client_for(user).get("/tasks/?scope=all").content.decode()
    assert client_for(researcher).get("/tasks/").status_code == 403
    assert client_for(outsider).get(f"/tasks/{task.id}/").status_code == 404
    assert task.title in client_for(therapist).get("/").content.decode()  # the Today widget


def test_task_of_another_team_is_403(therapist, nurse, org, unassigned_patient, as_actor, client_for):
    services.response_enter(by=as_actor(nurse, org), patient_id=unassigned_patient.id, instrument_id="phq9",
                            answers=PHQ9_ITEM9_POSITIVE)
    task = Task.objects.get()  # for the admins: nobody cares for this patient
    assert client_for(therapist).get(f"/tasks/{task.id}/").status_code == 403
    assert task.title not in client_for(therapist).get("/tasks/?scope=all").content.decode()


def test_wording_pages_for_admins_only(admin, therapist, client_for):
    assert client_for(therapist).get("/measures/wording/").status_code == 403
    client = client_for(admin)
    assert "MADRS" in client.get("/measures/wording/").content.decode()
    assert client.get("/measures/wording/phq9/").status_code == 404
    response = client.post("/measures/wording/madrs/", {"text_q1": "Licensed text one", "licence_reference": "RCPsych 2026"})
    assert response.status_code == 302
    response = client.post("/measures/wording/madrs/", {"text_q1": "Licensed text one"})
    assert response.status_code == 200
    assert "Name the licence" in response.content.decode()


def test_plan_page_saves_the_schedule(therapist, patient, episode, client_for):
    client = client_for(therapist)
    assert client.get(f"/patients/{patient.id}/measures/schedule/").status_code == 200
    response = client.post(f"/patients/{patient.id}/measures/schedule/", {"baseline": ["phq9", "gad7", "cssrs-recent"]})
    assert response.status_code == 302
    from openkap.measures.selectors import planned_instruments

    assert planned_instruments(episode) == {"phq9", "gad7", "cssrs-recent"}
    assert planned_instruments(episode, "before_dosing") == frozenset()


# --- API ------------------------------------------------------------------------------------


def _api(user, org, as_actor):
    _, raw = account_services.api_token_create(by=as_actor(user, org), name="t")
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_api_assign_list_due_submit_read_trend_and_resolve(therapist, org, patient, episode, as_actor):
    api = _api(therapist, org, as_actor)
    base = f"/api/v1/patients/{patient.id}/measures"
    created = _post(api, f"{base}/assignments", {"instrument_id": "gad7"})
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "due"
    due = api.get(f"{base}/due").json()
    assert created.json()["id"] in [a["id"] for a in due]
    submitted = _post(api, f"{base}/responses", {
        "instrument_id": "phq9", "answers": PHQ9_ITEM9_POSITIVE, "occasion": "baseline",
    })
    assert submitted.status_code == 201, submitted.content
    body = submitted.json()
    assert body["total"] == 12
    assert body["flag_ids"] == ["phq9_item9"]
    assert body["via"] == "api"
    assert body["on_behalf"] is True
    fixed = _post(api, f"{base}/responses", {
        "instrument_id": "phq9", "answers": PHQ9_NO_FLAG, "corrects_id": body["id"],
        "correction_reason": "Wrong patient's paper form was transcribed.",
    })
    assert fixed.status_code == 201
    listed = api.get(f"{base}/responses?instrument=phq9").json()
    assert [r["corrected_by_id"] for r in listed] == [fixed.json()["id"], None]
    trend = api.get(f"{base}/trend?instrument=phq9").json()
    assert [p["total"] for p in trend["points"]] == [9]
    tasks = api.get("/api/v1/tasks").json()
    assert tasks["count"] == 1
    task_id = tasks["items"][0]["id"]
    refused = _post(api, f"/api/v1/tasks/{task_id}/resolve", {"note": "ok"})
    assert refused.status_code == 422
    resolved = _post(api, f"/api/v1/tasks/{task_id}/resolve", {"note": "Called patient; safe; plan updated."})
    assert resolved.status_code == 200
    assert resolved.json()["resolved_by_id"] == therapist.id


def test_api_bad_input_is_422_and_changes_nothing(therapist, org, patient, as_actor):
    api = _api(therapist, org, as_actor)
    base = f"/api/v1/patients/{patient.id}/measures"
    for body in (
        {"instrument_id": "nope", "answers": {}},
        {"instrument_id": "phq9", "answers": {"q1": 9}},
        {"instrument_id": "phq9", "answers": PHQ9_NO_FLAG, "completed_at": "2020-01-01T00:00:00"},
        {"instrument_id": "phq9", "answers": PHQ9_NO_FLAG, "occasion": "someday"},
    ):
        assert _post(api, f"{base}/responses", body).status_code == 422, body
    assert api.get(f"{base}/trend?instrument=nope").status_code == 422
    assert not MeasureResponse.objects.exists()


def test_api_access(researcher, outsider, other_org, therapist, org, patient, unassigned_patient, as_actor):
    assert _api(researcher, org, as_actor).get(f"/api/v1/patients/{patient.id}/measures/due").status_code == 403
    assert _api(researcher, org, as_actor).get("/api/v1/tasks").status_code == 403
    assert _api(outsider, other_org, as_actor).get(f"/api/v1/patients/{patient.id}/measures/due").status_code == 404
    therapist_api = _api(therapist, org, as_actor)
    assert therapist_api.get(f"/api/v1/patients/{unassigned_patient.id}/measures/responses").status_code == 403
    assert _post(therapist_api, "/api/v1/tasks/99999/resolve", {"note": "nothing to resolve here"}).status_code == 404
