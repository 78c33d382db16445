"""The protocol library: drafts, field edits, checks against the reference, approval."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import MAX_ID, ObjectId
from openkap.core.protocols.fields import FIELDS as PROTOCOL_FIELDS
from openkap.dosing import selectors, services
from openkap.dosing.models import ProtocolVersion

from .common import ERRORS, Text, num

router = Router()


class ProtocolVersionOut(Schema):
    id: int
    protocol_id: str
    version: int
    title: str
    route: str
    status: str
    sha256: str
    based_on_id: int | None
    change_reason: str
    created_at: dt.datetime
    approved_at: dt.datetime | None
    approver_name: str
    content: str = Field(description="The protocol JSON (numbers as exact decimals)")


def _version_out(v: ProtocolVersion) -> ProtocolVersionOut:
    return ProtocolVersionOut(
        id=v.id, protocol_id=v.protocol_id, version=v.version, title=v.title, route=v.route, status=v.status,
        sha256=v.sha256, based_on_id=v.based_on_id, change_reason=v.change_reason, created_at=v.created_at,
        approved_at=v.approved_at, approver_name=v.approver_name, content=v.content,
    )


class ProtocolIn(Schema):
    content: str = Field(min_length=2, max_length=services.MAX_PROTOCOL_CHARS,
                         description="Protocol JSON as text, so its numbers stay exact")
    change_reason: Text = ""


class RevisionIn(Schema):
    content: str = Field(min_length=2, max_length=services.MAX_PROTOCOL_CHARS)
    change_reason: str = Field(min_length=3, max_length=4000)


class PasswordIn(Schema):
    password: str = Field(max_length=200, description="The signer's password, re-entered")


class ApprovalIn(PasswordIn):
    accept_warnings: bool = Field(False, description="Required when the protocol is above the reference's "
                                                     "suggested limits for its route (see /protocol-checks)")


FIELD_NAMES = ", ".join(f.name for f in PROTOCOL_FIELDS)
FieldValues = Annotated[dict[str, str], Field(
    description="Field name -> value as text, as the editor form shows it: " + FIELD_NAMES
    + ". Lists one item per line; an empty optional field removes it. Fields not given keep their value.",
)]


class FieldsEditIn(Schema):
    fields: FieldValues
    change_reason: Text = ""


class ExampleFieldsIn(Schema):
    example_id: str = Field(max_length=80)
    fields: FieldValues = Field(default_factory=dict)
    change_reason: Text = ""


class ProtocolCheckIn(Schema):
    version_id: int | None = Field(None, ge=1, le=MAX_ID, description="Check an edit of this version ...")
    example_id: str | None = Field(None, max_length=80, description="... or of this shipped example")
    fields: FieldValues = Field(default_factory=dict)


class SampleOut(Schema):
    label: str
    dose_mg: str | None
    lines: list[str]
    problems: list[str]


class ProtocolCheckOut(Schema):
    errors: dict[str, list[str]] = Field(description="Refusals by field ('__all__' for the protocol as a whole)")
    warnings: list[str] = Field(description="Above the reference's suggested limits: approval needs accept_warnings")
    samples: list[SampleOut] = Field(description="The default first-session order for sample patients")
    content: str | None = Field(description="The protocol JSON the fields make")


@router.get("/protocols", response={200: list[ProtocolVersionOut], **ERRORS}, summary="The protocol library (every version)")
def protocol_list(request: ApiRequest) -> list[ProtocolVersionOut]:
    entries = selectors.protocol_library(by=request.auth)
    return [_version_out(v) for e in entries for v in e.versions]


@router.get("/protocols/{version_id}", response={200: ProtocolVersionOut, **ERRORS}, summary="One protocol version")
def protocol_get(request: ApiRequest, version_id: ObjectId) -> ProtocolVersionOut:
    return _version_out(selectors.protocol_version_get(by=request.auth, version_id=version_id))


@router.post("/protocols", response={201: ProtocolVersionOut, **ERRORS}, summary="Add a protocol as a draft")
def protocol_create(request: ApiRequest, payload: ProtocolIn) -> Status:
    return Status(201, _version_out(services.protocol_draft_create(by=request.auth, **payload.dict())))


@router.post("/protocol-imports", response={201: ProtocolVersionOut, **ERRORS},
             summary="Add a shipped example as a draft, as it is or with fields changed")
def protocol_import(request: ApiRequest, payload: ExampleFieldsIn) -> Status:
    by = request.auth
    if not payload.fields:
        return Status(201, _version_out(services.protocol_example_import(by=by, example_id=payload.example_id)))
    return Status(201, _version_out(services.protocol_fields_save(
        by=by, example_id=payload.example_id, fields=payload.fields, change_reason=payload.change_reason)))


@router.get("/protocols/{version_id}/fields", response={200: dict[str, str], **ERRORS},
            summary="A protocol version's fields, as the editor shows them")
def protocol_fields(request: ApiRequest, version_id: ObjectId) -> dict[str, str]:
    version = selectors.protocol_version_get(by=request.auth, version_id=version_id)
    return selectors.protocol_fields(version.content)


@router.patch("/protocols/{version_id}", response={200: ProtocolVersionOut, **ERRORS},
              summary="Change fields: a draft in place, an approved version as a new draft version")
def protocol_fields_edit(request: ApiRequest, version_id: ObjectId, payload: FieldsEditIn) -> ProtocolVersionOut:
    return _version_out(services.protocol_fields_save(
        by=request.auth, version_id=version_id, fields=payload.fields, change_reason=payload.change_reason))


@router.post("/protocol-checks", response={200: ProtocolCheckOut, **ERRORS},
             summary="Check an edit without saving: refusals, warnings and the dose for sample patients")
def protocol_check(request: ApiRequest, payload: ProtocolCheckIn) -> ProtocolCheckOut:
    if (payload.version_id is None) == (payload.example_id is None):
        raise ValidationError({"__all__": "Give version_id or example_id."})
    check = selectors.protocol_check(by=request.auth, fields=payload.fields,
                                     version_id=payload.version_id, example_id=payload.example_id)
    return ProtocolCheckOut(errors=check.errors, warnings=check.warnings, content=check.content, samples=[
        SampleOut(label=s.label, dose_mg=num(s.dose_mg), lines=list(s.lines), problems=list(s.problems))
        for s in check.samples])


@router.put("/protocols/{version_id}", response={200: ProtocolVersionOut, **ERRORS}, summary="Edit a draft (approved versions never change)")
def protocol_update(request: ApiRequest, version_id: ObjectId, payload: ProtocolIn) -> ProtocolVersionOut:
    return _version_out(services.protocol_draft_update(by=request.auth, version_id=version_id, **payload.dict()))


@router.post("/protocols/{version_id}/revisions", response={201: ProtocolVersionOut, **ERRORS}, summary="Change a protocol: a new draft version")
def protocol_revise(request: ApiRequest, version_id: ObjectId, payload: RevisionIn) -> Status:
    return Status(201, _version_out(services.protocol_revise(by=request.auth, version_id=version_id, **payload.dict())))


@router.post("/protocols/{version_id}/approval", response={200: ProtocolVersionOut, **ERRORS}, summary="Approve a draft (prescriber, signed with the password)")
def protocol_approve(request: ApiRequest, version_id: ObjectId, payload: ApprovalIn) -> ProtocolVersionOut:
    return _version_out(services.protocol_approve(by=request.auth, version_id=version_id,
                                                  password=payload.password, accept_warnings=payload.accept_warnings))
