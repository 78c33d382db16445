"""FHIR test helpers: a bearer client per cast member, a small clinical record, and
validation of every resource a test receives against the fhir.resources R4B models
(written by others, from the HL7 specification)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from openkap.accounts import services as account_services
from openkap.accounts.authz import build_actor
from tests.dosing.conftest import (  # noqa: F401 - the medicine-session fixtures, for test_clinical
    im_session,
    library,
    nurse_actor,
    prescriber_actor,
    ready,
    second_nurse,
    second_nurse_actor,
    stock,
)

FHIR = "application/fhir+json"


def validate(resource: dict) -> dict:
    """Validate a resource (and a Bundle's entries) with fhir.resources; return it."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []):
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    return resource


class FhirClient:
    def __init__(self, raw_token: str | None):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"} if raw_token else {}

    def get(self, path: str, **extra):
        return self.client.get(_url(path), **self.headers, **extra)

    def post(self, path: str, body, content_type: str = FHIR):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(_url(path), data=data, content_type=content_type, **self.headers)

    def put(self, path: str, body, content_type: str = FHIR):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.put(_url(path), data=data, content_type=content_type, **self.headers)

    def delete(self, path: str):
        return self.client.delete(_url(path), **self.headers)


def _url(path: str) -> str:
    return path if path.startswith("/") else f"/fhir/R4/{path}"


def token_for(user, org) -> str:
    _, raw = account_services.api_token_create(by=build_actor(user, org), name="fhir test")
    return raw


@pytest.fixture
def fhir_as():
    def make(user, org):
        return FhirClient(token_for(user, org))

    return make


@pytest.fixture
def record(patient, therapist, nurse, prescriber, org, site, room):
    """A PHQ-9 (item 9 positive), a medicine session with two sets of vitals, a weight in lb
    and a height in inches."""
    from openkap.dosing.models import DosingSession, VitalSigns
    from openkap.measures import services as measures
    from openkap.patients import services as patients
    from tests.measures.factories import PHQ9_ITEM9_POSITIVE, open_episode

    episode = open_episode(patient, therapist)
    t = build_actor(therapist, org)
    phq9 = measures.response_enter(
        by=t, patient_id=patient.id, instrument_id="phq9", answers=PHQ9_ITEM9_POSITIVE,
        completed_at=timezone.now() - timedelta(days=3), occasion="baseline",
    )
    start = timezone.now() - timedelta(hours=2)
    session = DosingSession.objects.create(
        organization=org, patient=patient, episode=episode, site=site, room=room,
        status=DosingSession.Status.MONITORING, scheduled_start=start, started_at=start,
        created_by=nurse, checked_in_by=nurse,
    )
    full = VitalSigns.objects.create(organization=org, session=session, taken_at=start, systolic=128,
                                     diastolic=82, heart_rate=72, spo2=98, respiratory_rate=14, recorded_by=nurse)
    partial = VitalSigns.objects.create(organization=org, session=session, taken_at=start + timedelta(minutes=40),
                                        heart_rate=88, recorded_by=nurse)
    weight = patients.weight_record(by=build_actor(nurse, org), patient_id=patient.id, value="154", unit="lb")
    height = patients.height_record(by=build_actor(nurse, org), patient_id=patient.id, value="65", unit="in")
    return {"phq9": phq9, "session": session, "vitals": full, "partial_vitals": partial, "weight": weight,
            "height": height, "episode": episode}
