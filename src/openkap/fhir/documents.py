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
from openkap.fhir.resources import _PATIENT_REF, _patient_param, session_updated_expr
from openkap.pathway.models import ConsentSignature
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for

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
    if document is not None:
        return "application/pdf", bytes(document.content)
    view = dosing_selectors.session_record(by=by, session_id=s.id)
    return "application/pdf", dosing_documents.session_record_pdf(view)


def _rems_content(by: Actor, form: RemsForm) -> tuple[str, bytes]:
    view = dosing_selectors.session_record(by=by, session_id=form.session_id)
    return "application/pdf", dosing_documents.rems_form_pdf(view, form)


KINDS = {
    "consent": Kind("consent", Perm.CLINICAL_VIEW, _consents, mapping.consent_document, _consent_content),
    "session": Kind("session", Perm.DOSING_VIEW, _sessions, mapping.session_document, _session_content),
    "rems": Kind("rems", Perm.DOSING_VIEW, _rems, lambda f, base: mapping.rems_document(f, f.session, base),
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
    return Found(mapping.binary(resource_id, content_type, data, _instant(reference["meta"]["lastUpdated"])),
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
        _PATIENT_REF, Param("subject", "reference", "Same as patient"),
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
