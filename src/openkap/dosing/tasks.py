"""Background work of medicine sessions: making the session record PDF (ADR 0060).

Queued by `services.record_document_request` after its commit; run by `openkap
db_worker`. The task reads the request again, so a copy made or re-requested since is
left alone, and checks the requester's access again: a clinician taken off the care
team in the meantime gets no PDF. A failure is retried twice, later; after the third
it is shown on the page with the reason, and a new request tries again.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django_tasks import task

from openkap.accounts.authz import build_actor
from openkap.dosing import documents, selectors, session_facts
from openkap.dosing.models import RecordDocument

log = logging.getLogger(__name__)
Status = RecordDocument.Status
MAX_ATTEMPTS = 3
RETRY_AFTER = (timedelta(seconds=15), timedelta(seconds=60))  # after the first and the second failure


def _claim(document_id: int) -> RecordDocument | None:
    with transaction.atomic():
        document = (RecordDocument.objects.select_for_update(of=("self",)).defer("content")
                    .select_related("requested_by", "organization").filter(pk=document_id).first())
        if document is None or document.status != Status.QUEUED:
            return None
        # The fingerprint of what is about to be printed: a change after this point
        # leaves the copy out of date, and it is made again when next asked for.
        document.source_hash = session_facts.record_fingerprint(document.session_id)
        document.status, document.started_at = Status.RENDERING, timezone.now()
        document.attempts += 1
        document.save(update_fields=["source_hash", "status", "started_at", "attempts"])
    return document


@task()
def prepare_record_document(document_id: int) -> str:
    document = _claim(document_id)
    if document is None:
        return "skipped: not queued"
    mine = RecordDocument.objects.filter(pk=document.pk, status=Status.RENDERING, started_at=document.started_at)
    try:
        by = build_actor(document.requested_by, document.organization, via="worker")
        view = selectors.session_record_to_prepare(by=by, session_id=document.session_id)
        pdf = documents.session_record_pdf(view)
    except (PermissionDenied, Http404) as exc:
        mine.update(status=Status.FAILED, finished_at=timezone.now(),
                    error=f"Not prepared: the requester may no longer open this session ({exc}).")
        return "failed: access"
    except Exception as exc:  # any failure is reported on the page rather than left "being prepared"
        log.exception("Session record %s could not be made (attempt %s)", document.pk, document.attempts)
        reason = f"{type(exc).__name__}: {exc}"[:500]
        if document.attempts < MAX_ATTEMPTS:
            if mine.update(status=Status.QUEUED, error=f"Attempt {document.attempts} failed ({reason}); trying again."):
                enqueue_record_document(document.pk, delay=RETRY_AFTER[document.attempts - 1])
            return "retry"
        mine.update(status=Status.FAILED, finished_at=timezone.now(),
                    error=f"Could not be prepared after {document.attempts} attempts ({reason}).")
        return "failed"
    mine.update(status=Status.READY, content=pdf, sha256=hashlib.sha256(pdf).hexdigest(), size=len(pdf),
                finished_at=timezone.now(), error="")
    return "ready"


def enqueue_record_document(document_id: int, *, delay: timedelta | None = None) -> None:
    """Queue the record for the worker (after a delay, on a backend that can defer)."""
    task = prepare_record_document
    if delay is not None and task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + delay)
    task.enqueue(document_id)
