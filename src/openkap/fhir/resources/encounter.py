"""Encounter: the medicine (dosing) sessions."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from openkap.accounts.authz import Actor
from openkap.core import fhir as core
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm
from openkap.dosing.models import DosingSession
from openkap.fhir import mapping
from openkap.fhir.framework import (
    Found,
    Page,
    Param,
    Query,
    ResourceType,
    date_q,
    db_id,
    queryset_page,
    register,
)
from openkap.patients.selectors import patient_for

from .common import PATIENT_PARAMS, _scoped_patients


def encounter_read(by: Actor, resource_id: str) -> Found:
    session = DosingSession.objects.filter(organization=by.organization, pk=db_id(resource_id)).first()
    if session is None:
        raise Http404
    _, glass = patient_for(by, session.patient_id, Perm.DOSING_VIEW)
    return Found(mapping.encounter(session), session.patient_id, glass)


_STATUS_FROM_FHIR: dict[str, list[str]] = {}


for _ours, _theirs in mapping.ENCOUNTER_STATUS.items():
    _STATUS_FROM_FHIR.setdefault(_theirs, []).append(_ours)


def encounter_search(by: Actor, query: Query) -> Page:
    statuses, classes, types, dates = (query.tokens("status"), query.tokens("class"), query.tokens("type"),
                                       query.dates("date"))
    patients, glass, patient_id = _scoped_patients(by, query, Perm.DOSING_VIEW)
    qs = DosingSession.objects.filter(organization=by.organization)
    if patient_id is not None or not (by.roles & ORGANIZATION_WIDE_ROLES):
        qs = qs.filter(patient__in=patients)
    for tokens in statuses:
        qs = qs.filter(status__in=[s for t in tokens for s in _STATUS_FROM_FHIR.get(t.code, [])])
    for tokens in classes:
        if not core.token_matches(tokens, [(core.ACT_CODE, "AMB")]):
            qs = qs.none()
    for tokens in types:
        if not core.token_matches(tokens, [(core.LOCAL_ENCOUNTER_TYPE, "dosing-session")]):
            qs = qs.none()
    if dates:
        qs = qs.filter(date_q("scheduled_start", dates))
    qs = qs.annotate(last_updated=session_updated_expr())
    page = queryset_page(qs, query, to_fhir=mapping.encounter, updated_field="last_updated")
    page.patient_ids = {int(r["subject"]["reference"].split("/")[1]) for r in page.resources}
    page.break_glass = glass
    return page


def session_updated_expr() -> Any:
    from django.db.models.functions import Coalesce, Greatest

    fields = ["started_at", "administration_started_at", "administration_ended_at", "discharged_at", "ended_at"]
    return Greatest("created_at", *(Coalesce(f, "created_at") for f in fields))


register(ResourceType(
    "Encounter", "Medicine (dosing) sessions.",
    profile=f"{core.US_CORE}/us-core-encounter",
    params=(
        *PATIENT_PARAMS,
        Param("date", "date", "Scheduled start"),
        Param("status", "token", "planned, arrived, in-progress, finished, cancelled"),
        Param("class", "token", "AMB"), Param("type", "token", "dosing-session"),
    ),
    read=encounter_read, search=encounter_search,
))
