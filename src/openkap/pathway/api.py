"""The care pathway in the JSON API: the same services and checks as the web pages.

Psychotherapy notes are not part of the API, by design (they are kept apart from
the record and from every export).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias

from django.http import Http404
from ninja import Query, Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import MAX_ID, ErrorOut, ObjectId, PageNumber
from openkap.core.pathway import CHECKLIST, STATE_LABELS, State, evaluate_checklist
from openkap.core.pathway.notes import NOTE_TEMPLATES
from openkap.core.pathway.plan import SAFETY_PLAN_SECTIONS, safety_plan_missing
from openkap.core.routes import Route
from openkap.pathway import selectors, services
from openkap.pathway.models import (
    ConsentDocument,
    ConsentSignature,
    EligibilityDecision,
    Episode,
    Intake,
    IntegrationNote,
    Intention,
    PreparationSession,
    ReassessmentReview,
    SafetyPlan,
    SessionArrangements,
    TreatmentPlan,
)

router = Router(tags=["pathway"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
RouteName: TypeAlias = Literal[tuple(r.value for r in Route)]  # type: ignore[valid-type]  # the enum from Route
Text = Annotated[str, Field(max_length=10_000)]
ShortText = Annotated[str, Field(max_length=200)]
Password = Annotated[str, Field(max_length=256, description="The signer's password (re-authentication)")]
P = "/patients/{patient_id}/pathway"


def _actor(request: ApiRequest) -> Any:
    return request.auth


def _episode(request: ApiRequest, patient_id: int, part: str) -> tuple[selectors.EpisodeView, Episode]:
    view = selectors.episode_view(by=_actor(request), patient_id=patient_id, part=part)
    if view.episode is None:
        raise Http404("This patient has no open episode of care.")
    return view, view.episode


# --- the episode ---------------------------------------------------------------------------


class TransitionOptionOut(Schema):
    name: str
    label: str
    target: str
    needs_reason: bool
    unmet: list[str] = Field(description="What is still missing; empty when the transition may happen now")


class TransitionOut(Schema):
    name: str
    from_state: str
    to_state: str
    reason: str
    by_id: int
    by_name: str
    at: dt.datetime


class IntegrationDueOut(Schema):
    dosing_session_id: int
    dosed_on: dt.date
    due_by: dt.date
    days_overdue: int


class EpisodeOut(Schema):
    id: int
    patient_id: int
    state: str
    state_label: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    transitions: list[TransitionOptionOut]
    history: list[TransitionOut]
    dosing_booking_allowed: bool
    dosing_booking_unmet: list[str]
    integration_due: list[IntegrationDueOut]


def _episode_out(episode: Episode) -> EpisodeOut:
    return _summary_out(selectors.episode_summaries([episode])[0])


def _summary_out(o: selectors.EpisodeSummary) -> EpisodeOut:
    episode = o.episode
    return EpisodeOut(
        id=episode.id, patient_id=episode.patient_id, state=episode.state,
        state_label=STATE_LABELS[State(episode.state)], opened_at=episode.opened_at,
        closed_at=episode.closed_at,
        transitions=[
            TransitionOptionOut(name=t.name, label=t.label, target=t.target.value,
                                needs_reason=t.needs_reason, unmet=t.unmet)
            for t in o.options
        ],
        history=[
            TransitionOut(name=h.name, from_state=h.from_state, to_state=h.to_state, reason=h.reason,
                          by_id=h.by_id, by_name=h.by.full_name, at=h.at)
            for h in o.history
        ],
        dosing_booking_allowed=not o.booking_unmet, dosing_booking_unmet=o.booking_unmet,
        integration_due=[
            IntegrationDueOut(dosing_session_id=int(d.session_id), dosed_on=d.dosed_on, due_by=d.due_by,
                              days_overdue=d.days_overdue)
            for d in o.integration_due
        ],
    )


@router.get(P, response={200: EpisodeOut, **ERRORS}, summary="Read the open episode of care")
def get_episode(request: ApiRequest, patient_id: ObjectId) -> EpisodeOut:
    _, episode = _episode(request, patient_id, "episode")
    return _episode_out(episode)


@router.post(P, response={201: EpisodeOut, **ERRORS}, summary="Open an episode of care at intake")
def open_episode(request: ApiRequest, patient_id: ObjectId) -> Status:
    return Status(201, _episode_out(services.episode_open(by=_actor(request), patient_id=patient_id)))


class TransitionIn(Schema):
    name: str = Field(max_length=40, description="e.g. start_screening, confirm_eligibility, discontinue")
    reason: Text = ""


@router.post(f"{P}/transitions", response={200: EpisodeOut, **ERRORS},
             summary="Move the episode (refused with what is missing)")
def transition(request: ApiRequest, patient_id: ObjectId, payload: TransitionIn) -> EpisodeOut:
    _, episode = _episode(request, patient_id, "episode")
    moved = services.episode_transition(
        by=_actor(request), episode_id=episode.id, name=payload.name, reason=payload.reason
    )
    return _episode_out(moved)


@router.get("/pathway/episodes", response={200: list[EpisodeOut], **ERRORS},
            summary="Open episodes of the patients you may see")
def list_episodes(
    request: ApiRequest, state: Annotated[str, Query(max_length=20)] = ""
) -> list[EpisodeOut]:
    summaries = selectors.episode_list(by=_actor(request), state=state if state in set(State) else "")
    return [_summary_out(o) for o in summaries]


# --- screening -------------------------------------------------------------------------------


class DiagnosisIO(Schema):
    code: str = Field(max_length=12, description="ICD-10-CM, e.g. F33.1")
    description: str = Field(max_length=200)


PregnancyStatus = Literal["", "not_applicable", "not_pregnant", "possibly_pregnant", "pregnant", "breastfeeding"]


class IntakeIn(Schema):
    presenting_problems: Text = ""
    diagnoses: list[DiagnosisIO] = Field(default_factory=list, max_length=20)
    psychiatric_history: Text = ""
    medical_history: Text = ""
    current_medications: Text = ""
    substance_use: Text = ""
    prior_psychedelic_use: Text = ""
    pregnancy_status: PregnancyStatus = ""
    systolic_bp: int | None = Field(None, ge=0, le=1000)
    diastolic_bp: int | None = Field(None, ge=0, le=1000)
    intended_route: RouteName | Literal[""] = ""
    weight_value: Decimal | None = Field(None, gt=0, max_digits=6, decimal_places=2,
                                         description="Recorded in the patient's weights")
    weight_unit: Literal["kg", "lb"] = "kg"
    complete: bool = Field(False, description="Check every part is filled in and mark the intake complete")


class IntakeOut(Schema):
    presenting_problems: str
    diagnoses: list[DiagnosisIO]
    psychiatric_history: str
    medical_history: str
    current_medications: str
    substance_use: str
    prior_psychedelic_use: str
    pregnancy_status: str
    systolic_bp: int | None
    diastolic_bp: int | None
    intended_route: str
    weight_kg: Decimal | None
    completed_at: dt.datetime | None
    updated_at: dt.datetime


def _intake_out(intake: Intake) -> IntakeOut:
    return IntakeOut(
        **{name: getattr(intake, name) for name in (*services.INTAKE_TEXT_FIELDS, "pregnancy_status",
           "systolic_bp", "diastolic_bp", "intended_route", "completed_at", "updated_at")},
        diagnoses=[DiagnosisIO(**d) for d in intake.diagnoses],
        weight_kg=intake.weight.weight_kg if intake.weight else None,
    )


@router.get(f"{P}/intake", response={200: IntakeOut, **ERRORS}, summary="Read the intake form")
def get_intake(request: ApiRequest, patient_id: ObjectId) -> IntakeOut:
    _, episode = _episode(request, patient_id, "intake")
    intake = selectors.intake_of(episode)
    if intake is None:
        raise Http404("No intake recorded yet.")
    return _intake_out(intake)


@router.put(f"{P}/intake", response={200: IntakeOut, **ERRORS}, summary="Save the intake form")
def put_intake(request: ApiRequest, patient_id: ObjectId, payload: IntakeIn) -> IntakeOut:
    data = payload.dict()
    complete = data.pop("complete")
    data["diagnoses"] = [dict(d) for d in data["diagnoses"]]
    return _intake_out(services.intake_save(by=_actor(request), patient_id=patient_id, data=data, complete=complete))


class ChecklistItemOut(Schema):
    id: str
    label: str
    severity: str = Field(description="For the episode's route (strictest over all routes before one is chosen)")
    sources: list[str]
    present: bool | None
    note: str


class ChecklistOut(Schema):
    version: str
    route: str | None
    complete: bool
    absolute: list[str]
    relative: list[str]
    items: list[ChecklistItemOut]


def _checklist_out(episode: Episode) -> ChecklistOut:
    snapshot = selectors.episode_snapshot(episode)
    route = snapshot.checklist_route
    result = evaluate_checklist(snapshot.contraindication_answers, route)
    answers = selectors.contraindication_answers_of(episode)
    return ChecklistOut(
        version=CHECKLIST.version, route=route.value if route else None, complete=result.complete,
        absolute=[f.item_id for f in result.absolute], relative=[f.item_id for f in result.relative],
        items=[
            ChecklistItemOut(
                id=item.id, label=item.label, severity=item.rule(route).severity.value,
                sources=list(item.rule(route).sources),
                present=answers[item.id].present if item.id in answers else None,
                note=answers[item.id].note if item.id in answers else "",
            )
            for item in CHECKLIST.items
        ],
    )


class ContraindicationChecklistIn(Schema):
    answers: dict[str, bool | None] = Field(description="Item id: true present, false absent, null unanswered")
    notes: dict[str, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)


@router.get(f"{P}/checklist", response={200: ChecklistOut, **ERRORS}, summary="Read the contraindication checklist")
def get_checklist(request: ApiRequest, patient_id: ObjectId) -> ChecklistOut:
    _, episode = _episode(request, patient_id, "contraindication_checklist")
    return _checklist_out(episode)


@router.put(f"{P}/checklist", response={200: ChecklistOut, **ERRORS}, summary="Answer checklist items")
def put_checklist(request: ApiRequest, patient_id: ObjectId, payload: ContraindicationChecklistIn) -> ChecklistOut:
    services.checklist_record(by=_actor(request), patient_id=patient_id, answers=payload.answers, notes=payload.notes)
    _, episode = _episode(request, patient_id, "contraindication_checklist")
    return _checklist_out(episode)


# --- prescriber decisions -------------------------------------------------------------------


class SignedOut(Schema):
    signed_by_id: int
    signer_name: str
    signer_credentials: str
    signed_at: dt.datetime


class EligibilityOut(SignedOut):
    id: int
    outcome: str
    reasons: str
    conditions: str
    justifications: dict[str, str]
    route: str
    in_force: bool


class EligibilityIn(Schema):
    outcome: Literal["eligible", "eligible_with_conditions", "not_eligible"]
    reasons: Text
    conditions: Text = ""
    justifications: dict[str, Text] = Field(
        default_factory=dict, description="Checklist item id of each relative contraindication present: why it is justified"
    )
    password: Password


def _eligibility_out(d: EligibilityDecision, in_force: EligibilityDecision | None) -> EligibilityOut:
    return EligibilityOut(
        id=d.id, outcome=d.outcome, reasons=d.reasons, conditions=d.conditions,
        justifications=d.justifications, route=d.route, in_force=bool(in_force and in_force.id == d.id),
        signed_by_id=d.signed_by_id, signer_name=d.signer_name, signer_credentials=d.signer_credentials,
        signed_at=d.signed_at,
    )


@router.get(f"{P}/eligibility", response={200: list[EligibilityOut], **ERRORS}, summary="Eligibility decisions")
def list_eligibility(request: ApiRequest, patient_id: ObjectId) -> list[EligibilityOut]:
    _, episode = _episode(request, patient_id, "eligibility")
    in_force = selectors.eligibility_in_force(episode)
    return [_eligibility_out(d, in_force) for d in selectors.eligibility_decisions_of(episode)]


@router.post(f"{P}/eligibility", response={201: EligibilityOut, **ERRORS},
             summary="Sign an eligibility decision (prescriber, password again)")
def sign_eligibility(request: ApiRequest, patient_id: ObjectId, payload: EligibilityIn) -> Status:
    d = services.eligibility_sign(by=_actor(request), patient_id=patient_id, **payload.dict())
    return Status(201, _eligibility_out(d, d))


class PlanOut(SignedOut):
    version: int
    in_force: bool
    indication: str
    route: str
    protocol_id: str
    dose_level: str
    dosing_sessions_planned: int
    integration_cadence_days: int
    measure_schedule: dict[str, list[str]]
    goals: str
    change_reason: str


class PlanIn(Schema):
    indication: Text
    route: RouteName
    protocol_id: str = Field(max_length=80, description="A protocol of the library, for the route")
    dose_level: Literal["psycholytic", "psychedelic"]
    dosing_sessions_planned: int = Field(ge=1, le=52)
    integration_cadence_days: int = Field(7, ge=1, le=30)
    measure_schedule: dict[str, list[Annotated[str, Field(max_length=40)]]] | None = Field(
        None, description="Occasion (baseline, before_dosing, after_integration, reassessment, follow_up): "
        "instrument ids. Omitted: the measures of the version in force, or the clinic default for a first plan"
    )
    goals: Text
    change_reason: Text = Field("", description="Required for every version after the first")
    password: Password


def _plan_out(p: TreatmentPlan, latest: int) -> PlanOut:
    return PlanOut(
        version=p.version, in_force=p.version == latest, indication=p.indication, route=p.route,
        protocol_id=p.protocol_id, dose_level=p.dose_level, dosing_sessions_planned=p.dosing_sessions_planned,
        integration_cadence_days=p.integration_cadence_days, measure_schedule=p.measure_schedule,
        goals=p.goals, change_reason=p.change_reason, signed_by_id=p.signed_by_id, signer_name=p.signer_name,
        signer_credentials=p.signer_credentials, signed_at=p.signed_at,
    )


@router.get(f"{P}/plans", response={200: list[PlanOut], **ERRORS}, summary="Treatment plan versions, newest first")
def list_plans(request: ApiRequest, patient_id: ObjectId) -> list[PlanOut]:
    _, episode = _episode(request, patient_id, "treatment_plan")
    plans = selectors.plans_of(episode)
    return [_plan_out(p, plans[0].version) for p in plans]


@router.post(f"{P}/plans", response={201: PlanOut, **ERRORS},
             summary="Sign a new treatment plan version (prescriber, password again)")
def sign_plan(request: ApiRequest, patient_id: ObjectId, payload: PlanIn) -> Status:
    plan = services.plan_sign(by=_actor(request), patient_id=patient_id, **payload.dict())
    return Status(201, _plan_out(plan, plan.version))


class ReassessmentIn(Schema):
    summary: Text
    recommendation: Literal[tuple(ReassessmentReview.Recommendation.values)]  # type: ignore[valid-type]
    password: Password


class ReassessmentOut(SignedOut):
    id: int
    summary: str
    recommendation: str


@router.post(f"{P}/reassessment", response={201: ReassessmentOut, **ERRORS},
             summary="Sign the reassessment at the end of a series (prescriber)")
def sign_reassessment(request: ApiRequest, patient_id: ObjectId, payload: ReassessmentIn) -> Status:
    r = services.reassessment_sign(by=_actor(request), patient_id=patient_id, **payload.dict())
    return Status(201, ReassessmentOut(
        id=r.id, summary=r.summary, recommendation=r.recommendation, signed_by_id=r.signed_by_id,
        signer_name=r.signer_name, signer_credentials=r.signer_credentials, signed_at=r.signed_at,
    ))


# --- preparation --------------------------------------------------------------------------------


class PreparationSessionIn(Schema):
    held_on: dt.date
    notes: Text = ""
    therapist_id: int | None = Field(None, ge=1, le=MAX_ID, description="Defaults to you")


class PreparationSessionOut(Schema):
    id: int
    held_on: dt.date
    therapist_id: int
    notes: str


class IntentionIn(Schema):
    text: str = Field(max_length=2000)


class IntentionOut(Schema):
    id: int
    text: str
    by_patient: bool
    written_at: dt.datetime


class SafetyPlanIO(Schema):
    coping_plan: Annotated[str, Field(max_length=4000)] = ""
    warning_signs: Annotated[str, Field(max_length=4000)] = ""
    coping_strategies: Annotated[str, Field(max_length=4000)] = ""
    people_and_places: Annotated[str, Field(max_length=4000)] = ""
    professionals_and_crisis_lines: Annotated[str, Field(max_length=4000)] = ""
    means_safety: Annotated[str, Field(max_length=4000)] = ""


class SafetyPlanOut(SafetyPlanIO):
    recorded_at: dt.datetime
    complete: bool


class EscortIn(Schema):
    name: ShortText
    phone: str = Field(max_length=30)
    relationship: str = Field("", max_length=60)


class InstructionsIn(Schema):
    fasting: Annotated[str, Field(max_length=4000)] = ""
    medications_to_hold: Annotated[str, Field(max_length=4000)] = ""
    what_to_bring: Annotated[str, Field(max_length=4000)] = ""


class ArrangementsOut(Schema):
    escort_name: str
    escort_phone: str
    escort_relationship: str
    escort_arranged: bool
    fasting: str
    medications_to_hold: str
    what_to_bring: str


class PathwayPreparationOut(Schema):
    sessions: list[PreparationSessionOut]
    intentions: list[IntentionOut]
    safety_plan: SafetyPlanOut | None
    arrangements: ArrangementsOut | None


def _session_out(s: PreparationSession) -> PreparationSessionOut:
    return PreparationSessionOut(id=s.id, held_on=s.held_on, therapist_id=s.therapist_id, notes=s.notes)


def _intention_out(i: Intention) -> IntentionOut:
    return IntentionOut(id=i.id, text=i.text, by_patient=i.by_patient, written_at=i.written_at)


def _safety_out(s: SafetyPlan) -> SafetyPlanOut:
    sections = selectors.safety_plan_sections(s)
    return SafetyPlanOut(**sections, recorded_at=s.recorded_at,
                         complete=not safety_plan_missing(sections))


def _arrangements_out(a: SessionArrangements) -> ArrangementsOut:
    return ArrangementsOut(
        escort_name=a.escort_name, escort_phone=a.escort_phone, escort_relationship=a.escort_relationship,
        escort_arranged=a.escort_arranged, fasting=a.fasting, medications_to_hold=a.medications_to_hold,
        what_to_bring=a.what_to_bring,
    )


@router.get(f"{P}/preparation", response={200: PathwayPreparationOut, **ERRORS}, summary="Read the preparation")
def get_preparation(request: ApiRequest, patient_id: ObjectId) -> PathwayPreparationOut:
    _, episode = _episode(request, patient_id, "preparation")
    safety = selectors.latest_safety_plan(episode)
    arrangements = selectors.arrangements_of(episode)
    return PathwayPreparationOut(
        sessions=[_session_out(s) for s in selectors.preparation_sessions_of(episode)],
        intentions=[_intention_out(i) for i in selectors.intentions_of(episode)],
        safety_plan=_safety_out(safety) if safety else None,
        arrangements=_arrangements_out(arrangements) if arrangements else None,
    )


@router.post(f"{P}/preparation/sessions", response={201: PreparationSessionOut, **ERRORS},
             summary="Record a preparation session held")
def add_preparation_session(request: ApiRequest, patient_id: ObjectId, payload: PreparationSessionIn) -> Status:
    s = services.preparation_session_record(by=_actor(request), patient_id=patient_id, **payload.dict())
    return Status(201, _session_out(s))


@router.post(f"{P}/preparation/intentions", response={201: IntentionOut, **ERRORS}, summary="Add an intention")
def add_intention(request: ApiRequest, patient_id: ObjectId, payload: IntentionIn) -> Status:
    return Status(201, _intention_out(services.intention_add(by=_actor(request), patient_id=patient_id, text=payload.text)))


@router.put(f"{P}/preparation/safety-plan", response={200: SafetyPlanOut, **ERRORS},
            summary="Save a new version of the coping and safety plan")
def put_safety_plan(request: ApiRequest, patient_id: ObjectId, payload: SafetyPlanIO) -> SafetyPlanOut:
    sections = {k: v for k, v in payload.dict().items() if k in SAFETY_PLAN_SECTIONS}
    return _safety_out(services.safety_plan_save(by=_actor(request), patient_id=patient_id, sections=sections))


@router.put(f"{P}/preparation/escort", response={200: ArrangementsOut, **ERRORS}, summary="Arrange the escort (driver)")
def put_escort(request: ApiRequest, patient_id: ObjectId, payload: EscortIn) -> ArrangementsOut:
    return _arrangements_out(services.escort_arrange(by=_actor(request), patient_id=patient_id, **payload.dict()))


@router.put(f"{P}/preparation/instructions", response={200: ArrangementsOut, **ERRORS},
            summary="Set the pre-session instructions")
def put_instructions(request: ApiRequest, patient_id: ObjectId, payload: InstructionsIn) -> ArrangementsOut:
    return _arrangements_out(
        services.pre_session_instructions_set(by=_actor(request), patient_id=patient_id, **payload.dict())
    )


# --- consent ---------------------------------------------------------------------------------


class ConsentDocumentOut(Schema):
    id: int
    route: str
    version: int
    title: str
    text: str
    sha256: str
    published_at: dt.datetime


class SignatureOut(Schema):
    id: int
    document_id: int
    version: int
    typed_name: str
    document_sha256: str
    signed_text: str = Field(description="The exact text signed")
    signed_at: dt.datetime
    channel: str
    withdrawn_at: dt.datetime | None
    withdrawal_reason: str


class ConsentOut(Schema):
    route: str | None
    document: ConsentDocumentOut | None = Field(description="The version in force for the route")
    text_to_sign: str = Field(description="The document's text with the plan's protocol facts filled in")
    text_to_sign_sha256: str = Field(description="Send this as document_sha256 when the patient signs")
    cannot_sign_yet: str = Field(description="Why the text cannot be filled yet ('' when it can)")
    current: bool = Field(description="The patient signed the version in force and has not withdrawn")
    signatures: list[SignatureOut]


class ConsentSignIn(Schema):
    typed_name: ShortText
    document_sha256: str = Field(max_length=64, description="SHA-256 of the text shown to the patient")


class WithdrawIn(Schema):
    reason: str = Field(max_length=2000)


class ConsentDocumentIn(Schema):
    route: RouteName
    title: ShortText
    text: str = Field(max_length=100_000)


def _document_out(d: ConsentDocument) -> ConsentDocumentOut:
    return ConsentDocumentOut(id=d.id, route=d.route, version=d.version, title=d.title, text=d.text,
                              sha256=d.sha256, published_at=d.published_at)


def _signature_out(s: ConsentSignature) -> SignatureOut:
    return SignatureOut(
        id=s.id, document_id=s.document_id, version=s.document.version, typed_name=s.typed_name,
        document_sha256=s.document_sha256, signed_text=s.signed_text or s.document.text, signed_at=s.signed_at,
        channel=s.channel,
        withdrawn_at=s.withdrawn_at, withdrawal_reason=s.withdrawal_reason,
    )


@router.get(f"{P}/consent", response={200: ConsentOut, **ERRORS}, summary="Consent status and signatures")
def get_consent(request: ApiRequest, patient_id: ObjectId) -> ConsentOut:
    _, episode = _episode(request, patient_id, "consent")
    status = selectors.consent_status(episode)
    return ConsentOut(
        route=status.route.value if status.route else None,
        document=_document_out(status.document) if status.document else None, current=status.current,
        text_to_sign=status.text, text_to_sign_sha256=status.text_sha256 if status.document else "",
        cannot_sign_yet=status.unfilled,
        signatures=[_signature_out(s) for s in selectors.consent_signatures_of(episode)],
    )


@router.post(f"{P}/consent/signatures", response={201: SignatureOut, **ERRORS},
             summary="Record the patient's signature in clinic")
def sign_consent(request: ApiRequest, patient_id: ObjectId, payload: ConsentSignIn) -> Status:
    s = services.consent_sign_in_clinic(by=_actor(request), patient_id=patient_id, **payload.dict())
    return Status(201, _signature_out(s))


@router.post(f"{P}/consent/withdrawal", response={200: SignatureOut, **ERRORS},
             summary="Record that the patient withdrew consent")
def withdraw_consent(request: ApiRequest, patient_id: ObjectId, payload: WithdrawIn) -> SignatureOut:
    return _signature_out(services.consent_withdraw(by=_actor(request), patient_id=patient_id, reason=payload.reason))


@router.get("/pathway/consent-documents", response={200: list[ConsentDocumentOut], **ERRORS},
            summary="Consent documents of the organisation (admin)")
def list_consent_documents(request: ApiRequest) -> list[ConsentDocumentOut]:
    return [_document_out(d) for d in selectors.consent_documents(by=_actor(request))]


@router.post("/pathway/consent-documents", response={201: ConsentDocumentOut, **ERRORS},
             summary="Publish a new consent document version (admin)")
def publish_consent_document(request: ApiRequest, payload: ConsentDocumentIn) -> Status:
    return Status(201, _document_out(services.consent_document_publish(by=_actor(request), **payload.dict())))


# --- integration and journal ------------------------------------------------------------------


class IntegrationNoteIn(Schema):
    session_date: dt.date
    template: Literal[tuple(NOTE_TEMPLATES)]  # type: ignore[valid-type]
    sections: dict[str, Text] = Field(description="Section key of the template: text")
    dosing_session_id: int | None = Field(None, ge=1, le=MAX_ID, description="The dosing session this integrates")


class IntegrationNoteOut(Schema):
    id: int
    session_date: dt.date
    template: str
    sections: dict[str, str]
    dosing_session_id: int | None
    author_id: int
    created_at: dt.datetime


class IntegrationOut(Schema):
    window_days: int
    due: list[IntegrationDueOut]
    notes: list[IntegrationNoteOut]


def _note_out(n: IntegrationNote) -> IntegrationNoteOut:
    return IntegrationNoteOut(id=n.id, session_date=n.session_date, template=n.template, sections=n.sections,
                              dosing_session_id=n.dosing_session_id, author_id=n.author_id, created_at=n.created_at)


@router.get(f"{P}/integration-notes", response={200: IntegrationOut, **ERRORS},
            summary="Integration notes and integration sessions due")
def list_integration(request: ApiRequest, patient_id: ObjectId) -> IntegrationOut:
    _, episode = _episode(request, patient_id, "integration")
    window_days = selectors.integration_window_days(episode)
    return IntegrationOut(
        window_days=window_days,
        due=[IntegrationDueOut(dosing_session_id=int(d.session_id), dosed_on=d.dosed_on, due_by=d.due_by,
                               days_overdue=d.days_overdue)
             for d in selectors.integration_due(episode, window_days=window_days)],
        notes=[_note_out(n) for n in selectors.integration_notes_of(episode)],
    )


@router.post(f"{P}/integration-notes", response={201: IntegrationNoteOut, **ERRORS},
             summary="Write an integration note")
def add_integration_note(request: ApiRequest, patient_id: ObjectId, payload: IntegrationNoteIn) -> Status:
    return Status(201, _note_out(services.integration_note_write(by=_actor(request), patient_id=patient_id, **payload.dict())))


class JournalEntryOut(Schema):
    id: int
    text: str
    written_at: dt.datetime


class CommitmentOut(Schema):
    id: int
    text: str
    created_at: dt.datetime
    ended_at: dt.datetime | None
    done_on: list[dt.date]


class JournalOut(Schema):
    # One page of entries, newest first; ?page=N for older ones.
    entries: list[JournalEntryOut]
    entries_count: int
    page: int
    pages: int
    commitments: list[CommitmentOut]


@router.get("/patients/{patient_id}/journal", response={200: JournalOut, **ERRORS},
            summary=f"The patient's journal ({selectors.JOURNAL_PER_PAGE} entries a page, newest first) "
                    "and practices (read)")
def get_journal(request: ApiRequest, patient_id: ObjectId, page: PageNumber = 1) -> JournalOut:
    view = selectors.episode_view(by=_actor(request), patient_id=patient_id, part="journal")
    entries, commitments = selectors.journal_of(view.patient, page)
    return JournalOut(
        entries=[JournalEntryOut(id=e.id, text=e.text, written_at=e.written_at) for e in entries],
        entries_count=entries.paginator.count, page=entries.number, pages=entries.paginator.num_pages,
        commitments=[
            CommitmentOut(id=c.id, text=c.text, created_at=c.created_at, ended_at=c.ended_at,
                          done_on=sorted(ch.done_on for ch in c.checks.all()))
            for c in commitments
        ],
    )
