"""DocumentReference and Binary: the patient's documents that OpenKAP holds or prints,
with the same access rules and audit as in the web app.

- ``consent-N``: a signed informed consent; the content is the exact text signed.
- ``session-N``: the medicine session record PDF (as the session page prints it).
- ``rems-N``: the SPRAVATO REMS patient monitoring form PDF of session N.

``Binary/<id>`` serves the content: the PDF or text itself, or a Binary resource when the
client asks for FHIR JSON. Session PDFs are rendered when read, through the same selector
and template as the web app's print button, so they are never older than the record.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404

from openkap.accounts.authz import Actor
from openkap.core import fhir as core
from openkap.core.authz import Perm
from openkap.dosing import documents as dosing_documents
from openkap.dosing import selectors as dosing_selectors
from openkap.dosing.models import DosingSession, RemsForm
from openkap.fhir import mapping
from openkap.fhir.framework import (
    BASE_URL,
    FhirError,
    Found,
    Page,
    Param,
    Query,
    ResourceType,
    db_id,
    list_page,
    register,
)
from openkap.fhir.mapping import _meta
from openkap.fhir.resources.common import PATIENT_PARAMS, _patient_param
from openkap.fhir.resources.encounter import session_updated_expr
from openkap.pathway.models import ConsentSignature
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for

# --- the resources (dicts) ---------------------------------------------------------------

_CONSENT_TYPE = {"coding": [core.coding(core.LOINC, "59284-0", "Consent Document")], "text": "Consent Document"}
_SESSION_RECORD_TYPE = {"coding": [core.coding(core.LOCAL_DOCUMENT_TYPE, "session-record", "Medicine session record")],
                        "text": "Medicine session record"}
_REMS_TYPE = {"coding": [core.coding(core.LOCAL_DOCUMENT_TYPE, "rems-monitoring-form",
                                     "SPRAVATO REMS patient monitoring form")],
              "text": "SPRAVATO REMS patient monitoring form"}
_CLINICAL_NOTE = [{"coding": [core.coding(core.US_CORE_DOCUMENT_CATEGORY, "clinical-note", "Clinical Note")]}]
_MIME_SUFFICIENT = core.coding(core.IHE_FORMAT, "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")
# A session's record is final once the patient has left (discharged, or ended without a dose).
_FINAL_SESSION = {DosingSession.Status.DISCHARGED, DosingSession.Status.NOT_DOSED}


def _document_reference(doc_id: str, *, updated: datetime, patient_id: int, type_: dict[str, Any], date: datetime,
                        author: str, doc_status: str, attachment: dict[str, Any], base: str,
                        encounter_id: int | None = None, period: dict[str, str] | None = None,
                        description: str = "") -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "DocumentReference", "id": doc_id,
        "meta": _meta(updated, f"{core.US_CORE}/us-core-documentreference"),
        "identifier": [{"system": "urn:openkap:document", "value": doc_id}],
        "status": "current", "docStatus": doc_status, "type": type_, "category": _CLINICAL_NOTE,
        "subject": {"reference": f"Patient/{patient_id}"}, "date": core.instant(date),
        "author": [{"reference": author}],
        "content": [{"attachment": {**attachment, "url": f"{base}/Binary/{doc_id}"}, "format": _MIME_SUFFICIENT}],
    }
    if description:
        res["description"] = description
    if encounter_id is not None:
        res["context"] = {"encounter": [{"reference": f"Encounter/{encounter_id}"}], **({"period": period} if period else {})}
    return res


def consent_document(s: ConsentSignature, base: str) -> dict[str, Any]:
    text = mapping.consent_text(s)
    document = s.document
    return _document_reference(
        f"consent-{s.id}", updated=s.withdrawn_at or s.signed_at, patient_id=s.patient_id, type_=_CONSENT_TYPE,
        date=s.signed_at, author=f"Patient/{s.patient_id}", doc_status="final", base=base,
        attachment={"contentType": mapping.CONSENT_CONTENT_TYPE, "size": len(text),
                    "hash": mapping.sha1_base64(text), "title": f"{document.title} v{document.version}",
                    "creation": core.instant(s.signed_at)},
        description=f"Signed by {s.typed_name} ({s.get_channel_display().lower()}); SHA-256 of the text signed "
                    f"{s.document_sha256}" + ("; withdrawn" if s.withdrawn_at else ""),
    )


def _session_period(s: DosingSession) -> dict[str, str]:
    start, end = s.started_at or s.scheduled_start, s.discharged_at or s.ended_at
    return {"start": core.instant(start), **({"end": core.instant(end)} if end else {})}


def session_document(s: DosingSession, base: str) -> dict[str, Any]:
    """The medicine session record (PDF, rendered when it is read: always the record as it now stands)."""
    return _document_reference(
        f"session-{s.id}", updated=mapping.session_updated(s), patient_id=s.patient_id, type_=_SESSION_RECORD_TYPE,
        date=mapping.session_updated(s), author=f"Organization/{s.organization_id}", base=base,
        doc_status="final" if s.status in _FINAL_SESSION else "preliminary",
        attachment={"contentType": "application/pdf", "title": f"Medicine session record, session {s.id}"},
        encounter_id=s.id, period=_session_period(s),
    )


def rems_document(form: RemsForm, s: DosingSession, base: str) -> dict[str, Any]:
    return _document_reference(
        f"rems-{s.id}", updated=form.submitted_at or form.updated_at, patient_id=s.patient_id, type_=_REMS_TYPE,
        date=form.updated_at, author=f"Organization/{s.organization_id}", base=base,
        doc_status="final" if form.submitted_at else "preliminary",
        attachment={"contentType": "application/pdf",
                    "title": f"SPRAVATO REMS patient monitoring form, session {s.id}"},
        encounter_id=s.id, period=_session_period(s),
        description="Submitted to the REMS" if form.submitted_at else "Not yet submitted to the REMS",
    )


def binary(doc_id: str, content_type: str, data: bytes, updated: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Binary", "id": doc_id, "meta": _meta(updated), "contentType": content_type,
        "securityContext": {"reference": f"DocumentReference/{doc_id}"},
        "data": base64.b64encode(data).decode(),
    }


# --- reads and searches --------------------------------------------------------------------

_RECORDED = [s for s in DosingSession.Status if s not in (DosingSession.Status.SCHEDULED,
                                                           DosingSession.Status.CANCELLED)]


@dataclass(frozen=True)
class Kind:
    """One source of documents: its id prefix, the permission that reads it, its rows."""

    prefix: str
    perm: Perm
    rows: Callable[[Actor], QuerySet[Any]]  # the organisation's rows: fhir_patient_id, fhir_updated
    to_fhir: Callable[[Any, str], dict[str, Any]]
    content: Callable[[Actor, Any], tuple[str, bytes]]


def _consents(by: Actor) -> QuerySet[Any]:
    return (ConsentSignature.objects.filter(organization=by.organization).select_related("document")
            .annotate(fhir_patient_id=F("patient_id"), fhir_updated=Coalesce("withdrawn_at", "signed_at")))


def _sessions(by: Actor) -> QuerySet[Any]:
    return (DosingSession.objects.filter(organization=by.organization, status__in=_RECORDED)
            .annotate(fhir_patient_id=F("patient_id"), fhir_updated=session_updated_expr()))


def _rems(by: Actor) -> QuerySet[Any]:
    return (RemsForm.objects.filter(organization=by.organization).select_related("session")
            .annotate(fhir_patient_id=F("session__patient_id"),
                      fhir_updated=Coalesce("submitted_at", "updated_at")))


def _consent_content(by: Actor, s: ConsentSignature) -> tuple[str, bytes]:
    return mapping.CONSENT_CONTENT_TYPE, mapping.consent_text(s)


def _session_content(by: Actor, s: DosingSession) -> tuple[str, bytes]:
    # The worker's copy when it is ready and up to date (ADR 0060), else rendered now;
    # either read is audited as the web app's print.
    document = dosing_selectors.record_document_download(by=by, session_id=s.id)
    if document is not None and document.content is not None:  # a ready document has its PDF
        return "application/pdf", bytes(document.content)
    view = dosing_selectors.session_record(by=by, session_id=s.id)
    return "application/pdf", dosing_documents.session_record_pdf(view)


def _rems_content(by: Actor, form: RemsForm) -> tuple[str, bytes]:
    view = dosing_selectors.session_record(by=by, session_id=form.session_id)
    return "application/pdf", dosing_documents.rems_form_pdf(view, form)


KINDS = {
    "consent": Kind("consent", Perm.CLINICAL_VIEW, _consents, consent_document, _consent_content),
    "session": Kind("session", Perm.DOSING_VIEW, _sessions, session_document, _session_content),
    "rems": Kind("rems", Perm.DOSING_VIEW, _rems, lambda f, base: rems_document(f, f.session, base),
                 _rems_content),
}


def _row(by: Actor, doc_id: str) -> tuple[Kind, Any]:
    prefix, _, number = doc_id.partition("-")
    kind = KINDS.get(prefix)
    if kind is None:
        raise Http404
    pk = db_id(number)
    row = kind.rows(by).filter(session_id=pk).first() if prefix == "rems" else kind.rows(by).filter(pk=pk).first()
    if row is None:
        raise Http404
    return kind, row


def document_read(by: Actor, resource_id: str) -> Found:
    kind, row = _row(by, resource_id)
    _, glass = patient_for(by, row.fhir_patient_id, kind.perm)
    return Found(kind.to_fhir(row, BASE_URL.get()), row.fhir_patient_id, glass)


def binary_read(by: Actor, resource_id: str) -> Found:
    """The document's content (the views answer it natively unless FHIR JSON is asked for)."""
    kind, row = _row(by, resource_id)
    _, glass = patient_for(by, row.fhir_patient_id, kind.perm)
    reference = kind.to_fhir(row, BASE_URL.get())
    content_type, data = kind.content(by, row)
    return Found(binary(resource_id, content_type, data, _instant(reference["meta"]["lastUpdated"])),
                 row.fhir_patient_id, glass)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _readable_kinds(by: Actor) -> list[Kind]:
    kinds = [k for k in KINDS.values() if by.can(k.perm)]
    if not kinds:
        raise FhirError(403, "forbidden", "Reading documents needs the clinical record or the session records")
    return kinds


def document_search(by: Actor, query: Query) -> Page:
    categories, types, statuses, dates = (query.tokens("category"), query.tokens("type"), query.tokens("status"),
                                          query.dates("date"))
    patient_id = _patient_param(query)
    if patient_id is None:
        raise FhirError(400, "required", "DocumentReference search needs patient= (a population is exported "
                        "with $export)", expression=["patient"])
    kinds = _readable_kinds(by)
    patient, glass = patient_for(by, patient_id, kinds[0].perm)
    base = BASE_URL.get()
    resources = []
    for kind in kinds:
        for row in kind.rows(by).filter(fhir_patient_id=patient.id).order_by("pk"):
            resources.append(kind.to_fhir(row, base))
    for tokens in categories:
        resources = [r for r in resources if core.token_matches(tokens, _codings(r["category"]))]
    for tokens in types:
        resources = [r for r in resources if core.token_matches(tokens, _codings([r["type"]]))]
    for tokens in statuses:
        resources = [r for r in resources if core.token_matches(tokens, [("http://hl7.org/fhir/document-reference-status",
                                                                          r["status"])])]
    for r in dates:
        resources = [res for res in resources if r.matches(_instant(res["date"]))]
    resources.sort(key=lambda res: (res["date"], res["id"]))
    page = list_page(resources, query)
    page.patient_ids, page.break_glass = {patient.id}, glass
    return page


def _codings(concepts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for concept in concepts for c in concept["coding"]]


def documents_export(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[dict[str, Any]]:
    base = BASE_URL.get()
    for kind in KINDS.values():
        if not by.can(kind.perm):
            continue
        rows = kind.rows(by).filter(fhir_patient_id__in=patients.values("pk"))
        if since is not None:
            rows = rows.filter(fhir_updated__gte=since)
        for row in rows.order_by("pk").iterator(chunk_size=2000):
            yield kind.to_fhir(row, base)


register(ResourceType(
    "DocumentReference",
    "The patient's documents: signed informed consents (consent-N, the exact text signed), medicine "
    "session records (session-N, PDF) and SPRAVATO REMS monitoring forms (rems-N, PDF). The content "
    "is at Binary/<id>, served to those who may read the document and audited. Search needs patient.",
    profile=f"{core.US_CORE}/us-core-documentreference",
    params=(
        *PATIENT_PARAMS,
        Param("category", "token", "clinical-note"),
        Param("type", "token", "LOINC 59284-0 (consent) or the local document-type codes"),
        Param("date", "date", "When the document was signed or last changed"),
        Param("status", "token", "current"),
    ),
    read=document_read, search=document_search,
))
register(ResourceType(
    "Binary",
    "A DocumentReference's content: the PDF or text itself, or a Binary resource (base64) when "
    "the request asks for application/fhir+json.",
    read=binary_read,
))
