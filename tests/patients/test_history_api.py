"""A patient's weight and height history in the API: every entry, newest first, a page at a
time (the API's paged-list shape: items, count, page, pages), checked and audited as a
read of the chart; the chart page still shows the latest 20 weights and 5 heights."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from openkap.accounts import services as account_services
from openkap.audit.models import AuditAction, AuditEvent
from openkap.patients import selectors, services
from openkap.patients.models import HeightMeasurement, WeightMeasurement

pytestmark = pytest.mark.django_db

PER_PAGE = selectors.HISTORY_PER_PAGE


def _get(url: str, token: str):
    return Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


def _token(user, org, as_actor) -> str:
    return account_services.api_token_create(by=as_actor(user, org), name="history")[1]


def _record(kind: str, by, patient_id: int, n: int) -> None:
    """n entries over n // 2 + 1 days, two a day (so that the order within a day counts)."""
    today = timezone.localdate()
    for i in range(n):
        day = today - timedelta(days=i // 2 * 7)
        if kind == "weights":
            services.weight_record(by=by, patient_id=patient_id, value=f"{60 + i}.5", unit="kg", measured_on=day)
        else:
            services.height_record(by=by, patient_id=patient_id, value=f"{150 + i}.0", unit="cm", measured_on=day)


MODELS = {"weights": WeightMeasurement, "heights": HeightMeasurement}


def _newest_first(kind: str, patient_id: int) -> list[int]:
    """The reference order, sorted here rather than by the database."""
    rows = MODELS[kind].objects.filter(patient_id=patient_id).values("id", "measured_on", "recorded_at")
    return [r["id"] for r in sorted(rows, key=lambda r: (r["measured_on"], r["recorded_at"], r["id"]), reverse=True)]


@pytest.mark.parametrize("kind", ["weights", "heights"])
def test_history_is_complete_newest_first_and_paged(kind, therapist, org, as_actor, patient):
    n = 2 * PER_PAGE + 3  # more than the chart's 20 weights and 5 heights, over three pages
    _record(kind, as_actor(therapist, org), patient.id, n)
    # Two entries of one day at the same instant: the later id first, on every page.
    first_two = MODELS[kind].objects.filter(patient=patient).order_by("id")[:2]
    MODELS[kind].objects.filter(id__in=[m.id for m in first_two]).update(recorded_at=timezone.now())
    token = _token(therapist, org, as_actor)

    seen, pages = [], []
    for page in (1, 2, 3):
        body = _get(f"/api/v1/patients/{patient.id}/{kind}?page={page}", token).json()
        assert (body["count"], body["page"], body["pages"]) == (n, page, 3)
        pages.append(len(body["items"]))
        seen += [item["id"] for item in body["items"]]
    assert pages == [PER_PAGE, PER_PAGE, 3]
    assert seen == _newest_first(kind, patient.id)
    # Without a page, the first; the same item schema as before the list was paged.
    body = _get(f"/api/v1/patients/{patient.id}/{kind}", token).json()
    assert [item["id"] for item in body["items"]] == seen[:PER_PAGE]
    value = "weight_kg" if kind == "weights" else "height_cm"
    assert set(body["items"][0]) == {"id", value, "entered_value", "entered_unit", "measured_on"}


def test_the_chart_page_still_shows_the_latest_twenty_weights_and_five_heights(therapist, org, as_actor, patient):
    by = as_actor(therapist, org)
    _record("weights", by, patient.id, 22)
    _record("heights", by, patient.id, 7)
    chart = selectors.patient_chart(by=by, patient_id=patient.id)
    assert [w.id for w in chart.weights] == _newest_first("weights", patient.id)[:20]
    assert [h.id for h in chart.heights] == _newest_first("heights", patient.id)[:5]


@pytest.mark.parametrize("kind", ["weights", "heights"])
def test_an_empty_history_is_one_empty_page_and_a_page_past_the_last_is_the_last(
    kind, therapist, org, as_actor, patient
):
    token = _token(therapist, org, as_actor)
    body = _get(f"/api/v1/patients/{patient.id}/{kind}", token).json()
    assert body == {"items": [], "count": 0, "page": 1, "pages": 1}
    _record(kind, as_actor(therapist, org), patient.id, PER_PAGE + 1)
    body = _get(f"/api/v1/patients/{patient.id}/{kind}?page=7", token).json()
    assert (body["page"], body["pages"], len(body["items"])) == (2, 2, 1)


@pytest.mark.parametrize("kind", ["weights", "heights"])
@pytest.mark.parametrize("page", ["0", "-1", "x", "1.5", "100001", str(2**63), ""])
def test_a_bad_page_is_a_422_that_reads_and_records_nothing(kind, page, therapist, org, as_actor, patient):
    token = _token(therapist, org, as_actor)
    before = AuditEvent.objects.count()
    response = _get(f"/api/v1/patients/{patient.id}/{kind}?page={page}", token)
    assert response.status_code == 422, response.content
    body = json.loads(response.content)
    assert set(body) == {"detail", "errors", "codes"}
    assert list(body["errors"]) == ["query.page"]
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(("kind", "object_type"), [("weights", "weight"), ("heights", "height")])
def test_each_page_is_an_audited_read_of_the_chart(kind, object_type, therapist, org, as_actor, patient):
    _record(kind, as_actor(therapist, org), patient.id, PER_PAGE + 2)
    token = _token(therapist, org, as_actor)
    body = _get(f"/api/v1/patients/{patient.id}/{kind}?page=2", token).json()
    event = AuditEvent.objects.filter(action=AuditAction.VIEW).get()
    assert (event.object_type, event.patient_id, event.via, event.break_glass) == (object_type, patient.id, "api", False)
    assert event.detail == {"page": 2, "ids": [item["id"] for item in body["items"]]}


@pytest.mark.parametrize("kind", ["weights", "heights"])
def test_outside_the_care_team_403_until_break_glass_which_the_audit_row_names(
    kind, therapist, org, as_actor, unassigned_patient, nurse
):
    _record(kind, as_actor(nurse, org), unassigned_patient.id, 3)
    token = _token(therapist, org, as_actor)
    url = f"/api/v1/patients/{unassigned_patient.id}/{kind}"
    assert _get(url, token).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.VIEW, patient_id=unassigned_patient.id).exists()
    services.break_glass(by=as_actor(therapist, org), patient_id=unassigned_patient.id,
                         reason="On call, patient rang in crisis")
    response = _get(url, token)
    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert AuditEvent.objects.get(action=AuditAction.VIEW, patient_id=unassigned_patient.id).break_glass
    # A nurse reads any chart of the organisation.
    assert _get(url, _token(nurse, org, as_actor)).json()["count"] == 3


@pytest.mark.parametrize("kind", ["weights", "heights"])
def test_another_organisation_404_and_a_role_without_charts_403(
    kind, therapist, org, as_actor, patient, outsider, other_org, researcher
):
    _record(kind, as_actor(therapist, org), patient.id, 2)
    url = f"/api/v1/patients/{patient.id}/{kind}"
    assert _get(url, _token(outsider, other_org, as_actor)).status_code == 404
    assert _get(url, _token(researcher, org, as_actor)).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.VIEW).exists()
