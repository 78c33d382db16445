"""The session record PDF, prepared by the task worker (ADR 0060).

Rendering a record takes seconds of CPU (WeasyPrint), too long for a request. A
clinician asks for it (`record_document_request`), the worker makes it
(`openkap.dosing.tasks.prepare_record_document`) and the page polls until it is ready.
Each copy carries the fingerprint of the session data it was made from
(`record_fingerprint`): when the session changes, the copy is out of date and a new
request makes it again; a copy that is up to date is never made twice.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.dosing.models import (
    DosePreparation,
    DosingSession,
    ProtocolVersion,
    RecordDocument,
    Verification,
)
from openkap.patients.models import Patient

from .common import session_for

MAX_ATTEMPTS = 3
RETRY_AFTER = (timedelta(seconds=15), timedelta(seconds=60))  # after the first and the second failure


def _hash_rows(digest: Any, model: type[models.Model], rows: models.QuerySet[Any]) -> None:
    fields = [f.attname for f in model._meta.concrete_fields]
    digest.update(model._meta.label.encode())
    for row in rows.order_by("pk").values_list(*fields):
        digest.update(repr(row).encode())


def record_fingerprint(session_id: int) -> str:
    """SHA-256 over every row the session record prints: the session, its patient,
    protocol version and site, each dosing table that points at the session (found
    from the model, so a table added later counts without a change here) and the
    preparations' verifications. Any change to them gives another fingerprint."""
    digest = hashlib.sha256()
    session = DosingSession.objects.filter(pk=session_id)
    _hash_rows(digest, DosingSession, session)
    _hash_rows(digest, Patient, Patient.objects.filter(pk__in=session.values("patient_id")))
    _hash_rows(digest, ProtocolVersion, ProtocolVersion.objects.filter(pk__in=session.values("protocol_version_id")))
    for relation in DosingSession._meta.related_objects:
        model = relation.related_model
        if model is RecordDocument or not isinstance(model, type) or model._meta.app_label != "dosing":
            continue
        _hash_rows(digest, model, model._default_manager.filter(**{relation.field.name: session_id}))
    _hash_rows(digest, Verification, Verification.objects.filter(
        preparation__in=DosePreparation.objects.filter(session_id=session_id).values("pk")))
    return digest.hexdigest()


def record_document_request(*, by: Actor, session_id: int) -> RecordDocument:
    """Ask for the session record PDF. An up-to-date copy that is ready or on its way is
    returned as it is; otherwise the copy is (re)queued for the worker, with the
    attempts counted afresh (this is also how a failed copy is tried again)."""
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_VIEW)
        fingerprint = record_fingerprint(session.id)
        document = (RecordDocument.objects.select_for_update()
                    .filter(session=session, kind=RecordDocument.Kind.SESSION_RECORD).first())
        if document is not None and document.source_hash == fingerprint and not document.is_stuck() and (
                document.status != RecordDocument.Status.FAILED):
            return document
        if document is None:
            document = RecordDocument(organization=session.organization, patient_id=session.patient_id,
                                      session=session, kind=RecordDocument.Kind.SESSION_RECORD)
        document.status, document.source_hash = RecordDocument.Status.QUEUED, fingerprint
        document.requested_by, document.requested_at = by.user, timezone.now()
        document.attempts, document.error, document.started_at, document.finished_at = 0, "", None, None
        document.save()
        audit_record(by=by, action=AuditAction.CREATE, object_type="dosing_record_document", object_id=document.id,
                     patient_id=session.patient_id, break_glass=glass,
                     detail={"session": session.id, "kind": document.kind})
        transaction.on_commit(lambda: enqueue_record_document(document.id), robust=True)
    return document


def enqueue_record_document(document_id: int, *, delay: timedelta | None = None) -> None:
    from openkap.dosing.tasks import prepare_record_document

    task = prepare_record_document
    if delay is not None and task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + delay)
    task.enqueue(document_id)
