"""Bulk Data $export (FHIR Bulk Data Access IG v2): kick-off, polling with X-Progress,
the manifest, NDJSON files validated line by line with fhir.resources, access (only the
requester, only what they may read), cancel, expiry and cleanup."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from openkap.audit.models import AuditEvent
from openkap.fhir import export
from openkap.fhir.models import ExportJob
from tests.fhir.conftest import validate
from tests.profiles import examples

pytestmark = pytest.mark.django_db
ASYNC = {"HTTP_PREFER": "respond-async", "HTTP_ACCEPT": "application/fhir+json"}


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.FHIR_EXPORT_DIR = tmp_path / "exports"
    return settings.FHIR_EXPORT_DIR


def kick_off(client, path, capture, **headers):
    with capture(execute=True):
        response = client.get(path, **{**ASYNC, **headers})
    return response


def manifest_of(client, response):
    assert response.status_code == 202, response.content
    poll = response["Content-Location"].replace("http://testserver", "")
    status = client.get(poll)
    assert status.status_code == 200, status.content
    return poll, status.json()


def download(client, manifest) -> dict[str, list[dict]]:
    files = {}
    for output in manifest["output"]:
        response = client.get(output["url"].replace("http://testserver", ""))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+ndjson"
        lines = b"".join(response.streaming_content).decode().splitlines()
        resources = [validate(json.loads(line)) for line in lines]
        assert len(resources) == output["count"]
        assert {r["resourceType"] for r in resources} == {output["type"]}
        files[output["type"]] = resources
    return files


def test_system_export_of_the_clinic_validates_file_by_file(record, patient, unassigned_patient, nurse, org,
                                                           fhir_as, django_capture_on_commit_callbacks):
    client = fhir_as(nurse, org)
    _poll, manifest = manifest_of(client, kick_off(client, "$export", django_capture_on_commit_callbacks))
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/R4/$export")
    files = download(client, manifest)
    # No appointments, orders, plans... in this record: an empty type has no file.
    assert set(files) == {"Patient", "Encounter", "Observation", "QuestionnaireResponse", "Practitioner",
                          "PractitionerRole", "Organization", "Location", "Questionnaire", "DocumentReference"}
    # The session under way has its record, preliminary until discharge, at the server's address.
    (document,) = files["DocumentReference"]
    assert (document["id"], document["docStatus"]) == (f"session-{record['session'].id}", "preliminary")
    assert document["content"][0]["attachment"]["url"] == f"http://testserver/fhir/R4/Binary/session-{record['session'].id}"
    assert {p["id"] for p in files["Patient"]} == {str(patient.id), str(unassigned_patient.id)}
    # The same Observations a search returns: 10 PHQ-9 (total + 9 items), 4 + 1 vitals, a weight, a height.
    assert len(files["Observation"]) == 17
    events = AuditEvent.objects.filter(object_type="fhir.export").order_by("id")
    assert [e.detail["event"] for e in events][:2] == ["requested", "completed"]
    assert events[1].detail["counts"]["Observation"] == 17
    assert all(e.via == "fhir" for e in events)


def test_patient_and_group_exports_with_type_and_since(record, patient, therapist, nurse, org, fhir_as,
                                                     django_capture_on_commit_callbacks):
    client = fhir_as(nurse, org)
    _, manifest = manifest_of(client, kick_off(client, "Patient/$export?_type=Observation,Encounter",
                                               django_capture_on_commit_callbacks))
    assert {o["type"] for o in manifest["output"]} == {"Observation", "Encounter"}
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    _, manifest = manifest_of(client, kick_off(client, f"Patient/$export?_since={later.replace('+', '%2B')}",
                                               django_capture_on_commit_callbacks))
    assert manifest["output"] == []
    groups = validate(client.get("Group").json())
    ids = {e["resource"]["id"] for e in groups["entry"]}
    assert {"all-patients", f"care-team-{therapist.id}"} <= ids
    _, manifest = manifest_of(client, kick_off(client, f"Group/care-team-{therapist.id}/$export?_type=Patient",
                                               django_capture_on_commit_callbacks))
    assert [p["id"] for p in download(client, manifest)["Patient"]] == [str(patient.id)]


def test_a_therapist_exports_only_the_care_team(record, patient, unassigned_patient, therapist, org, fhir_as,
                                                django_capture_on_commit_callbacks):
    client = fhir_as(therapist, org)
    _, manifest = manifest_of(client, kick_off(client, "Patient/$export?_type=Patient",
                                               django_capture_on_commit_callbacks))
    assert [p["id"] for p in download(client, manifest)["Patient"]] == [str(patient.id)]


def test_only_the_requester_gets_status_and_files(record, nurse, therapist, outsider, other_org, org, fhir_as,
                                                  django_capture_on_commit_callbacks):
    client = fhir_as(nurse, org)
    poll, manifest = manifest_of(client, kick_off(client, "$export?_type=Patient",
                                                  django_capture_on_commit_callbacks))
    file_url = manifest["output"][0]["url"].replace("http://testserver", "")
    for stranger in (fhir_as(therapist, org), fhir_as(outsider, other_org)):
        assert stranger.get(poll).status_code == 404
        assert stranger.get(file_url).status_code == 404
        assert stranger.delete(poll).status_code == 404
    assert client.get(file_url.replace("Patient.ndjson", "Observation.ndjson")).status_code == 404


def test_files_are_kept_gzip_and_sent_gzip_to_clients_that_accept_it(record, nurse, org, fhir_as, export_dir,
                                                                        django_capture_on_commit_callbacks):
    import gzip

    client = fhir_as(nurse, org)
    _, manifest = manifest_of(client, kick_off(client, "$export?_type=Patient,Observation",
                                               django_capture_on_commit_callbacks))
    plain = download(client, manifest)  # no Accept-Encoding: the NDJSON itself, validated line by line
    for output in manifest["output"]:
        url = output["url"].replace("http://testserver", "")
        packed = client.get(url, HTTP_ACCEPT_ENCODING="br;q=1.0, gzip;q=0.8")
        assert packed["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in packed["Vary"]
        body = b"".join(packed.streaming_content)
        assert int(packed["Content-Length"]) == len(body)
        lines = gzip.decompress(body).decode().splitlines()
        assert [json.loads(line) for line in lines] == plain[output["type"]]
        refused = client.get(url, HTTP_ACCEPT_ENCODING="gzip;q=0, identity")
        assert not refused.has_header("Content-Encoding")
        assert b"".join(refused.streaming_content).decode().splitlines() == lines
    stored = sorted(p.name for p in export_dir.rglob("*") if p.is_file())
    assert stored == sorted(f"{o['type']}.ndjson.gz" for o in manifest["output"])


def test_any_accept_encoding_gets_the_same_lines(record, nurse, org, fhir_as, export_dir,
                                                 django_capture_on_commit_callbacks):
    import gzip

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = fhir_as(nurse, org)
    _, manifest = manifest_of(client, kick_off(client, "$export?_type=Patient", django_capture_on_commit_callbacks))
    url = manifest["output"][0]["url"].replace("http://testserver", "")
    expected = b"".join(client.get(url).streaming_content)
    header = st.one_of(st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=40),
                       st.lists(st.sampled_from(["gzip", "GZIP", "x-gzip", "*", "br", "identity", "deflate",
                                                 ";q=0", ";q=0.5", ";q=abc", ";q=", " "]), max_size=5).map("".join))

    @settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(accept=header)
    def check(accept):
        response = client.get(url, HTTP_ACCEPT_ENCODING=accept)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        if response.has_header("Content-Encoding"):
            assert response["Content-Encoding"] == "gzip"
            body = gzip.decompress(body)
        assert body == expected

    check()


def test_a_clinic_may_keep_the_files_plain(record, nurse, org, fhir_as, export_dir, settings,
                                           django_capture_on_commit_callbacks):
    settings.FHIR_EXPORT_GZIP = False
    client = fhir_as(nurse, org)
    _, manifest = manifest_of(client, kick_off(client, "$export?_type=Patient", django_capture_on_commit_callbacks))
    assert [p.name for p in export_dir.rglob("*") if p.is_file()] == ["Patient.ndjson"]
    response = client.get(manifest["output"][0]["url"].replace("http://testserver", ""), HTTP_ACCEPT_ENCODING="gzip")
    assert not response.has_header("Content-Encoding")
    assert [json.loads(line)["resourceType"] for line in b"".join(response.streaming_content).splitlines()] == [
        "Patient"] * manifest["output"][0]["count"]
    settings.FHIR_EXPORT_GZIP = True  # a file written plain is still found and served after the setting changes
    assert client.get(manifest["output"][0]["url"].replace("http://testserver", "")).status_code == 200


def test_polling_a_queued_export_says_202_with_progress(nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    response = client.get("$export", **ASYNC)  # on_commit does not run: the task stays queued
    assert response.status_code == 202
    status = client.get(response["Content-Location"].replace("http://testserver", ""))
    assert status.status_code == 202
    assert status["X-Progress"] == "queued"


def test_cancel_deletes_the_files(record, nurse, org, fhir_as, django_capture_on_commit_callbacks, export_dir):
    client = fhir_as(nurse, org)
    poll, _ = manifest_of(client, kick_off(client, "$export?_type=Patient", django_capture_on_commit_callbacks))
    assert any(export_dir.iterdir())
    assert client.delete(poll).status_code == 202
    assert client.get(poll).status_code == 404
    assert client.delete(poll).status_code == 404
    assert not any(p.is_file() for p in export_dir.rglob("*"))


def test_a_cancel_during_the_run_stops_it_and_leaves_no_files(record, nurse, org, fhir_as, monkeypatch, export_dir):
    client = fhir_as(nurse, org)
    client.get("$export?_type=Patient", **ASYNC)
    job = ExportJob.objects.get()
    real = export.EXPORTERS["Patient"]

    def cancelling(patients, since, by):
        for n, resource in enumerate(real[1](patients, since, by)):
            if n == 0:
                ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.CANCELLED)
            yield resource

    monkeypatch.setitem(export.EXPORTERS, "Patient", (real[0], cancelling, True))
    monkeypatch.setattr(export, "CHECK_EVERY", 1)
    assert export.run_export.call(str(job.id)) == "cancelled"
    assert not any(p.is_file() for p in export_dir.rglob("*"))
    assert export.run_export.call(str(job.id)) == "skipped: not queued"


def test_a_cancel_while_vitals_are_read_ahead_stops_the_reader(record, nurse, org, fhir_as, monkeypatch,
                                                              export_dir):
    """On PostgreSQL the vitals are read in a thread (COPY batches) while the job writes its
    progress on the same connection: the two take turns, a cancel seen at a check stops
    the read, and no reader thread is left behind (on SQLite the same flow, no thread)."""
    import threading
    from datetime import datetime

    from django.db import connection

    from openkap.dosing.models import VitalSigns

    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    VitalSigns.objects.bulk_create([
        VitalSigns(organization=org, session=record["session"], taken_at=start + timedelta(minutes=n), systolic=120,
                   diastolic=80, heart_rate=70, spo2=97, respiratory_rate=14, recorded_by=nurse) for n in range(30)])
    client = fhir_as(nurse, org)
    client.get("$export?_type=Observation", **ASYNC)
    job = ExportJob.objects.get()
    blocks = []
    real = export.bulk.vital_ndjson

    def cancelling(block):
        blocks.append(block)
        if len(blocks) == 2:  # as a DELETE would, taking its turn on this test's one connection
            with export._turn(connection):
                ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.CANCELLED)
        return real(block)

    monkeypatch.setattr(export.bulk, "vital_ndjson", cancelling)
    monkeypatch.setattr(export, "COPY_ROWS", 4)
    monkeypatch.setattr(export, "BLOCK_ROWS", 2)
    monkeypatch.setattr(export, "CHECK_EVERY", 1)
    assert export.run_export.call(str(job.id)) == "cancelled"
    assert len(blocks) == 2  # stopped at the check after the block that saw the cancel
    assert not any(p.is_file() for p in export_dir.rglob("*"))
    assert not [t for t in threading.enumerate() if t.name == "fhir-export-read"]


def test_a_check_while_the_reader_holds_the_connection_can_wait_for_a_later_write(record, nurse, org, fhir_as):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL's vitals are read in a thread")
    client = fhir_as(nurse, org)
    client.get("$export?_type=Observation", **ASYNC)
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING)
    with export._turn(connection):  # as the reader does for a COPY batch
        assert export._checkpoint(job, "not now", wait=False) is False
    assert ExportJob.objects.get().progress != "not now"
    assert export._checkpoint(job, "now", wait=False) is True
    assert ExportJob.objects.get().progress == "now"
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.CANCELLED)
    with pytest.raises(export._Cancelled):
        export._checkpoint(job, "cancelled", wait=False)


def test_an_export_reads_every_vitals_row_across_read_ahead_batches(record, nurse, org, fhir_as, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    from datetime import datetime

    from openkap.dosing.models import VitalSigns

    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    VitalSigns.objects.bulk_create([
        VitalSigns(organization=org, session=record["session"], taken_at=start + timedelta(minutes=n), systolic=120,
                   diastolic=80, heart_rate=60 + n, spo2=97, respiratory_rate=14, recorded_by=nurse) for n in range(23)])
    monkeypatch.setattr(export, "COPY_ROWS", 4)
    monkeypatch.setattr(export, "CHECK_EVERY", 3)  # progress written between (and during) the batches
    client = fhir_as(nurse, org)
    _, manifest = manifest_of(client, kick_off(client, "$export?_type=Observation", django_capture_on_commit_callbacks))
    rates = [r["valueQuantity"]["value"] for r in download(client, manifest)["Observation"] if r["id"].endswith("-hr")]
    assert rates[-23:] == list(range(60, 83))


def test_read_ahead_hands_over_every_batch_in_order_and_raises_the_readers_error():
    def batches(fail_after):
        for n in range(5):
            if n == fail_after:
                raise LookupError("the database went away")
            yield [bytes([n])]

    assert list(export._read_ahead(batches(None))) == [[b"\x00"], [b"\x01"], [b"\x02"], [b"\x03"], [b"\x04"]]
    got = []
    with pytest.raises(LookupError, match="went away"):
        got.extend(export._read_ahead(batches(3)))
    assert got == [[b"\x00"], [b"\x01"], [b"\x02"]]


def test_read_ahead_stopped_early_ends_its_reader():
    import threading
    from itertools import count

    read = []

    def endless():
        for n in count():
            read.append(n)
            yield [b"x"]

    ahead = export._read_ahead(endless())
    assert next(ahead) == [b"x"]
    ahead.close()  # what an error or a cancel in the job does
    assert not [t for t in threading.enumerate() if t.name == "fhir-export-read"]
    assert len(read) <= 3  # the one taken, one waiting, one put into the slot freed on close


def test_expired_exports_are_gone_and_cleaned_up(record, nurse, org, fhir_as, django_capture_on_commit_callbacks,
                                                 export_dir):
    client = fhir_as(nurse, org)
    poll, manifest = manifest_of(client, kick_off(client, "$export?_type=Patient", django_capture_on_commit_callbacks))
    ExportJob.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    call_command("fhir_export_cleanup")
    assert ExportJob.objects.get().status == "expired"
    assert not any(p.is_file() for p in export_dir.rglob("*"))
    assert client.get(poll).status_code == 404
    assert client.get(manifest["output"][0]["url"].replace("http://testserver", "")).status_code == 404


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("$export?_type=Spaceship", ASYNC, 400),
    ("Patient/$export?_type=Organization", ASYNC, 400),
    ("$export?_since=yesterday", ASYNC, 400),
    ("$export?_since=2026-01-01T00:00:00", ASYNC, 400),
    ("$export?_outputFormat=text/csv", ASYNC, 400),
    ("$export?_typeFilter=Patient%3Fgender%3Dmale", ASYNC, 400),
    ("$export", {"HTTP_ACCEPT": "application/fhir+json"}, 400),
    ("Group/nope/$export", ASYNC, 404),
    ("Group/care-team-999999/$export", ASYNC, 404),
    ("$export-poll/00000000-0000-0000-0000-000000000000", {}, 404),
    ("$export-file/00000000-0000-0000-0000-000000000000/Patient.ndjson", {}, 404),
])
def test_bad_kick_offs_change_nothing(nurse, org, fhir_as, path, headers, status):
    response = fhir_as(nurse, org).get(path, **headers)
    assert response.status_code == status, response.content
    validate(response.json())
    assert not ExportJob.objects.exists()


def test_export_scope_follows_permissions(researcher, admin, org, fhir_as, django_capture_on_commit_callbacks):
    assert fhir_as(researcher, org).get("$export", **ASYNC).status_code == 403
    assert fhir_as(admin, org).get("$export?_type=Observation", **ASYNC).status_code == 403
    client = fhir_as(admin, org)
    _, _manifest = manifest_of(client, kick_off(client, "$export", django_capture_on_commit_callbacks))
    job = ExportJob.objects.get()
    assert "Observation" not in job.types
    assert "Patient" in job.types


def test_too_many_open_exports_are_throttled(nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    for _ in range(export.MAX_OPEN_JOBS):
        assert client.get("$export?_type=Patient", **ASYNC).status_code == 202
    assert client.get("$export?_type=Patient", **ASYNC).status_code == 429
    assert not ExportJob.objects.exclude(status="queued").exists()


def test_capability_statement_names_the_export_operations(nurse, org, fhir_as):
    from django.test import Client

    statement = Client().get("/fhir/R4/metadata").json()
    assert [op["name"] for op in statement["rest"][0]["operation"]] == ["export"]
    with_export = {r["type"] for r in statement["rest"][0]["resource"] if r.get("operation")}
    assert with_export == {"Patient", "Group"}
