"""Who may do what: roles as sets of permissions, and the object rules.

The Django layer fills in the facts (memberships, care team) and asks here; this
module decides. Adding a capability means adding a permission and granting it to
roles in ROLE_PERMISSIONS, nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    PATIENT = "patient"
    THERAPIST = "therapist"
    NURSE = "nurse"
    PRESCRIBER = "prescriber"
    ADMIN = "admin"
    RESEARCHER = "researcher"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.PATIENT: "Patient",
    Role.THERAPIST: "Therapist",
    Role.NURSE: "Nurse / monitor",
    Role.PRESCRIBER: "Prescriber",
    Role.ADMIN: "Clinic admin",
    Role.RESEARCHER: "Researcher",
}

STAFF_ROLES = frozenset({Role.THERAPIST, Role.NURSE, Role.PRESCRIBER, Role.ADMIN, Role.RESEARCHER})
CLINICAL_ROLES = frozenset({Role.THERAPIST, Role.NURSE, Role.PRESCRIBER})


class Perm(StrEnum):
    # Registry (demographics, contacts, weights) and the clinical chart.
    PATIENT_VIEW = "patient.view"
    PATIENT_CREATE = "patient.create"
    PATIENT_UPDATE = "patient.update"
    WEIGHT_RECORD = "patient.weight.record"
    CLINICAL_VIEW = "clinical.view"
    CARE_TEAM_MANAGE = "patient.care_team.manage"
    # Invite a patient to the portal, re-send the link, disable the account.
    PORTAL_ACCESS_MANAGE = "patient.portal_access.manage"
    BREAK_GLASS = "patient.break_glass"
    # Organisation administration.
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    SITE_MANAGE = "site.manage"
    AUDIT_VIEW = "audit.view"
    # Every staff member manages their own API tokens.
    API_TOKEN_OWN = "api_token.own"  # noqa: S105 - a permission name
    # Controlled-substance ledger (Schedule III records per site): read the books and
    # reports; record receipts, administrations, waste, counts...; adjust counts,
    # correct entries and manage products and suppliers.
    LEDGER_VIEW = "ledger.view"
    LEDGER_RECORD = "ledger.record"
    LEDGER_ADMIN = "ledger.admin"
    # Scheduling: the calendar, booking for a patient, appointment types.
    SCHEDULE_VIEW = "schedule.view"
    APPOINTMENT_BOOK = "appointment.book"
    SCHEDULE_MANAGE = "schedule.manage"
    # Measurement-based care (questionnaires, scores, trends) and the task list.
    MEASURE_VIEW = "measure.view"
    MEASURE_ENTER = "measure.enter"
    MEASURE_ASSIGN = "measure.assign"
    MEASURE_WORDING_MANAGE = "measure.wording.manage"
    TASK_VIEW = "task.view"
    TASK_RESOLVE = "task.resolve"
    # Care pathway: screening (intake, checklist), preparation, consent in clinic,
    # episode transitions, integration notes, psychotherapy notes (own and granted),
    # prescriber signatures (eligibility, plan, reassessment), consent documents.
    SCREENING_RECORD = "pathway.screening.record"
    PREPARATION_RECORD = "pathway.preparation.record"
    CONSENT_RECORD = "pathway.consent.record"
    PATHWAY_TRANSITION = "pathway.transition"
    NOTE_WRITE = "pathway.note.write"
    PSYCHOTHERAPY_NOTES = "pathway.psychotherapy_notes"
    PATHWAY_SIGN = "pathway.sign"
    CONSENT_MANAGE = "pathway.consent.manage"
    # Medicine sessions: the protocol library (read; draft and revise; approve, a
    # prescriber's signature), session records (read; record check-in, checklist,
    # preparation, verification, administration, vitals, events, discharge, REMS form)
    # and dose orders (a prescriber's signature).
    PROTOCOL_VIEW = "dosing.protocol.view"
    PROTOCOL_MANAGE = "dosing.protocol.manage"
    PROTOCOL_APPROVE = "dosing.protocol.approve"
    DOSING_VIEW = "dosing.session.view"
    DOSING_RECORD = "dosing.session.record"
    DOSE_ORDER = "dosing.dose.order"
    # Pharmacokinetic predictions (route comparison, predicted curves): clinical staff.
    PK_VIEW = "pk.view"
    # Outcomes of the clinic's patients as cohorts (aggregate reports, with an
    # unsuppressed view for the clinic's own staff): prescribers and admins.
    OUTCOMES_VIEW = "outcomes.view"
    # The organisation's public pages (education, costs, contact): admins.
    PUBLIC_SITE_MANAGE = "public_site.manage"
    # The de-identified research export (HIPAA Safe Harbor, k-anonymous): researchers,
    # who never see identifiers.
    RESEARCH_EXPORT = "research.export"
    # Intake: referrals from the public pre-screen and from clinicians. Reading them is
    # reading clinical answers (suicide-risk screens), so clinicians only; triage
    # (accept into a patient and an episode, decline, refer elsewhere) registers a
    # patient and enters measures, so therapists and prescribers.
    REFERRAL_VIEW = "referral.view"
    REFERRAL_TRIAGE = "referral.triage"
    # Import patients, held sessions and scores from another system: admins.
    HISTORY_IMPORT = "history.import"


_CLINICAL_COMMON = {
    Perm.PATIENT_VIEW,
    Perm.CLINICAL_VIEW,
    Perm.PATIENT_UPDATE,
    Perm.PORTAL_ACCESS_MANAGE,
    Perm.WEIGHT_RECORD,
    Perm.BREAK_GLASS,
    Perm.STAFF_VIEW,
    Perm.API_TOKEN_OWN,
    Perm.SCHEDULE_VIEW,
    Perm.APPOINTMENT_BOOK,
    Perm.MEASURE_VIEW,
    Perm.MEASURE_ENTER,
    Perm.MEASURE_ASSIGN,
    Perm.TASK_VIEW,
    Perm.TASK_RESOLVE,
    Perm.PK_VIEW,
}

# Only nurses, prescribers and admins touch the controlled-substance ledger.
_LEDGER_CLINICAL = {Perm.LEDGER_VIEW, Perm.LEDGER_RECORD}

# Nurses record screening, preparation and consent; therapy is for therapists and prescribers.
_PATHWAY_CLINICAL = {Perm.SCREENING_RECORD, Perm.PREPARATION_RECORD, Perm.CONSENT_RECORD}
_PATHWAY_THERAPY = {Perm.PATHWAY_TRANSITION, Perm.NOTE_WRITE, Perm.PSYCHOTHERAPY_NOTES}

# Therapists sit with the patient and read the session; nurses record it; prescribers
# also order doses and approve protocols; admins keep the protocol library.
_DOSING_THERAPIST = {Perm.PROTOCOL_VIEW, Perm.DOSING_VIEW}
_DOSING_NURSE = _DOSING_THERAPIST | {Perm.DOSING_RECORD}
_DOSING_PRESCRIBER = _DOSING_NURSE | {Perm.DOSE_ORDER, Perm.PROTOCOL_MANAGE, Perm.PROTOCOL_APPROVE}

_INTAKE = {Perm.REFERRAL_VIEW, Perm.REFERRAL_TRIAGE}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.PATIENT: frozenset(),
    Role.THERAPIST: frozenset(
        _CLINICAL_COMMON | {Perm.PATIENT_CREATE} | _PATHWAY_CLINICAL | _PATHWAY_THERAPY
        | _DOSING_THERAPIST | _INTAKE
    ),
    Role.NURSE: frozenset(
        _CLINICAL_COMMON | _LEDGER_CLINICAL | _PATHWAY_CLINICAL | _DOSING_NURSE | {Perm.REFERRAL_VIEW}
    ),
    Role.PRESCRIBER: frozenset(
        _CLINICAL_COMMON | _LEDGER_CLINICAL | {Perm.PATIENT_CREATE, Perm.CARE_TEAM_MANAGE}
        | _PATHWAY_CLINICAL | _PATHWAY_THERAPY | {Perm.PATHWAY_SIGN} | _DOSING_PRESCRIBER
        | {Perm.OUTCOMES_VIEW} | _INTAKE
    ),
    Role.ADMIN: frozenset(
        {
            Perm.PATIENT_VIEW,
            Perm.PATIENT_CREATE,
            Perm.PATIENT_UPDATE,
            Perm.WEIGHT_RECORD,
            Perm.CARE_TEAM_MANAGE,
            Perm.PORTAL_ACCESS_MANAGE,
            Perm.STAFF_VIEW,
            Perm.STAFF_MANAGE,
            Perm.SITE_MANAGE,
            Perm.AUDIT_VIEW,
            Perm.LEDGER_VIEW,
            Perm.LEDGER_RECORD,
            Perm.LEDGER_ADMIN,
            Perm.API_TOKEN_OWN,
            Perm.SCHEDULE_VIEW,
            Perm.APPOINTMENT_BOOK,
            Perm.SCHEDULE_MANAGE,
            # Admins load licensed questionnaire wording and take safety tasks when a
            # patient has no care team; they do not read scores.
            Perm.MEASURE_WORDING_MANAGE,
            Perm.TASK_VIEW,
            Perm.TASK_RESOLVE,
            Perm.CONSENT_MANAGE,
            Perm.PROTOCOL_VIEW,
            Perm.PROTOCOL_MANAGE,
            Perm.OUTCOMES_VIEW,
            Perm.PUBLIC_SITE_MANAGE,
            Perm.HISTORY_IMPORT,
        }
    ),
    Role.RESEARCHER: frozenset({Perm.API_TOKEN_OWN, Perm.RESEARCH_EXPORT}),
}

# Permissions whose object is a patient and that clinicians hold only for the
# patients whose care team they are on (or for whom they broke the glass).
# Admins and nurses hold them clinic-wide: admins run the registry, nurses
# monitor whoever is in the chair today.
PATIENT_SCOPED = frozenset(
    {Perm.PATIENT_VIEW, Perm.CLINICAL_VIEW, Perm.PATIENT_UPDATE, Perm.WEIGHT_RECORD}
    | {Perm.PORTAL_ACCESS_MANAGE}
    | {Perm.APPOINTMENT_BOOK}
    | {Perm.MEASURE_VIEW, Perm.MEASURE_ENTER, Perm.MEASURE_ASSIGN}
    | _PATHWAY_CLINICAL | _PATHWAY_THERAPY | {Perm.PATHWAY_SIGN}
    | {Perm.DOSING_VIEW, Perm.DOSING_RECORD, Perm.DOSE_ORDER}
)
ORGANIZATION_WIDE_ROLES = frozenset({Role.ADMIN, Role.NURSE})

# What each permission lets its holder do, in the words a refusal page uses.
PERM_LABELS: dict[Perm, str] = {
    Perm.PATIENT_VIEW: "open patients' charts",
    Perm.PATIENT_CREATE: "register patients",
    Perm.PATIENT_UPDATE: "change patients' details",
    Perm.WEIGHT_RECORD: "record weights",
    Perm.CLINICAL_VIEW: "read the clinical record",
    Perm.CARE_TEAM_MANAGE: "change a patient's care team",
    Perm.PORTAL_ACCESS_MANAGE: "invite patients to the portal",
    Perm.BREAK_GLASS: "request emergency access to a chart",
    Perm.STAFF_VIEW: "see the staff list",
    Perm.STAFF_MANAGE: "invite and manage staff",
    Perm.SITE_MANAGE: "manage sites and rooms",
    Perm.AUDIT_VIEW: "read the audit log",
    Perm.API_TOKEN_OWN: "create API tokens",
    Perm.LEDGER_VIEW: "read the controlled-substance ledger",
    Perm.LEDGER_RECORD: "record in the controlled-substance ledger",
    Perm.LEDGER_ADMIN: "adjust and correct the controlled-substance ledger",
    Perm.SCHEDULE_VIEW: "see the calendar",
    Perm.APPOINTMENT_BOOK: "book appointments",
    Perm.SCHEDULE_MANAGE: "manage appointment types and schedules",
    Perm.MEASURE_VIEW: "read questionnaire scores",
    Perm.MEASURE_ENTER: "enter questionnaires",
    Perm.MEASURE_ASSIGN: "assign questionnaires",
    Perm.MEASURE_WORDING_MANAGE: "load licensed questionnaire wording",
    Perm.TASK_VIEW: "see clinical tasks",
    Perm.TASK_RESOLVE: "resolve clinical tasks",
    Perm.SCREENING_RECORD: "record screening",
    Perm.PREPARATION_RECORD: "record preparation",
    Perm.CONSENT_RECORD: "record consent in clinic",
    Perm.PATHWAY_TRANSITION: "move an episode of care along the pathway",
    Perm.NOTE_WRITE: "write clinical notes",
    Perm.PSYCHOTHERAPY_NOTES: "write psychotherapy notes",
    Perm.PATHWAY_SIGN: "sign eligibility decisions and treatment plans",
    Perm.CONSENT_MANAGE: "publish consent documents",
    Perm.PROTOCOL_VIEW: "read dosing protocols",
    Perm.PROTOCOL_MANAGE: "draft dosing protocols",
    Perm.PROTOCOL_APPROVE: "approve dosing protocols",
    Perm.DOSING_VIEW: "read medicine session records",
    Perm.DOSING_RECORD: "record medicine sessions",
    Perm.DOSE_ORDER: "order doses",
    Perm.PK_VIEW: "see predicted concentration curves",
    Perm.PUBLIC_SITE_MANAGE: "edit the clinic's public pages",
    Perm.OUTCOMES_VIEW: "see the clinic's outcome reports",
    Perm.RESEARCH_EXPORT: "download de-identified research exports",
    Perm.REFERRAL_VIEW: "read referrals",
    Perm.REFERRAL_TRIAGE: "accept or decline referrals",
    Perm.HISTORY_IMPORT: "import history from another system",
}


def permissions_for(roles: Iterable[Role]) -> frozenset[Perm]:
    granted: set[Perm] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def held_organization_wide(roles: Iterable[Role], perm: Perm) -> bool:
    """Whether an organisation-wide role (nurse, admin) among ``roles`` holds ``perm``:
    then ``allows`` grants it for any patient of the organisation, whatever the care
    team or break-glass, so callers need not read either."""
    return any(perm in ROLE_PERMISSIONS[r] for r in frozenset(roles) & ORGANIZATION_WIDE_ROLES)


def allows(
    roles: Iterable[Role],
    perm: Perm,
    *,
    on_care_team: bool | None = None,
    break_glass_active: bool = False,
) -> bool:
    """Whether holders of ``roles`` in the patient's organisation may do ``perm``.

    ``on_care_team`` is None when the action has no patient object; the caller has
    already established that the patient belongs to the actor's organisation.
    """
    roles = frozenset(roles)
    holders = {r for r in roles if perm in ROLE_PERMISSIONS[r]}
    if not holders:
        return False
    if on_care_team is None or perm not in PATIENT_SCOPED:
        return True
    if holders & ORGANIZATION_WIDE_ROLES:
        return True
    return on_care_team or break_glass_active
