"""What an audit row's record is, in words a reviewer reads ("Medicine session 54",
not ``dosing_session #54``), and the page that shows it when the reader may open it.

The stored ``object_type`` stays the code (the CSV export and the API keep it for
machines); only what people read is translated here.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditEvent
from openkap.core.authz import Perm
from openkap.web.wayback import may_open

LABELS = {
    "administration_event": "Administration",
    "adverse_event": "Adverse event",
    "api_token": "API token",
    "appointment": "Appointment",
    "appointment_list": "Appointments",
    "appointment_reminder": "Appointment reminder",
    "appointment_type": "Appointment type",
    "appointments": "Appointments",
    "audit_log": "Audit log",
    "booking_check": "Booking check",
    "calendar_feed": "Calendar feed",
    "care_team": "Care team",
    "commitment": "Commitment",
    "consent_document": "Consent document",
    "consent_signature": "Signed consent",
    "contraindication_checklist": "Contraindication checklist",
    "demo_seed": "Demo clinic",
    "discharge_check": "Discharge check",
    "dose_order": "Dose order",
    "dose_preparation": "Dose preparation",
    "dose_preview": "Dose preview",
    "dose_verification": "Second-clinician check",
    "dosing_alarm": "Vitals alarm",
    "dosing_board": "Monitoring board",
    "dosing_discharge": "Discharge",
    "dosing_observation": "Sedation and dissociation check",
    "dosing_session": "Medicine session",
    "dosing_record_document": "Prepared session record",
    "dosing_session_record": "Session record (PDF)",
    "dosing_sessions": "Medicine sessions",
    "eligibility_decision": "Eligibility decision",
    "episode": "Episode of care",
    "escort": "Escort",
    "height": "Height",
    "history_import": "History import",
    "intake": "Intake",
    "integration_note": "Integration session",
    "intention": "Intention",
    "invitation": "Staff invitation",
    "journal_entry": "Journal entry",
    "ledger_entry": "Ledger entry",
    "ledger_inventories": "Inventories",
    "ledger_inventory": "Inventory count",
    "ledger_lot": "Lot",
    "ledger_product": "Product",
    "ledger_reconciliation": "Reconciliation",
    "ledger_report": "Ledger report",
    "ledger_sessions": "Sessions in the ledger",
    "ledger_site": "Site ledger",
    "ledger_sites": "Site ledgers",
    "ledger_supplier": "Supplier",
    "ledger_suppliers": "Suppliers",
    "ledger_verify": "Ledger chain check",
    "licensed_wording": "Questionnaire wording",
    "measure_assignment": "Questionnaire sent",
    "measure_draft": "Questionnaire draft",
    "measure_link": "Questionnaire link",
    "measure_plan": "Measurement plan",
    "measure_response": "Questionnaire answers",
    "measure_schedule": "Scheduled questionnaire",
    "measure_trend": "Questionnaire trend",
    "measures": "Questionnaires",
    "membership": "Staff role",
    "outcomes_report": "Outcomes report",
    "patient": "Patient record",
    "patient_outcomes": "Patient outcomes",
    "portal_access": "Portal access",
    "portal_care": "Portal: my care",
    "portal_consent": "Portal: consent",
    "portal_invitation": "Portal invitation",
    "portal_journal": "Portal: journal",
    "pre_dose_checklist": "Pre-dose checklist",
    "pre_session_instructions": "Pre-session instructions",
    "preparation_session": "Preparation session",
    "protocol_version": "Protocol version",
    "psychotherapy_note": "Psychotherapy note",
    "psychotherapy_note_grant": "Psychotherapy note sharing",
    "reassessment": "Reassessment",
    "referral": "Referral",
    "referral_letter": "Referral letter",
    "referral_status": "Referral status link",
    "refused_dose_order": "Refused dose order",
    "rems_form": "REMS monitoring form",
    "research_export": "Research export",
    "room": "Room",
    "safety_plan": "Safety plan",
    "security_events": "Sign-in events",
    "security_overview": "Sign-in security",
    "site": "Site",
    "site_section": "Public site page",
    "task": "Task",
    "treatment_plan": "Treatment plan",
    "url": "Page",
    "user": "User account",
    "vital_signs": "Vital signs",
    "weight": "Weight",
    "work_queue": "Work queue",
}

# Records with a page of their own: the URL name, whether it takes the row's object id
# or its patient id, and whether it shows clinical content (the chart is the registry).
PAGES = {
    "appointment": ("scheduling:appointment", "object", True),
    "consent_document": ("pathway:consent_document", "object", True),
    "dosing_session": ("dosing:session", "object", True),
    "episode": ("pathway:overview", "patient", True),
    "patient": ("patients:chart", "object", False),
    "protocol_version": ("dosing:protocol", "object", True),
    "referral": ("referrals:detail", "object", True),
    "task": ("tasks:detail", "object", True),
}


def record_label(object_type: str, object_id: str) -> str:
    """'Medicine session 54'; an unlisted code is still read as words."""
    if object_type.startswith("fhir."):
        words = f"FHIR {object_type.removeprefix('fhir.')}"
    else:
        words = LABELS.get(object_type) or object_type.replace("_", " ").capitalize() or "—"
    return f"{words} {object_id}" if object_id else words


def record_href(by: Actor, event: AuditEvent, *, patient_visible: bool) -> str | None:
    """The record's page, if ``by`` may open it: the route's permission, and for a
    patient's record the patient visible to them and clinical content theirs to read."""
    page = PAGES.get(event.object_type)
    if page is None:
        return None
    name, key, clinical = page
    if event.patient_id is not None and not (patient_visible and (by.can(Perm.CLINICAL_VIEW) or not clinical)):
        return None
    ident = event.patient_id if key == "patient" else event.object_id
    if ident is None or not str(ident).isdigit():
        return None
    try:
        href = reverse(name, args=[int(ident)])
        return href if may_open(by, resolve(href).func) else None
    except (NoReverseMatch, Resolver404):
        return None
