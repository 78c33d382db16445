"""Pages of the pathway a patient is given, as PDFs in the patient's language: a copy
of the consent they signed and their safety plan. Printed from the chart or
downloaded from the portal; every print is audited as an export."""

from __future__ import annotations

from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from openkap.accounts.authz import Actor
from openkap.accounts.models import Organization, Site
from openkap.pathway import selectors
from openkap.patients.documents import document_patient, document_printed, patient_pdf

# Core's section keys (core.pathway.plan.SAFETY_PLAN_SECTIONS, English for staff) with
# their headings in the reader's language; a test keeps the keys equal.
SAFETY_PLAN_LABELS = {
    "coping_plan": _("Coping plan for the medicine session"),
    "warning_signs": _("Warning signs"),
    "coping_strategies": _("Coping strategies"),
    "people_and_places": _("People and places that help"),
    "professionals_and_crisis_lines": _("Professionals and crisis lines"),
    "means_safety": _("Making the environment safe (means safety)"),
}


def safety_plan_rows(sections: dict[str, str]) -> list[tuple[Promise, str]]:
    """(heading, text) for each section the plan fills in; the heading is translated
    when it is rendered, so in the language active then."""
    return [(SAFETY_PLAN_LABELS[k], v) for k, v in sections.items() if v.strip()]


def main_site(organization: Organization) -> Site | None:
    return organization.sites.filter(is_active=True).order_by("id").first()


def consent_copy_pdf(*, by: Actor, patient_id: int | None = None) -> tuple[bytes, str]:
    """The consent the patient signed last for their current route, word for word, with
    the signature and the fingerprint of the text; 404 when there is none."""
    patient, glass = document_patient(by=by, patient_id=patient_id)
    episode = selectors.current_episode(patient)
    status = selectors.consent_status(episode) if episode else None
    if status is None or status.signature is None:
        raise Http404("There is no signed consent to print.")
    signature = status.signature
    document_printed(by=by, patient=patient, glass=glass, document="consent_copy", object_id=signature.id)
    pdf = patient_pdf(patient, "pathway/pdf/consent_copy.html", {
        "organization": patient.organization, "site": main_site(patient.organization),
        "signature": signature, "document": signature.document,
        "text": signature.signed_text or signature.document.text,
        # Signed, not withdrawn, but the clinic has published a newer version since.
        "superseded": not status.current and not status.withdrawn,
    })
    return pdf, f"consent-{patient.mrn}.pdf"


def safety_plan_pdf(*, by: Actor, patient_id: int | None = None) -> tuple[bytes, str]:
    """The patient's latest safety plan with the crisis lines; 404 when none is written."""
    patient, glass = document_patient(by=by, patient_id=patient_id)
    episode = selectors.current_episode(patient)
    plan = selectors.latest_safety_plan(episode) if episode else None
    if plan is None:
        raise Http404("There is no safety plan to print.")
    document_printed(by=by, patient=patient, glass=glass, document="safety_plan", object_id=plan.id)
    pdf = patient_pdf(patient, "pathway/pdf/safety_plan.html", {
        "organization": patient.organization, "site": main_site(patient.organization),
        "plan": plan, "rows": safety_plan_rows(selectors.safety_plan_sections(plan)),
        "own_crisis": patient.organization.own_crisis_resources,
    })
    return pdf, f"safety-plan-{patient.mrn}.pdf"
