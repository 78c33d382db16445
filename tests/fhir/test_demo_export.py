"""A Bulk Data export of the demo clinic (seeded as `make demo` seeds it), validated file
by file and line by line with fhir.resources (R4B)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from openkap.accounts.models import Membership
from tests.fhir.conftest import FhirClient, token_for, validate

pytestmark = pytest.mark.django_db


def test_demo_clinic_exports_and_every_line_validates(demo_clinic, settings, tmp_path,
                                                     django_capture_on_commit_callbacks):
    settings.FHIR_EXPORT_DIR = tmp_path
    nurse = Membership.objects.filter(organization__slug="demo", role="nurse").select_related("user", "organization").first()
    client = FhirClient(token_for(nurse.user, nurse.organization))
    with django_capture_on_commit_callbacks(execute=True):
        kick = client.get("$export", HTTP_PREFER="respond-async")
    assert kick.status_code == 202
    manifest = client.get(kick["Content-Location"].replace("http://testserver", "")).json()
    counts: Counter[str] = Counter()
    for output in manifest["output"]:
        body = b"".join(client.get(output["url"].replace("http://testserver", "")).streaming_content)
        for line in body.decode().splitlines():
            resource = validate(json.loads(line))
            counts[resource["resourceType"]] += 1
        assert counts[output["type"]] == output["count"]
    print(dict(counts))  # what the demo clinic gives (shown with pytest -s)
    for resource_type in ("Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "Encounter",
                          "Observation", "QuestionnaireResponse", "Questionnaire", "Appointment", "CarePlan",
                          "Consent", "Condition", "MedicationRequest", "MedicationAdministration", "Medication"):
        assert counts[resource_type] > 0, resource_type
