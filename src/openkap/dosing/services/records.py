"""The session record PDF, prepared by the task worker (ADR 0060).

Rendering a record takes seconds of CPU (WeasyPrint), too long for a request. A
clinician asks for it (`record_document_request`), the worker makes it
(`openkap.dosing.tasks.prepare_record_document`) and the page polls until it is ready.
Each copy carries the fingerprint of the session data it was made from
(`session_facts.record_fingerprint`): when the session changes, the copy is out of date and a new
request makes it again; a copy that is up to date is never made twice.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.dosing.access import session_for
from openkap.dosing.models import (
    RecordDocument,
)
from openkap.dosing.session_facts import record_fingerprint
from openkap.dosing.tasks import enqueue_record_document


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
