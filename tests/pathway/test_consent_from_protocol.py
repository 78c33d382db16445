"""Issue 21.7: a consent document states the protocol's facts through placeholders,
filled from the approved protocol the treatment plan names when the patient signs; the
filled text is what is shown, hashed and kept with the signature."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from openkap.accounts import services as account_services
from openkap.pathway import services
from openkap.pathway.models import ConsentSignature
from openkap.pathway.selectors import consent_status
from tests.dosing import conftest as dosing_fixtures
from tests.pathway.helpers import CONSENT_TEXT, ROUTE

pytestmark = pytest.mark.django_db

prescriber_actor = dosing_fixtures.prescriber_actor
library = dosing_fixtures.library

WITH_FACTS = CONSENT_TEXT + " After the dose you stay with us for at least {{monitoring_minutes}} minutes."


@pytest.fixture
def unsigned(walk_to, admin, org, as_actor):
    """Ready for dosing but for the consent: a version stating the monitoring time is in force."""
    episode = walk_to("ready")
    services.consent_document_publish(by=as_actor(admin, org), route=ROUTE, title="Consent", text=WITH_FACTS)
    return episode


def test_publishing_an_unknown_placeholder_is_refused_naming_the_known_ones(admin, org, as_actor):
    with pytest.raises(ValidationError) as exc:
        services.consent_document_publish(by=as_actor(admin, org), route=ROUTE, title="Consent",
                                          text=CONSENT_TEXT + " You stay {{monitoring_time}} minutes.")
    message = exc.value.message_dict["text"][0]
    assert message.startswith("Unknown placeholder {{monitoring_time}}: use {{protocol_title}}")
    assert "{{monitoring_minutes}}" in message


def test_signing_fills_the_facts_from_the_approved_protocol_and_keeps_the_text(unsigned, library, patient,
                                                                               by_therapist):
    status = consent_status(unsigned)
    # intranasal-esketamine-spravato.json: 120 minutes (the label's 2 hours).
    assert status.text.endswith("you stay with us for at least 120 minutes.")
    assert status.unfilled == ""
    with pytest.raises(ValidationError) as exc:  # the raw document's hash is not the text shown
        services.consent_sign_in_clinic(by=by_therapist, patient_id=patient.id, typed_name="Maya Lindqvist",
                                        document_sha256=status.document.sha256)
    assert "document_sha256" in exc.value.message_dict
    signature = services.consent_sign_in_clinic(by=by_therapist, patient_id=patient.id, typed_name="Maya Lindqvist",
                                                document_sha256=status.text_sha256)
    assert signature.signed_text == status.text
    assert signature.document_sha256 == hashlib.sha256(status.text.encode()).hexdigest()
    assert consent_status(unsigned).current


def test_without_an_approved_protocol_the_consent_cannot_be_signed_yet(unsigned, patient, by_therapist):
    status = consent_status(unsigned)
    assert "has no approved version in the library" in status.unfilled
    with pytest.raises(ValidationError, match="no approved version"):
        services.consent_sign_in_clinic(by=by_therapist, patient_id=patient.id, typed_name="Maya Lindqvist",
                                        document_sha256=status.text_sha256)
    assert not ConsentSignature.objects.filter(episode=unsigned, document=status.document).exists()


def test_the_consent_page_and_the_api_show_the_filled_text(unsigned, library, patient, therapist, org, as_actor,
                                                           client_for):
    page = client_for(therapist).get(reverse("pathway:consent", args=[patient.id])).content.decode()
    assert "at least 120 minutes." in page
    assert "{{monitoring_minutes}}" not in page
    token = account_services.api_token_create(by=as_actor(therapist, org), name="t")[1]
    data = Client().get(f"/api/v1/patients/{patient.id}/pathway/consent", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert data["text_to_sign"].endswith("at least 120 minutes.")
    response = Client().post(
        f"/api/v1/patients/{patient.id}/pathway/consent/signatures", content_type="application/json",
        data=json.dumps({"typed_name": "Maya Lindqvist", "document_sha256": data["text_to_sign_sha256"]}),
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content
    assert response.json()["signed_text"] == data["text_to_sign"]
