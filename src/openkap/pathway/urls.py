from django.urls import path

from openkap.pathway import views

app_name = "pathway"

P = "patients/<id:patient_id>/pathway/"
N = "patients/<id:patient_id>/psychotherapy-notes/"

urlpatterns = [
    path("pathway/", views.worklist, name="worklist"),
    path(P, views.overview, name="overview"),
    path(f"{P}open/", views.episode_open, name="open"),
    path(f"{P}transition/", views.transition, name="transition"),
    path(f"{P}intake/", views.intake, name="intake"),
    path(f"{P}checklist/", views.checklist, name="checklist"),
    path(f"{P}eligibility/", views.eligibility, name="eligibility"),
    path(f"{P}plan/", views.plan, name="plan"),
    path(f"{P}plan/<id:version>/", views.plan_version, name="plan_version"),
    path(f"{P}preparation/", views.preparation, name="preparation"),
    path(f"{P}preparation/sessions/", views.preparation_session, name="preparation_session"),
    path(f"{P}preparation/intentions/", views.intention_add, name="intention_add"),
    path(f"{P}preparation/safety-plan/", views.safety_plan, name="safety_plan"),
    path(f"{P}preparation/escort/", views.escort, name="escort"),
    path(f"{P}preparation/instructions/", views.instructions, name="instructions"),
    path(f"{P}consent/", views.consent, name="consent"),
    path(f"{P}consent/signed.pdf", views.consent_copy_pdf, name="consent_pdf"),
    path(f"{P}preparation/safety-plan.pdf", views.safety_plan_pdf, name="safety_plan_pdf"),
    path(f"{P}integration/", views.integration, name="integration"),
    path(f"{P}reassessment/", views.reassessment, name="reassessment"),
    path(f"{P}journal/", views.journal, name="journal"),
    path(N, views.psychotherapy_notes, name="psychotherapy_notes"),
    path(f"{N}<id:note_id>/", views.psychotherapy_note, name="psychotherapy_note"),
    path(f"{N}<id:note_id>/share/", views.psychotherapy_note_grant, name="psychotherapy_note_grant"),
    path(f"{N}<id:note_id>/share/<id:user_id>/withdraw/", views.psychotherapy_note_revoke,
         name="psychotherapy_note_revoke"),
    path("pathway/consent-documents/", views.consent_documents, name="consent_documents"),
    path("pathway/consent-documents/new/", views.consent_document_new, name="consent_document_new"),
    path("pathway/consent-documents/<id:document_id>/", views.consent_document, name="consent_document"),
    path("portal/care/", views.portal_care, name="portal_care"),
    path("portal/care/intentions/", views.portal_intention, name="portal_intention"),
    path("portal/consent/", views.portal_consent, name="portal_consent"),
    path("portal/consent/signed.pdf", views.portal_consent_pdf, name="portal_consent_pdf"),
    path("portal/care/safety-plan.pdf", views.portal_safety_plan_pdf, name="portal_safety_plan_pdf"),
    path("portal/journal/", views.portal_journal, name="portal_journal"),
    path("portal/journal/practices/", views.portal_commitment, name="portal_commitment"),
    path("portal/journal/practices/<id:commitment_id>/tick/", views.portal_commitment_tick,
         name="portal_commitment_tick"),
    path("portal/journal/practices/<id:commitment_id>/end/", views.portal_commitment_end,
         name="portal_commitment_end"),
]
