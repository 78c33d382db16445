"""Documents handed to a patient (printed in clinic or downloaded from the portal),
rendered in the patient's language whoever asks for them: a clinician printing a
Spanish-speaking patient's safety plan gives them a Spanish page."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for, portal_patient


def patient_language(patient: Patient) -> str:
    return patient.preferred_language or "en"


def document_patient(*, by: Actor, patient_id: int | None) -> tuple[Patient, bool]:
    """The patient a document is printed for, and whether by break-glass: a signed-in
    patient gets only their own (``patient_id`` None), staff need the clinical view of
    the chart (404 in another organisation, 403 off the care team)."""
    if patient_id is None:
        return portal_patient(by), False
    return patient_for(by, patient_id, Perm.CLINICAL_VIEW)


def document_printed(*, by: Actor, patient: Patient, glass: bool, document: str, object_id: object) -> None:
    """Audit a print as an export of the record, with the language it was printed in."""
    audit_record(by=by, action=AuditAction.EXPORT, object_type=f"{document}_pdf", object_id=object_id,
                 patient_id=patient.id, break_glass=glass, detail={"language": patient_language(patient)})


def patient_pdf(patient: Patient, template: str, context: dict[str, Any]) -> bytes:
    """The template rendered as a PDF in the patient's language (dates and month names
    too), with no request: nothing of the asker's session leaks onto the page."""
    from weasyprint import HTML  # imported on use: it loads Pango

    with translation.override(patient_language(patient)):
        html = render_to_string(template, {"patient": patient, "printed_at": timezone.now(), **context})
    return HTML(string=html).write_pdf()


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
