"""The intake worklist in the JSON API: the same selectors and services as the web pages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import MAX_ID, ErrorOut, ObjectId
from openkap.referrals import selectors, services
from openkap.referrals.models import Referral

router = Router(tags=["referrals"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
View = Literal["open", "decided", "all"]
Outcome = Literal["declined", "referred_elsewhere"]


class InstrumentOut(Schema):
    answers: dict[str, int | None]
    total: float | None
    band: str | None
    band_label: str | None
    flags: list[str]
    highest_severity: str
    complete: bool


class ReferralSummaryOut(Schema):
    id: int
    kind: str
    status: str
    urgency: str = Field(description="emergency, urgent, review or routine")
    given_name: str
    family_name: str
    date_of_birth: dt.date
    preferred_language: str
    created_at: dt.datetime
    phq9_total: float | None
    phq9_item9: int | None
    gad7_total: float | None
    asq_result: str | None
    red_flags: list[str]


class ReferralOut(ReferralSummaryOut):
    sex_at_birth: str
    email: str
    phone: str
    reason: str
    current_treatment: str
    reasons: list[str] = Field(description="Why the referral has its urgency")
    crisis_shown: bool
    consent_to_contact: bool
    checklist_items: list[str] = Field(description="Contraindication checklist items the red flags stand for")
    instruments: dict[str, InstrumentOut]
    referrer_name: str
    referrer_npi: str
    referrer_practice: str
    referrer_email: str
    referrer_phone: str
    has_letter: bool
    decided_at: dt.datetime | None
    decided_by_id: int | None
    decision_note: str
    letter: str
    referred_to: str
    patient_id: int | None
    episode_id: int | None


def _summary(r: Referral) -> dict[str, Any]:
    instruments = r.triage.get("instruments", {})
    phq9, gad7, asq = instruments.get("phq9") or {}, instruments.get("gad7") or {}, instruments.get("asq") or {}
    return {
        "id": r.id, "kind": r.kind, "status": r.status, "urgency": r.urgency_level.slug,
        "given_name": r.given_name, "family_name": r.family_name, "date_of_birth": r.date_of_birth,
        "preferred_language": r.preferred_language, "created_at": r.created_at,
        "phq9_total": phq9.get("total"), "phq9_item9": (phq9.get("answers") or {}).get("q9"),
        "gad7_total": gad7.get("total"), "asq_result": asq.get("band"),
        "red_flags": list(r.triage.get("red_flags", [])),
    }


def _full(r: Referral) -> dict[str, Any]:
    return {
        **_summary(r),
        **{name: getattr(r, name) for name in (
            "sex_at_birth", "email", "phone", "reason", "current_treatment", "crisis_shown", "consent_to_contact",
            "referrer_name", "referrer_npi", "referrer_practice", "referrer_email", "referrer_phone",
            "decided_at", "decided_by_id", "decision_note", "letter", "referred_to", "patient_id", "episode_id",
        )},
        "reasons": list(r.triage.get("reasons", [])),
        "checklist_items": list(r.triage.get("checklist_items", [])),
        "instruments": r.triage.get("instruments", {}),
        "has_letter": hasattr(r, "attachment"),
    }


@router.get("/referrals", response={200: list[ReferralSummaryOut], **ERRORS}, summary="Intake worklist")
def list_referrals(request: ApiRequest, view: View = "open") -> list[dict[str, Any]]:
    """Open referrals most urgent first, then oldest first; decided or all, newest first."""
    return [_summary(r) for r in selectors.worklist(by=request.auth, view=view)]


@router.get("/referrals/{referral_id}", response={200: ReferralOut, **ERRORS}, summary="Read a referral")
def get_referral(request: ApiRequest, referral_id: ObjectId) -> dict[str, Any]:
    return _full(selectors.referral_get(by=request.auth, referral_id=referral_id))


@router.get(
    "/referrals/{referral_id}/letter", response={200: None, **ERRORS}, summary="The referring clinician's letter",
    openapi_extra={"responses": {"200": {"description": "The letter", "content": {"application/pdf": {}}}}},
)
def get_referral_letter(request: ApiRequest, referral_id: ObjectId) -> HttpResponse:
    _referral, content, _info = selectors.letter_of(by=request.auth, referral_id=referral_id)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="referral-{referral_id}.pdf"'
    return response


class AcceptIn(Schema):
    existing_patient_id: int | None = Field(None, ge=1, le=MAX_ID,
                                            description="Accept into this matching patient (see 409)")
    different_person: bool = Field(False, description="The matching patients are someone else: register anew")
    note: str = Field("", max_length=10_000)


class AcceptOut(Schema):
    referral: ReferralOut
    patient_id: int
    episode_id: int
    measure_response_ids: list[int]


class MatchOut(Schema):
    id: int
    mrn: str
    display_name: str
    date_of_birth: dt.date


class DuplicateOut(ErrorOut):
    matches: list[MatchOut]


@router.post(
    "/referrals/{referral_id}/accept", response={200: AcceptOut, 409: DuplicateOut, **ERRORS},
    summary="Accept a referral",
)
def accept_referral(request: ApiRequest, referral_id: ObjectId, payload: AcceptIn) -> Any:
    """Registers the patient (or uses the matching one chosen), opens an episode in intake and
    stores the pre-screen answers as measure responses. A patient with the same name and date
    of birth answers 409 with the matches, until one is chosen or `different_person` is set."""
    try:
        done = services.referral_accept(
            by=request.auth, referral_id=referral_id, existing_patient_id=payload.existing_patient_id,
            different_person=payload.different_person, note=payload.note,
        )
    except services.DuplicateFound as dup:
        return Status(409, {
            "detail": dup.messages[0], "errors": dup.message_dict,
            "matches": [{"id": p.id, "mrn": p.mrn, "display_name": p.display_name,
                         "date_of_birth": p.date_of_birth} for p in dup.patients],
        })
    return Status(200, {"referral": _full(done.referral), "patient_id": done.patient.id,
                        "episode_id": done.episode.id, "measure_response_ids": [r.id for r in done.responses]})


class CloseIn(Schema):
    outcome: Outcome
    letter: str = Field(max_length=20_000, description="The letter as sent (see letter-template)")
    referred_to: str = Field("", max_length=1_000)
    note: str = Field("", max_length=10_000)
    send: bool = Field(True, description="Email the letter to the person (or the referring clinician)")


@router.post("/referrals/{referral_id}/close", response={200: ReferralOut, **ERRORS},
             summary="Decline a referral or refer elsewhere")
def close_referral(request: ApiRequest, referral_id: ObjectId, payload: CloseIn) -> dict[str, Any]:
    referral = services.referral_close(
        by=request.auth, referral_id=referral_id, outcome=payload.outcome, letter=payload.letter,
        referred_to=payload.referred_to, note=payload.note, send=payload.send,
    )
    return _full(referral)


class LetterOut(Schema):
    language: str
    letter: str


@router.get("/referrals/{referral_id}/letter-template", response={200: LetterOut, **ERRORS},
            summary="The default decline or refer-elsewhere letter")
def referral_letter_template(request: ApiRequest, referral_id: ObjectId, outcome: Outcome = "declined",
                             referred_to: Annotated[str, Query(max_length=200)] = "") -> dict[str, str]:
    referral = selectors.referral_get(by=request.auth, referral_id=referral_id)
    return {"language": referral.preferred_language,
            "letter": selectors.default_letter(referral, outcome, referred_to)}
