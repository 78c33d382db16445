import json

import pytest
from django.test import Client

from openkap.accounts import services as account_services
from openkap.audit.models import AuditAction, AuditEvent
from openkap.patients.models import Patient


@pytest.fixture
def therapist_token(therapist, org, as_actor):
    return account_services.api_token_create(by=as_actor(therapist, org), name="test")[1]


def call(method, path, token, body=None):
    return Client().generic(
        method, path, data=json.dumps(body) if body is not None else "",
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_me_shows_roles_and_permissions(therapist_token):
    data = call("GET", "/api/v1/me", therapist_token).json()
    assert data["roles"] == ["therapist"]
    assert "patient.view" in data["permissions"]


def test_api_search_is_scoped_and_audited_like_the_ui(therapist_token, patient, unassigned_patient):
    data = call("GET", "/api/v1/patients?q=", therapist_token).json()
    assert [p["id"] for p in data["items"]] == [patient.id]
    event = AuditEvent.objects.get(action=AuditAction.SEARCH)
    assert event.via == "api"


def test_api_create_and_update(therapist_token):
    response = call("POST", "/api/v1/patients", therapist_token, {
        "legal_given_name": "Lee", "legal_family_name": "Park", "date_of_birth": "1980-05-05", "sex_at_birth": "male",
    })
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["mrn"].startswith("T")
    # The registering therapist joined the care team in the same transaction.
    response = call("PATCH", f"/api/v1/patients/{created['id']}", therapist_token, {"pronouns": "he/him"})
    assert response.status_code == 200
    assert response.json()["pronouns"] == "he/him"


def test_api_bad_input_has_one_error_shape_and_changes_nothing(therapist_token, patient):
    response = call("PATCH", f"/api/v1/patients/{patient.id}", therapist_token, {"date_of_birth": "2999-01-01"})
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"detail", "errors", "codes"}
    assert "date_of_birth" in body["errors"]
    assert set(body["codes"]) == set(body["errors"])
    assert Patient.objects.get(pk=patient.pk).date_of_birth.year == 1988


def test_api_weight_in_pounds(therapist_token, patient):
    response = call("POST", f"/api/v1/patients/{patient.id}/weights", therapist_token, {"value": "150", "unit": "lb"})
    assert response.status_code == 201
    assert response.json()["weight_kg"] == "68.04"


def test_api_revoked_token_is_refused(therapist, org, as_actor, therapist_token):
    token = therapist.api_tokens.get()
    account_services.api_token_revoke(by=as_actor(therapist, org), token_id=token.id)
    assert call("GET", "/api/v1/me", therapist_token).status_code == 401


def test_api_oversized_id_is_a_clean_error(therapist_token):
    response = call("GET", f"/api/v1/patients/{10**30}", therapist_token)
    assert response.status_code == 422


def test_openapi_document_is_served(db):
    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/patients" in schema["paths"]
