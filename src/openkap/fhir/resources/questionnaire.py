"""Questionnaire (the instrument library) and QuestionnaireResponse."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404

from openkap.accounts.authz import Actor
from openkap.core import fhir as core
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm
from openkap.core.instruments.registry import all_instruments
from openkap.fhir import mapping, writes
from openkap.fhir.framework import (
    Found,
    Page,
    Param,
    Query,
    ResourceType,
    date_q,
    db_id,
    list_page,
    queryset_page,
    register,
)
from openkap.measures.models import MeasureResponse
from openkap.patients.selectors import patient_for

from .common import PATIENT_PARAMS, _one, _scoped_patients


def _questionnaires(by: Actor) -> list[dict[str, Any]]:
    return [mapping.questionnaire(i, by.organization.created_at) for i in all_instruments()]


def questionnaire_read(by: Actor, resource_id: str) -> Found:
    return Found(_one(_questionnaires(by), resource_id))


def questionnaire_search(by: Actor, query: Query) -> Page:
    resources = _questionnaires(by)
    for value in query.params.get("url", []):
        resources = [r for r in resources if r["url"] == value.split("|", 1)[0]]
    for value in query.params.get("name", []):
        resources = [r for r in resources if value.lower() in (r["name"] + " " + r["title"]).lower()]
    for tokens in query.tokens("code"):
        resources = [r for r in resources if core.token_matches(
            tokens, [(c["system"], c["code"]) for c in r.get("code", [])])]
    return list_page(resources, query)


def response_read(by: Actor, resource_id: str) -> Found:
    response = MeasureResponse.objects.filter(organization=by.organization, pk=db_id(resource_id)).first()
    if response is None:
        raise Http404
    _, glass = patient_for(by, response.patient_id, Perm.MEASURE_VIEW)
    return Found(mapping.questionnaire_response(response), response.patient_id, glass)


def response_search(by: Actor, query: Query) -> Page:
    authored, statuses = query.dates("authored"), query.tokens("status")
    instruments = []
    for value in query.params.get("questionnaire", []):
        try:
            instruments.append(writes.instrument_of(value if "Questionnaire/" in value else f"Questionnaire/{value}").id)
        except ValidationError:
            instruments.append("-")
    patients, glass, patient_id = _scoped_patients(by, query, Perm.MEASURE_VIEW)
    qs = MeasureResponse.objects.filter(organization=by.organization)
    if patient_id is not None or not (by.roles & ORGANIZATION_WIDE_ROLES):
        qs = qs.filter(patient__in=patients)
    if instruments:
        qs = qs.filter(instrument_id__in=instruments)
    if authored:
        qs = qs.filter(date_q("completed_at", authored))
    for tokens in statuses:
        wanted = {t.code for t in tokens}
        if wanted.isdisjoint({"completed", "amended"}):
            qs = qs.none()
        elif "completed" not in wanted:
            qs = qs.filter(corrects__isnull=False)
        elif "amended" not in wanted:
            qs = qs.filter(corrects__isnull=True)
    page = queryset_page(qs, query, to_fhir=mapping.questionnaire_response, updated_field="submitted_at")
    page.patient_ids = {int(r["subject"]["reference"].split("/")[1]) for r in page.resources}
    page.break_glass = glass
    return page


register(ResourceType(
    "Questionnaire",
    "The instrument library. Item text is the published wording only where the licence allows "
    "reproducing it, otherwise a short label; a clinic's licensed wording is never sent.",
    params=(Param("url", "uri", "Canonical URL"), Param("name", "string", "Name or title contains"),
            Param("code", "token", "LOINC panel code")),
    read=questionnaire_read, search=questionnaire_search,
))


register(ResourceType(
    "QuestionnaireResponse",
    "Questionnaire answers. Create scores the answers with OpenKAP's engine through the same "
    "service as the web app: a positive suicide-risk answer raises the same urgent task.",
    params=(
        *PATIENT_PARAMS,
        Param("questionnaire", "reference", "Questionnaire/phq9 or its canonical URL"),
        Param("authored", "date", "When answered"),
        Param("status", "token", "completed or amended"),
    ),
    read=response_read, search=response_search, create=writes.response_create,
))
