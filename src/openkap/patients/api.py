from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut, ObjectId, PageNumber
from openkap.patients import selectors, services
from openkap.patients.models import Patient

router = Router(tags=["patients"])

SexAtBirth = Literal["female", "male", "intersex", "unknown"]
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


PreferredLanguage = Literal["en", "es"]


class PatientIn(Schema):
    legal_given_name: str = Field(min_length=1, max_length=100)
    legal_family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: dt.date
    sex_at_birth: SexAtBirth
    mrn: str = Field("", max_length=20, description="Leave empty to generate one")
    preferred_name: str = Field("", max_length=100)
    pronouns: str = Field("", max_length=40)
    gender_identity: str = Field("", max_length=60)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=30)
    address: str = Field("", max_length=1000)
    preferred_language: PreferredLanguage = "en"
    emergency_contact_name: str = Field("", max_length=200)
    emergency_contact_phone: str = Field("", max_length=30)
    emergency_contact_relationship: str = Field("", max_length=60)
    allergies: str = Field("", max_length=4000)
    current_medications: str = Field("", max_length=4000)


class PatientPatchIn(Schema):
    legal_given_name: str | None = Field(None, min_length=1, max_length=100)
    legal_family_name: str | None = Field(None, min_length=1, max_length=100)
    date_of_birth: dt.date | None = None
    sex_at_birth: SexAtBirth | None = None
    preferred_name: str | None = Field(None, max_length=100)
    pronouns: str | None = Field(None, max_length=40)
    gender_identity: str | None = Field(None, max_length=60)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=30)
    address: str | None = Field(None, max_length=1000)
    preferred_language: PreferredLanguage | None = None
    emergency_contact_name: str | None = Field(None, max_length=200)
    emergency_contact_phone: str | None = Field(None, max_length=30)
    emergency_contact_relationship: str | None = Field(None, max_length=60)
    allergies: str | None = Field(None, max_length=4000)
    current_medications: str | None = Field(None, max_length=4000)


class PatientOut(Schema):
    id: int
    mrn: str
    legal_given_name: str
    legal_family_name: str
    preferred_name: str
    pronouns: str
    date_of_birth: dt.date
    sex_at_birth: str
    gender_identity: str
    email: str
    phone: str
    address: str
    preferred_language: str
    emergency_contact_name: str
    emergency_contact_phone: str
    emergency_contact_relationship: str
    allergies: str
    current_medications: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PatientSummaryOut(Schema):
    id: int
    mrn: str
    display_name: str
    date_of_birth: dt.date


class PatientPageOut(Schema):
    items: list[PatientSummaryOut]
    # Exact up to 1,000 matches; beyond, count is 1000, count_exact false and pages a lower bound.
    count: int
    count_exact: bool
    page: int
    pages: int


class WeightIn(Schema):
    value: Decimal = Field(gt=0, max_digits=6, decimal_places=2)
    unit: Literal["kg", "lb"]
    measured_on: dt.date | None = None


class WeightOut(Schema):
    id: int
    weight_kg: Decimal
    entered_value: Decimal
    entered_unit: str
    measured_on: dt.date


class WeightPageOut(Schema):
    items: list[WeightOut]
    count: int
    page: int
    pages: int


class HeightIn(Schema):
    value: Decimal = Field(gt=0, max_digits=5, decimal_places=1)
    unit: Literal["cm", "in"]
    measured_on: dt.date | None = None


class HeightOut(Schema):
    id: int
    height_cm: Decimal
    entered_value: Decimal
    entered_unit: str
    measured_on: dt.date


class HeightPageOut(Schema):
    items: list[HeightOut]
    count: int
    page: int
    pages: int


@router.get("", response={200: PatientPageOut, **ERRORS}, summary="Search patients")
def list_patients(request: ApiRequest, q: str = "", page: PageNumber = 1) -> PatientPageOut:
    result = selectors.patient_search(by=request.auth, query=q[:100], page=page)
    return PatientPageOut(
        items=[
            PatientSummaryOut(id=p.id, mrn=p.mrn, display_name=p.display_name, date_of_birth=p.date_of_birth)
            for p in result
        ],
        count=result.count,
        count_exact=result.count_exact,
        page=result.number,
        pages=result.num_pages,
    )


@router.post("", response={201: PatientOut, **ERRORS}, summary="Register a patient")
def create_patient(request: ApiRequest, payload: PatientIn) -> Status:
    data = payload.dict()
    mrn = data.pop("mrn")
    return Status(201, services.patient_create(by=request.auth, data=data, mrn=mrn))


@router.get("/{patient_id}", response={200: PatientOut, **ERRORS}, summary="Read a patient")
def get_patient(request: ApiRequest, patient_id: ObjectId) -> Patient:
    return selectors.patient_get(by=request.auth, patient_id=patient_id)


@router.patch("/{patient_id}", response={200: PatientOut, **ERRORS}, summary="Update a patient")
def update_patient(request: ApiRequest, patient_id: ObjectId, payload: PatientPatchIn) -> Patient:
    data = payload.dict(exclude_unset=True)
    return services.patient_update(by=request.auth, patient_id=patient_id, data=data)


@router.get(
    "/{patient_id}/weights", response={200: WeightPageOut, **ERRORS},
    summary=f"Weight history: every weight, newest first, {selectors.HISTORY_PER_PAGE} a page",
)
def list_weights(request: ApiRequest, patient_id: ObjectId, page: PageNumber = 1) -> WeightPageOut:
    result = selectors.weight_history(by=request.auth, patient_id=patient_id, page=page)
    return WeightPageOut(
        items=[WeightOut.from_orm(w) for w in result], count=result.paginator.count,
        page=result.number, pages=result.paginator.num_pages,
    )


@router.post("/{patient_id}/weights", response={201: WeightOut, **ERRORS}, summary="Record a weight")
def add_weight(request: ApiRequest, patient_id: ObjectId, payload: WeightIn) -> Status:
    return Status(201, services.weight_record(
        by=request.auth, patient_id=patient_id, value=payload.value, unit=payload.unit,
        measured_on=payload.measured_on,
    ))


class PortalAccessOut(Schema):
    status: Literal["none", "invited", "expired", "active", "disabled"]
    label: str
    email: str
    invited_at: dt.datetime | None
    expires_at: dt.datetime | None
    last_login: dt.datetime | None


class PortalInviteIn(Schema):
    email: str = Field("", max_length=254, description="Leave empty to use the address on the chart")


def _portal_out(access: selectors.PortalAccess) -> PortalAccessOut:
    return PortalAccessOut(
        status=access.status, label=access.label, email=access.email, invited_at=access.invited_at,  # type: ignore[arg-type]
        expires_at=access.expires_at, last_login=access.last_login,
    )


@router.get("/{patient_id}/portal-access", response={200: PortalAccessOut, **ERRORS}, summary="Portal access status")
def get_portal_access(request: ApiRequest, patient_id: ObjectId) -> PortalAccessOut:
    return _portal_out(selectors.portal_access(by=request.auth, patient_id=patient_id))


@router.post(
    "/{patient_id}/portal-access/invitations", response={201: PortalAccessOut, **ERRORS},
    summary="Invite the patient to the portal (or send the link again)",
)
def invite_to_portal(request: ApiRequest, patient_id: ObjectId, payload: PortalInviteIn) -> Status:
    services.portal_invite(by=request.auth, patient_id=patient_id, email=payload.email)
    return Status(201, _portal_out(selectors.portal_access(by=request.auth, patient_id=patient_id)))


@router.post(
    "/{patient_id}/portal-access/revoke", response={200: PortalAccessOut, **ERRORS},
    summary="Revoke portal access (open link and account)",
)
def revoke_portal_access(request: ApiRequest, patient_id: ObjectId) -> PortalAccessOut:
    services.portal_revoke(by=request.auth, patient_id=patient_id)
    return _portal_out(selectors.portal_access(by=request.auth, patient_id=patient_id))


@router.get(
    "/{patient_id}/heights", response={200: HeightPageOut, **ERRORS},
    summary=f"Height history: every height, newest first, {selectors.HISTORY_PER_PAGE} a page",
)
def list_heights(request: ApiRequest, patient_id: ObjectId, page: PageNumber = 1) -> HeightPageOut:
    result = selectors.height_history(by=request.auth, patient_id=patient_id, page=page)
    return HeightPageOut(
        items=[HeightOut.from_orm(h) for h in result], count=result.paginator.count,
        page=result.number, pages=result.paginator.num_pages,
    )


@router.post("/{patient_id}/heights", response={201: HeightOut, **ERRORS}, summary="Record a height")
def add_height(request: ApiRequest, patient_id: ObjectId, payload: HeightIn) -> Status:
    return Status(201, services.height_record(
        by=request.auth, patient_id=patient_id, value=payload.value, unit=payload.unit,
        measured_on=payload.measured_on,
    ))
