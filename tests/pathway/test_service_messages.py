"""Refusals a patient meets through the portal are in their language, and the API gives
stable machine codes beside the messages (issue 17, item 6)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from openkap.accounts import services as account_services
from openkap.core.authz import Role
from openkap.pathway import services
from tests.conftest import make_user


@pytest.fixture
def portal_actor(patient, org, as_actor):
    user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.preferred_language = "es"
    patient.save(update_fields=["user", "preferred_language"])
    return as_actor(user, org)


def test_portal_refusals_in_spanish_with_codes(portal_actor):
    with translation.override("es"), pytest.raises(ValidationError) as exc:
        services.portal_intention_add(by=portal_actor, text="Estar presente.")
    assert exc.value.messages == ["No tiene un tratamiento abierto con la clínica."]
    assert exc.value.error_list[0].code == "no_open_episode"
    with translation.override("es"), pytest.raises(ValidationError) as exc:
        services.journal_write(by=portal_actor, text="   ")
    assert exc.value.message_dict == {"text": ["Este campo es obligatorio."]}
    assert exc.value.error_dict["text"][0].code == "required"
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        services.commitment_add(by=portal_actor, text="x" * 201)
    assert exc.value.message_dict == {"text": ["Keep this under 200 characters."]}


def test_a_spanish_patient_sees_the_refusal_in_spanish_on_the_page(portal_actor, client_for):
    response = client_for(portal_actor.user).post(reverse("pathway:portal_intention"), {"text": "Estar presente."},
                                                  follow=True)
    assert "No tiene un tratamiento abierto con la clínica." in response.content.decode()


def test_api_gives_codes_beside_messages_in_the_asked_language(patient, therapist, org, as_actor, walk_to):
    walk_to("planned")
    token = account_services.api_token_create(by=as_actor(therapist, org), name="t")[1]

    def post(language):
        return Client().post(
            f"/api/v1/patients/{patient.id}/pathway/preparation/intentions", data=json.dumps({"text": " "}),
            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE=language)

    english, spanish = post("en").json(), post("es").json()
    assert english["codes"] == spanish["codes"] == {"text": ["required"]}
    assert english["errors"] == {"text": ["This field is required."]}
    assert spanish["errors"] == {"text": ["Este campo es obligatorio."]}
