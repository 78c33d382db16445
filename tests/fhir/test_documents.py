"""DocumentReference and Binary: a signed consent (the exact text signed), the medicine
session record and the SPRAVATO REMS form (PDFs rendered by the web app's own code),
read and searched with the same access rules as the web app, every content download
audited, and each resource validated with fhir.resources (R4B)."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from openkap.audit.models import AuditEvent
from openkap.core.digest import sha256_hex
from openkap.dosing.models import DosingSession, RemsForm
from openkap.pathway.models import ConsentDocument, ConsentSignature
from tests.fhir.conftest import validate

pytestmark = pytest.mark.django_db
# Non-ASCII on purpose: the size and hash are of the UTF-8 bytes the patient signed.
CONSENT_TEXT = ("Ketamine-assisted psychotherapy — what to expect, the risks (dissociation, raised blood "
                "pressure, nausea) and the alternatives. " * 4).strip()


@pytest.fixture
def documents(record, patient, admin, nurse, org):
    document = ConsentDocument.objects.create(
        organization=org, route="intramuscular", version=2, title="Consent to IM ketamine", text=CONSENT_TEXT,
        sha256=sha256_hex(CONSENT_TEXT), published_by=admin)
    signature = ConsentSignature.objects.create(
        organization=org, episode=record["episode"], patient=patient, document=document,
        typed_name="Maya Lindqvist", document_sha256=document.sha256, channel="clinic", recorded_by=nurse)
    session = record["session"]
    session.status = DosingSession.Status.DISCHARGED
    session.discharged_at = timezone.now()
    session.save()
    now = timezone.now()
    rems = RemsForm.objects.create(
        organization=org, session=session, treatment_date=now.date(), dose_mg=56, devices=2,
        first_device_at=now - timedelta(hours=2), bp_pre="128/82", bp_pre_at=now - timedelta(hours=2),
        bp_discharge="124/80", bp_discharge_at=now, sedation="no", dissociation="yes",
        respiratory_depression="no", pulse_oximetry_used=True, lowest_spo2=96, monitoring_minutes=120,
        clinically_stable_at_discharge=True, serious_adverse_event="no", updated_by=nurse)
    return {"signature": signature, "session": session, "rems": rems}


def test_documents_of_a_patient_search_read_and_validate(documents, patient, nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    bundle = validate(client.get(f"DocumentReference?patient={patient.id}").json())
    found = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    sid = documents["session"].id
    assert set(found) == {f"consent-{documents['signature'].id}", f"session-{sid}", f"rems-{sid}"}

    consent = found[f"consent-{documents['signature'].id}"]
    attachment = consent["content"][0]["attachment"]
    data = CONSENT_TEXT.encode()
    assert attachment["size"] == len(data)
    assert len(data) > len(CONSENT_TEXT)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()  # noqa: S324 - FHIR's hash
    assert attachment["url"] == f"http://testserver/fhir/R4/Binary/consent-{documents['signature'].id}"
    assert consent["type"]["coding"][0] == {"system": "http://loinc.org", "code": "59284-0",
                                            "display": "Consent Document"}
    assert sha256_hex(CONSENT_TEXT) in consent["description"]

    record_doc = found[f"session-{sid}"]
    assert record_doc["docStatus"] == "final"  # discharged
    assert record_doc["context"]["encounter"] == [{"reference": f"Encounter/{sid}"}]
    assert found[f"rems-{sid}"]["docStatus"] == "preliminary"  # not yet submitted to the REMS

    # US Core DocumentReference must-support elements.
    for doc in found.values():
        for element in ("status", "type", "category", "subject", "date", "author", "content"):
            assert doc[element], (doc["id"], element)
        assert doc["content"][0]["attachment"]["contentType"]
        assert doc["content"][0]["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"

    for query, ids in (("type=http://loinc.org|59284-0", {consent["id"]}),
                       ("type=session-record", {record_doc["id"]}),
                       ("category=clinical-note", set(found)),
                       ("date=lt2000-01-01", set()), ("_summary=count", None)):
        response = client.get(f"DocumentReference?patient={patient.id}&{query}")
        assert response.status_code == 200, response.content
        if ids is None:
            assert response.json()["total"] == 3
        else:
            assert {e["resource"]["id"] for e in response.json().get("entry", [])} == ids, query
    for doc_id, doc in found.items():
        assert validate(client.get(f"DocumentReference/{doc_id}").json()) == doc


def test_consent_content_is_the_exact_text_signed_and_audited(documents, patient, nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    doc_id = f"consent-{documents['signature'].id}"
    native = client.get(f"Binary/{doc_id}")
    assert native.status_code == 200
    assert native["Content-Type"] == "text/plain; charset=utf-8"
    assert native["Cache-Control"] == "no-store"
    assert hashlib.sha256(native.content).hexdigest() == documents["signature"].document_sha256
    as_fhir = validate(client.get(f"Binary/{doc_id}", HTTP_ACCEPT="application/fhir+json").json())
    assert base64.b64decode(as_fhir["data"]) == native.content
    assert as_fhir["securityContext"] == {"reference": f"DocumentReference/{doc_id}"}
    reads = AuditEvent.objects.filter(object_type="fhir.Binary", object_id=doc_id, action="view")
    assert reads.count() == 2
    assert {e.patient_id for e in reads} == {patient.id}
    assert {e.via for e in reads} == {"fhir"}


def test_session_pdfs_are_the_web_apps_records(documents, patient, nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    sid = documents["session"].id
    for doc_id in (f"session-{sid}", f"rems-{sid}"):
        response = client.get(f"Binary/{doc_id}", HTTP_ACCEPT="application/pdf")
        assert response.status_code == 200, response.content[:300]
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        assert f'filename="{doc_id}.pdf"' in response["Content-Disposition"]
    # The same audited export as the print button, plus the FHIR read.
    assert AuditEvent.objects.filter(object_type="dosing_session_record", object_id=str(sid), action="export",
                                     patient_id=patient.id).count() == 2
    assert AuditEvent.objects.filter(object_type="fhir.Binary", patient_id=patient.id).count() == 2


def test_a_ready_up_to_date_session_record_is_served_as_prepared(documents, patient, nurse, org, fhir_as, as_actor,
                                                                   monkeypatch, django_capture_on_commit_callbacks):
    from openkap.dosing import documents as dosing_documents
    from openkap.dosing import services as dosing_services
    from openkap.dosing.models import RecordDocument

    sid = documents["session"].id
    with django_capture_on_commit_callbacks(execute=True):
        dosing_services.record_document_request(by=as_actor(nurse, org), session_id=sid)
    prepared = bytes(RecordDocument.objects.get(session_id=sid).content)
    renders = []
    real = dosing_documents.session_record_pdf
    monkeypatch.setattr(dosing_documents, "session_record_pdf", lambda view, **kw: renders.append(1) or real(view))
    client = fhir_as(nurse, org)
    assert client.get(f"Binary/session-{sid}", HTTP_ACCEPT="application/pdf").content == prepared
    assert renders == []  # served as prepared, not rendered again
    DosingSession.objects.filter(pk=sid).update(discharged_at=timezone.now())  # the session changed
    fresh = client.get(f"Binary/session-{sid}", HTTP_ACCEPT="application/pdf").content
    assert fresh.startswith(b"%PDF-")
    assert renders == [1]  # out of date: rendered anew, never the stale copy
    assert AuditEvent.objects.filter(object_type="dosing_session_record", object_id=str(sid), action="export",
                                     patient_id=patient.id).count() == 2


def test_documents_follow_the_access_rules(documents, patient, admin, therapist, unassigned_patient, outsider,
                                           other_org, nurse, org, fhir_as):
    sid = documents["session"].id
    doc_ids = [f"consent-{documents['signature'].id}", f"session-{sid}", f"rems-{sid}"]
    stranger = fhir_as(outsider, other_org)
    for doc_id in doc_ids:
        for path in (f"DocumentReference/{doc_id}", f"Binary/{doc_id}"):
            response = stranger.get(path)
            assert response.status_code == 404, path  # another organisation: not found, not forbidden
            assert "Lindqvist" not in response.content.decode()
    assert stranger.get(f"DocumentReference?patient={patient.id}").status_code == 404
    # An admin runs the registry, not the clinical record.
    assert fhir_as(admin, org).get(f"DocumentReference?patient={patient.id}").status_code == 403
    assert fhir_as(admin, org).get(f"Binary/{doc_ids[0]}").status_code == 403
    # The therapist is on this patient's care team, not on the unassigned patient's.
    therapist_client = fhir_as(therapist, org)
    assert therapist_client.get(f"DocumentReference?patient={patient.id}").status_code == 200
    assert therapist_client.get(f"DocumentReference?patient={unassigned_patient.id}").status_code == 403
    for bad in ("Binary/nothing-1", "Binary/consent-x", f"Binary/consent-{documents['signature'].id + 99}",
                "DocumentReference/rems-999999"):
        assert fhir_as(nurse, org).get(bad).status_code == 404, bad
    response = fhir_as(nurse, org).get("DocumentReference")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["patient"]
    assert not AuditEvent.objects.filter(object_type="fhir.Binary", actor_id=outsider.id).exists()


def test_export_carries_the_documents_and_their_links_work(documents, nurse, org, fhir_as, settings, tmp_path,
                                                           django_capture_on_commit_callbacks):
    import json

    settings.FHIR_EXPORT_DIR = tmp_path
    client = fhir_as(nurse, org)
    with django_capture_on_commit_callbacks(execute=True):
        kick = client.get("Patient/$export?_type=DocumentReference", HTTP_PREFER="respond-async")
    manifest = client.get(kick["Content-Location"].replace("http://testserver", "")).json()
    (output,) = manifest["output"]
    lines = b"".join(client.get(output["url"].replace("http://testserver", "")).streaming_content).splitlines()
    exported = [validate(json.loads(line)) for line in lines]
    assert output["count"] == len(exported) == 3
    consent = next(d for d in exported if d["id"].startswith("consent-"))
    content = client.get(consent["content"][0]["attachment"]["url"].replace("http://testserver", ""))
    assert content.content == CONSENT_TEXT.encode()
