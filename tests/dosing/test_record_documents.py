"""The session record PDF made by the task worker (ADR 0060): asked for, prepared (the
task runs in the test, as the immediate backend runs it when enqueued), polled, served;
made again when the session changes and not before; retried, then shown as failed;
access checked at the request, again in the worker, and at the download; the download
audited; the API's 202 and status URL."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from openkap.audit.models import AuditEvent
from openkap.dosing import documents, services, session_facts
from openkap.dosing.models import STUCK_AFTER, RecordDocument
from openkap.dosing.tasks import MAX_ATTEMPTS, prepare_record_document
from tests.dosing.conftest import NORMAL, run_to_monitoring

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(im_session, nurse_actor, second_nurse_actor, prescriber_actor, stock):
    return run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                             prescriber_actor=prescriber_actor, lot=stock["50"])


@pytest.fixture
def renders(monkeypatch):
    """Count the PDF renderings (the expensive step) without changing them."""
    calls = []
    real = documents.session_record_pdf

    def counting(view, **kw):
        calls.append(view.session.id)
        return real(view, **kw)

    monkeypatch.setattr(documents, "session_record_pdf", counting)
    return calls


def api_for(user, org, as_actor):
    from django.test import Client

    from openkap.accounts import services as account_services

    _, raw = account_services.api_token_create(by=as_actor(user, org), name="t")
    api = Client()
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return api


def url(session, tail=""):
    return f"/dosing/sessions/{session.id}/record{tail}"


def test_asked_prepared_by_the_worker_then_downloaded_and_audited(held, nurse, client_for, renders,
                                                                  django_capture_on_commit_callbacks):
    c = client_for(nurse)
    page = c.get(url(held, "/"))
    assert page.status_code == 200
    assert "No copy has been prepared yet." in page.content.decode()
    assert not RecordDocument.objects.exists()  # opening the page asks for nothing by itself
    assert c.get(url(held, ".pdf")).url == url(held, "/")  # nothing to give yet: the page says why
    with django_capture_on_commit_callbacks(execute=True):
        answer = c.post(url(held, "/prepare/"))
    assert answer.status_code == 302
    document = RecordDocument.objects.get(session=held)
    assert (document.status, document.attempts, renders) == ("ready", 1, [held.id])
    assert document.requested_by == nurse
    assert bytes(document.content).startswith(b"%PDF")
    assert document.sha256 == hashlib.sha256(bytes(document.content)).hexdigest()
    assert document.size == len(bytes(document.content))
    assert document.source_hash == session_facts.record_fingerprint(held.id)
    body = c.get(url(held, "/")).content.decode()
    assert "Ready." in body
    assert document.sha256[:16] in body
    pdf = c.get(url(held, ".pdf"))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content == bytes(document.content)
    read = AuditEvent.objects.filter(object_type="dosing_session_record", object_id=str(held.id)).latest("id")
    assert (read.action, read.actor_email, read.patient_id) == ("export", nurse.email, held.patient_id)
    assert read.detail["sha256"] == document.sha256
    asked = AuditEvent.objects.get(object_type="dosing_record_document", action="create")
    assert (asked.actor_email, asked.patient_id) == (nurse.email, held.patient_id)
    # Each opening of the page is a view of the patient's record; the polls are not.
    assert AuditEvent.objects.filter(object_type="dosing_session_record", object_id=str(held.id),
                                     action="view").count() == 2


def test_an_up_to_date_copy_is_not_made_twice(held, nurse_actor, renders, django_capture_on_commit_callbacks):
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            services.record_document_request(by=nurse_actor, session_id=held.id)
    assert renders == [held.id]
    assert prepare_record_document.call(RecordDocument.objects.get().id) == "skipped: not queued"


def test_a_changed_session_makes_the_copy_stale_and_a_new_request_makes_it_again(
        held, nurse, nurse_actor, client_for, renders, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.record_document_request(by=nurse_actor, session_id=held.id)
    before = RecordDocument.objects.get()
    services.vitals_record(by=nurse_actor, session_id=held.id, **NORMAL)
    c = client_for(nurse)
    body = c.get(url(held, "/")).content.decode()
    assert "The session has changed since the last copy was prepared" in body
    assert 'hx-trigger="load, submit"' in body  # the page asks again by itself
    assert c.get(url(held, ".pdf")).status_code == 302  # an out-of-date copy is never served
    with django_capture_on_commit_callbacks(execute=True):
        c.post(url(held, "/prepare/"))
    after = RecordDocument.objects.get()
    assert after.id == before.id
    assert after.source_hash != before.source_hash
    assert after.source_hash == session_facts.record_fingerprint(held.id)
    assert renders == [held.id, held.id]
    assert c.get(url(held, ".pdf")).status_code == 200


def test_the_fingerprint_follows_what_the_record_prints(held, nurse_actor, nurse, client_for):
    first = session_facts.record_fingerprint(held.id)
    client_for(nurse).get(f"/dosing/sessions/{held.id}/")  # reading changes nothing
    assert session_facts.record_fingerprint(held.id) == first
    event = services.adverse_event_record(by=nurse_actor, session_id=held.id, code="nausea", severity="mild",
                                          outcome="ongoing", serious=False, onset_at=timezone.now())
    second = session_facts.record_fingerprint(held.id)
    assert second != first
    type(event).objects.filter(pk=event.pk).update(outcome="resolved")  # an edited row, not only a new one
    third = session_facts.record_fingerprint(held.id)
    assert third != second
    held.patient.allergies = "Penicillin"  # the header prints the patient's allergies
    held.patient.save(update_fields=["allergies"])
    assert session_facts.record_fingerprint(held.id) != third


def test_failures_are_retried_then_shown_and_a_new_request_tries_again(held, nurse, client_for, monkeypatch,
                                                                      django_capture_on_commit_callbacks):
    real = documents.session_record_pdf
    monkeypatch.setattr(documents, "session_record_pdf", lambda view, **kw: (_ for _ in ()).throw(OSError("disk full")))
    c = client_for(nurse)
    with django_capture_on_commit_callbacks(execute=True):
        c.post(url(held, "/prepare/"))
    document = RecordDocument.objects.get()
    assert (document.status, document.attempts) == ("failed", MAX_ATTEMPTS)
    assert "OSError: disk full" in document.error
    body = c.get(url(held, "/")).content.decode()
    assert "could not be prepared" in body
    assert "Try again" in body
    assert 'hx-trigger="load' not in body  # a failure is not retried by merely looking at it
    monkeypatch.setattr(documents, "session_record_pdf", real)
    with django_capture_on_commit_callbacks(execute=True):
        c.post(url(held, "/prepare/"), HTTP_HX_REQUEST="true")
    document.refresh_from_db()
    assert (document.status, document.attempts, document.error) == ("ready", 1, "")


def test_a_worker_that_died_while_rendering_leaves_a_failed_copy_that_can_be_asked_for_again(
        held, nurse, nurse_actor, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        document = services.record_document_request(by=nurse_actor, session_id=held.id)
    RecordDocument.objects.filter(pk=document.pk).update(
        status="rendering", started_at=timezone.now() - STUCK_AFTER - timedelta(seconds=1))
    assert "could not be prepared" in client_for(nurse).get(url(held, "/")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.record_document_request(by=nurse_actor, session_id=held.id)
    assert RecordDocument.objects.get().status == "ready"


def test_polling_answers_204_until_something_changes_and_writes_nothing(held, nurse, nurse_actor, client_for,
                                                                        django_capture_on_commit_callbacks):
    c = client_for(nurse)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        services.record_document_request(by=nurse_actor, session_id=held.id)
    audits = AuditEvent.objects.count()
    poll = c.get(url(held, "/?known=queued"), HTTP_HX_REQUEST="true")
    assert poll.status_code == 204
    for callback in queued:
        callback()
    poll = c.get(url(held, "/?known=queued"), HTTP_HX_REQUEST="true")
    assert poll.status_code == 200
    assert "Download the session record" in poll.content.decode()
    assert AuditEvent.objects.count() == audits  # the state shows no patient data: polls are not logged
    page = c.get(url(held, "/")).content.decode()
    assert 'role="status"' in page
    assert 'aria-live="polite"' in page


def test_access_is_checked_again_by_the_worker(held, therapist, client_for, django_capture_on_commit_callbacks):
    from openkap.patients.models import CareTeamMember

    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert client_for(therapist).post(url(held, "/prepare/")).status_code == 302
    CareTeamMember.objects.filter(patient=held.patient, user=therapist).update(ended_at=timezone.now())
    for callback in queued:
        callback()
    document = RecordDocument.objects.get()
    assert document.status == "failed"
    assert not document.content
    assert "no longer open" in document.error


def test_other_organisations_get_404_and_roles_without_access_403(held, outsider, other_org, researcher, org,
                                                                     client_for, as_actor):
    web, api = client_for(outsider), api_for(outsider, other_org, as_actor)
    base = f"/api/v1/dosing/sessions/{held.id}/record"
    for answer in (web.get(url(held, "/")), web.post(url(held, "/prepare/")), web.get(url(held, ".pdf")),
                   api.get(base), api.post(base), api.get(base + ".pdf")):
        assert answer.status_code == 404
    web, api = client_for(researcher), api_for(researcher, org, as_actor)
    for answer in (web.get(url(held, "/")), web.post(url(held, "/prepare/")), web.get(url(held, ".pdf")),
                   api.get(base), api.post(base), api.get(base + ".pdf")):
        assert answer.status_code == 403
    assert not RecordDocument.objects.exists()


def test_api_kick_off_202_status_and_download(held, nurse, org, as_actor, django_capture_on_commit_callbacks):
    c = api_for(nurse, org, as_actor)
    base = f"/api/v1/dosing/sessions/{held.id}/record"
    assert c.get(base).json()["state"] == "none"
    refused = c.get(base + ".pdf")
    assert refused.status_code == 409
    assert "not ready (none)" in refused.json()["detail"]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        kicked = c.post(base)
    assert kicked.status_code == 202
    assert kicked["Location"] == base
    assert kicked.json()["state"] == "queued"
    waiting = c.get(base)
    assert (waiting.status_code, waiting["Retry-After"]) == (202, "2")
    for callback in queued:
        callback()
    done = c.get(base)
    assert done.status_code == 200
    out = done.json()
    assert out["state"] == "ready"
    assert out["download_url"] == base + ".pdf"
    pdf = c.get(out["download_url"])
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == out["sha256"]
