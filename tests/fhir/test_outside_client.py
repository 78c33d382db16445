"""The FHIR API exercised by code no one here wrote, against a live server: fhirpy
(searches with paging, reads, a create) and, for Bulk Data, which fhirpy does not
implement, plain `requests` following the IG's kick-off / poll / download flow. Every
resource that comes back is validated with fhir.resources (R4B)."""

from __future__ import annotations

import json

import pytest
import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from openkap.fhir.export import run_export
from tests.fhir.conftest import token_for, validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_url(db):
    """A real HTTP server in a thread, sharing this test's database connection, so that
    the test's rows are visible and are rolled back afterwards (pytest-django's
    ``live_server`` needs committed data, which the append-only audit triggers keep
    SQLite from cleaning up). Requests are sequential, so one connection suffices."""
    from django.db import connections
    from django.test.testcases import LiveServerThread, _StaticFilesHandler

    connection = connections["default"]
    connection.inc_thread_sharing()
    # The server must not close the shared connection after each request.
    real_close = connection.close
    connection.close = lambda: None
    thread = LiveServerThread("127.0.0.1", _StaticFilesHandler, connections_override={"default": connection})
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    connection.close = real_close
    connection.dec_thread_sharing()


@pytest.fixture
def server(live_url, settings, tmp_path, nurse, org):
    settings.FHIR_EXPORT_DIR = tmp_path / "exports"
    return f"{live_url}/fhir/R4", token_for(nurse, org)


def test_fhirpy_searches_pages_reads_and_creates(server, record, patient, unassigned_patient):
    base, token = server
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    patients = client.resources("Patient").limit(1).fetch_all()  # one per page: follows `next`
    assert sorted(p.id for p in patients) == sorted([str(patient.id), str(unassigned_patient.id)])
    for p in patients:
        validate(p.serialize())
    vitals = client.resources("Observation").search(patient=patient.id, category="vital-signs").fetch_all()
    assert len(vitals) == 7  # 4 + 1 from two sets of vitals, a weight, a height
    for obs in vitals:
        validate(obs.serialize())
    totals = client.resources("Observation").search(patient=patient.id, code="http://loinc.org|44261-6").fetch()
    assert [o.valueQuantity.value for o in totals] == [12]
    encounter = client.reference("Encounter", str(record["session"].id)).to_resource()
    assert validate(encounter.serialize())["status"] == "in-progress"
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", "999999").to_resource()
    with pytest.raises(OperationOutcome):
        client.resources("Patient").search(colour="blue").fetch()
    response = client.resource(
        "QuestionnaireResponse", status="completed", questionnaire="Questionnaire/gad7",
        subject={"reference": f"Patient/{patient.id}"},
        item=[{"linkId": f"q{n}", "answer": [{"valueInteger": 1}]} for n in range(1, 8)],
    )
    response.save()
    assert response.id
    stored = client.reference("Observation", f"mr-{response.id}").to_resource()
    assert stored.valueQuantity.value == 7


def test_bulk_export_flow_over_http(server, record, patient):
    base, token = server
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json", "Prefer": "respond-async"}
    kick = requests.get(f"{base}/$export", headers=headers, params={"_type": "Patient,Observation"}, timeout=60)
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["Content-Location"]
    status = requests.get(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert status.status_code == 202  # queued: the request's transaction has not committed here
    assert status.headers["X-Progress"] == "queued"
    run_export.call(status_url.rsplit("/", 1)[1])  # what `openkap db_worker` does
    status = requests.get(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert status.status_code == 200, status.text
    manifest = status.json()
    assert {o["type"] for o in manifest["output"]} == {"Patient", "Observation"}
    for output in manifest["output"]:
        assert requests.get(output["url"], timeout=60).status_code == 401  # the token is required
        ndjson = requests.get(output["url"], headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert ndjson.headers["Content-Type"] == "application/fhir+ndjson"
        lines = ndjson.text.splitlines()
        assert len(lines) == output["count"]
        for line in lines:
            assert validate(json.loads(line))["resourceType"] == output["type"]
    assert requests.delete(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=60).status_code == 202
    assert requests.get(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=60).status_code == 404
