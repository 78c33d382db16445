"""Condition: the diagnoses recorded at intake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from django.http import Http404

from openkap.accounts.authz import Actor
from openkap.core import fhir as core
from openkap.core.authz import Perm
from openkap.fhir import mapping
from openkap.fhir.framework import (
    Found,
    Page,
    Param,
    Query,
    ResourceType,
    db_id,
    list_page,
    register,
)
from openkap.pathway.models import Intake
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for

from .common import PATIENT_PARAMS, _one, _scoped_patients


def condition_read(by: Actor, resource_id: str) -> Found:
    parts = resource_id.split("-")
    if len(parts) != 3 or parts[0] != "dx":
        raise Http404
    intake = Intake.objects.filter(organization=by.organization, pk=db_id(parts[1])).select_related("episode").first()
    if intake is None:
        raise Http404
    patient, glass = patient_for(by, intake.episode.patient_id, Perm.CLINICAL_VIEW)
    return Found(_one(mapping.conditions(intake, patient.id), resource_id), patient.id, glass)


def condition_search(by: Actor, query: Query) -> Page:
    codes = query.tokens("code")
    patients, glass, _ = _scoped_patients(by, query, Perm.CLINICAL_VIEW)
    resources: list[dict[str, Any]] = []
    intakes = Intake.objects.filter(organization=by.organization, episode__patient__in=patients.values("pk"))
    for intake in intakes.annotate(fhir_patient_id=F("episode__patient_id")).order_by("pk")[:5000]:
        resources += mapping.conditions(intake, intake.fhir_patient_id)
    for tokens in codes:
        resources = [r for r in resources if core.token_matches(
            tokens, [(c["system"], c["code"]) for c in r["code"]["coding"]])]
    page = list_page(resources, query)
    page.patient_ids = {int(r["subject"]["reference"].split("/")[1]) for r in page.resources}
    page.break_glass = glass
    return page


def conditions_export(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[dict[str, Any]]:
    intakes = Intake.objects.filter(organization=by.organization, episode__patient__in=patients.values("pk"))
    if since is not None:
        intakes = intakes.filter(updated_at__gte=since)
    for intake in intakes.annotate(fhir_patient_id=F("episode__patient_id")).order_by("pk").iterator(chunk_size=2000):
        yield from mapping.conditions(intake, intake.fhir_patient_id)


register(ResourceType(
    "Condition", "Diagnoses recorded at intake (ICD-10-CM), as problem-list items.",
    profile=f"{core.US_CORE}/us-core-condition-problems-health-concerns",
    params=(*PATIENT_PARAMS, Param("code", "token", "ICD-10-CM")),
    read=condition_read, search=condition_search,
))
