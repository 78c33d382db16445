"""What the resource families share: the patient a search names, and the patients it may
cover."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from openkap.accounts.authz import Actor, require
from openkap.core import fhir as core
from openkap.core.authz import Perm
from openkap.fhir.framework import Param, Query, bad_param, db_id
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for, visible_patients


def _one(resources: list[dict[str, Any]], resource_id: str) -> dict[str, Any]:
    """The resource with this id among those built for a read, or 404."""
    for res in resources:
        if res["id"] == resource_id:
            return res
    raise Http404


def _patient_param(query: Query) -> int | None:
    value = query.one("patient") or query.one("subject")
    if value is None:
        return None
    try:
        return db_id(core.parse_reference(value, "Patient"))
    except core.SearchParamError as exc:
        raise bad_param("patient", str(exc)) from None


def _scoped_patients(by: Actor, query: Query, perm: Perm) -> tuple[QuerySet[Patient], bool, int | None]:
    """The patients a search may cover: the one named (404 elsewhere, 403 outside the care
    team) or every patient the actor may see for ``perm``."""
    patient_id = _patient_param(query)
    if patient_id is not None:
        patient, glass = patient_for(by, patient_id, perm)
        return Patient.objects.filter(pk=patient.pk), glass, patient.id
    require(by, perm)
    return visible_patients(by), False, None


# The two search parameters of every resource that belongs to a patient.
PATIENT_PARAMS = (
    Param("patient", "reference", "The patient (Patient/123 or 123)"),
    Param("subject", "reference", "Same as patient"),
)
