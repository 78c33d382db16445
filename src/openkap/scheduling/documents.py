"""The appointment letter a patient is given: their coming appointments, where, with
whom, and what to do before a medicine session, in the patient's language."""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.pathway import selectors as pathway
from openkap.pathway.documents import main_site
from openkap.patients.documents import document_patient, document_printed, patient_pdf
from openkap.scheduling.models import Appointment, AppointmentKind

LETTER_LIMIT = 30


def appointment_letter_pdf(*, by: Actor, patient_id: int | None = None) -> tuple[bytes, str]:
    """Booked appointments from now on (at most 30); 404 when there are none."""
    patient, glass = document_patient(by=by, patient_id=patient_id)
    appointments = list(
        Appointment.objects.filter(organization=patient.organization, patient=patient,
                                   status=Appointment.Status.BOOKED, end__gte=timezone.now())
        .select_related("site", "room").prefetch_related("participants__user").order_by("start")[:LETTER_LIMIT]
    )
    if not appointments:
        raise Http404("There are no coming appointments to print.")
    document_printed(by=by, patient=patient, glass=glass, document="appointment_letter", object_id=patient.id)
    episode = pathway.current_episode(patient)
    dosing = any(a.kind == AppointmentKind.DOSING for a in appointments)
    instructions = pathway.pre_session_instructions(episode) if episode and dosing else None
    pdf = patient_pdf(patient, "scheduling/pdf/appointment_letter.html", {
        "organization": patient.organization, "site": main_site(patient.organization),
        "appointments": appointments, "instructions": instructions, "has_dosing": dosing,
        "own_crisis": patient.organization.own_crisis_resources,
    })
    return pdf, f"appointments-{patient.mrn}.pdf"
