"""Walk an episode along the pathway through the services, as the clinic would."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from openkap.core.instruments import presentation
from openkap.core.instruments.registry import get_instrument
from openkap.core.pathway import CHECKLIST
from openkap.measures import services as measures
from openkap.pathway import services
from openkap.pathway.models import ConsentDocument, Episode
from tests.conftest import PASSWORD

ROUTE = "intranasal_esketamine"
PROTOCOL = "intranasal-esketamine-spravato"

CONSENT_TEXT = (
    "Informed consent for esketamine nasal spray within ketamine-assisted psychotherapy. "
    "You will be observed for at least two hours after each dose. Common effects are "
    "dissociation, dizziness, nausea, sedation and a rise in blood pressure. You may not "
    "drive until the next day after a restful sleep. You may stop at any time."
)

INTAKE = {
    "presenting_problems": "Depression for four years despite two antidepressant trials.",
    "diagnoses": [{"code": "F33.2", "description": "Major depressive disorder, recurrent, severe"}],
    "psychiatric_history": "Two adequate SSRI trials; no hospitalisations.",
    "medical_history": "Well-controlled asthma.",
    "current_medications": "Sertraline 100 mg daily.",
    "substance_use": "Alcohol 2 drinks a week; no other substances.",
    "prior_psychedelic_use": "None.",
    "pregnancy_status": "not_pregnant",
    "systolic_bp": 124,
    "diastolic_bp": 78,
    "intended_route": ROUTE,
    "weight_value": "68.5",
    "weight_unit": "kg",
}

PLAN = {
    "indication": "Treatment-resistant depression",
    "route": ROUTE,
    "protocol_id": PROTOCOL,
    "dose_level": "psycholytic",
    "dosing_sessions_planned": 6,
    "goals": "PHQ-9 below 10; return to work.",
    "measure_schedule": {"before_dosing": ["phq9"], "after_integration": ["phq9", "gad7"]},
}

SAFETY_PLAN = {
    "coping_plan": "Breathe, squeeze the therapist's hand, remember it passes.",
    "warning_signs": "Not sleeping, withdrawing from friends.",
    "coping_strategies": "Walk the dog, call my sister.",
    "people_and_places": "Sister Ana; the park.",
    "professionals_and_crisis_lines": "Therapist; 988.",
    "means_safety": "No firearms at home; medicines locked.",
}


def answers_all_zero(instrument_id: str) -> dict[str, int | None]:
    """A complete response with no symptom (questions skipped by the form left out)."""
    instrument = get_instrument(instrument_id)
    answers: dict[str, int | None] = {}
    for item in instrument.items:
        answers[item.id] = 0
        if not presentation.is_asked(item, answers):
            answers[item.id] = None
    return answers


def baseline_measures(by, patient) -> None:
    for instrument_id in ("phq9", "gad7", "cssrs-recent"):
        measures.response_enter(
            by=by, patient_id=patient.id, instrument_id=instrument_id,
            answers={k: v for k, v in answers_all_zero(instrument_id).items() if v is not None},
            occasion="baseline",
        )


def consent_document(by, route: str = ROUTE) -> ConsentDocument:
    return services.consent_document_publish(
        by=by, route=route, title="Consent to esketamine-assisted psychotherapy", text=CONSENT_TEXT
    )


def walk(patient, *, therapist, prescriber, admin, org, as_actor, to: str = "ready") -> Episode:
    """intake -> screening -> eligibility -> planned -> preparation with everything a first
    dosing booking needs (``to`` stops earlier: "screening", "eligibility", "planned")."""
    t, p = as_actor(therapist, org), as_actor(prescriber, org)
    episode = services.episode_open(by=t, patient_id=patient.id)
    services.intake_save(by=t, patient_id=patient.id, data=INTAKE, complete=True)
    services.episode_transition(by=t, episode_id=episode.id, name="start_screening")
    if to == "screening":
        return Episode.objects.get(pk=episode.pk)
    baseline_measures(t, patient)
    services.checklist_record(
        by=t, patient_id=patient.id, answers={item.id: False for item in CHECKLIST.items}
    )
    services.episode_transition(by=t, episode_id=episode.id, name="request_eligibility")
    if to == "eligibility":
        return Episode.objects.get(pk=episode.pk)
    services.eligibility_sign(
        by=p, patient_id=patient.id, outcome="eligible", reasons="TRD, no contraindication.",
        password=PASSWORD,
    )
    services.episode_transition(by=t, episode_id=episode.id, name="confirm_eligibility")
    services.plan_sign(by=p, patient_id=patient.id, password=PASSWORD, **PLAN)
    if to == "planned":
        return Episode.objects.get(pk=episode.pk)
    services.episode_transition(by=t, episode_id=episode.id, name="start_preparation")
    services.preparation_session_record(
        by=t, patient_id=patient.id, held_on=timezone.localdate() - timedelta(days=1),
        notes="Set and setting; music; what to expect.",
    )
    services.intention_add(by=t, patient_id=patient.id, text="Meet my grief with kindness.")
    services.safety_plan_save(by=t, patient_id=patient.id, sections=SAFETY_PLAN)
    services.escort_arrange(by=t, patient_id=patient.id, name="Ana Lindqvist", phone="(555) 010-7788")
    services.pre_session_instructions_set(
        by=t, patient_id=patient.id, fasting="Nothing to eat for 2 hours before.",
        medications_to_hold="None.", what_to_bring="Eyeshades, a blanket.",
    )
    if not ConsentDocument.objects.filter(organization=org, route=ROUTE).exists():
        consent_document(as_actor(admin, org))
    document = ConsentDocument.objects.filter(organization=org, route=ROUTE).order_by("-version").first()
    services.consent_sign_in_clinic(
        by=t, patient_id=patient.id, typed_name=patient.legal_name, document_sha256=document.sha256
    )
    return Episode.objects.get(pk=episode.pk)
