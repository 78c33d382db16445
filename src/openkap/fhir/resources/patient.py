"""Patient, and Group (the cohorts a Group $export can name)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from openkap.accounts.authz import Actor
from openkap.core import fhir as core
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
from openkap.patients.models import CareTeamMember
from openkap.patients.selectors import patient_for, visible_patients

from .common import _one


def patient_read(by: Actor, resource_id: str) -> Found:
    patient, glass = patient_for(by, db_id(resource_id))
    return Found(mapping.patient(patient), patient.id, glass)


def patient_search(by: Actor, query: Query) -> Page:
    qs = visible_patients(by)
    for value in query.params.get("identifier", []):
        tokens = [t for t in core.parse_token(value) if t.system in (None, "", mapping.mrn_system(by.organization.id))]
        qs = qs.filter(mrn__in=[t.code for t in tokens])
    for name, column in (("family", "legal_family_name"), ("given", "legal_given_name")):
        for value in query.params.get(name, []):
            qs = qs.filter(**{f"{column}__istartswith": value})
    for value in query.params.get("name", []):
        qs = qs.filter(search_name__contains=value.lower())
    for value in query.params.get("gender", []):
        sexes = [core.SEX_FROM_GENDER.get(t.code, "-") for t in core.parse_token(value)]
        qs = qs.filter(sex_at_birth__in=sexes)
    for r in query.dates("birthdate"):
        day_q = date_q("date_of_birth", [core.DateRange(r.prefix, r.start, r.end)])
        qs = qs.filter(_as_date_q(day_q))
    page = queryset_page(qs, query, to_fhir=mapping.patient, updated_field="updated_at")
    page.patient_ids = {int(r["id"]) for r in page.resources}
    return page


def _as_date_q(condition: Any) -> Any:
    """date_q compares instants; birthDate is a calendar date, so compare dates."""
    children = []
    for child in condition.children:
        if isinstance(child, tuple):
            children.append((child[0], child[1].date()))
        else:
            children.append(_as_date_q(child))
    out = condition.copy()
    out.children = children
    return out


def _groups(by: Actor) -> list[dict[str, Any]]:
    from openkap.fhir.export import GROUP_ALL

    patients = visible_patients(by)
    updated = by.organization.created_at
    out = [mapping.group(GROUP_ALL, "Every patient you may see", patients.count(), updated)]
    teams = (CareTeamMember.objects.filter(organization=by.organization, ended_at__isnull=True,
                                           patient__in=patients)
             .values("user_id", "user__full_name").annotate(n=Count("patient", distinct=True)).order_by("user_id"))
    out += [mapping.group(f"care-team-{t['user_id']}", f"Care team of {t['user__full_name']}", t["n"], updated,
                          practitioner_id=t["user_id"]) for t in teams]
    return out


def group_read(by: Actor, resource_id: str) -> Found:
    return Found(_one(_groups(by), resource_id))


def group_search(by: Actor, query: Query) -> Page:
    resources = _groups(by)
    for value in query.params.get("name", []):
        resources = [r for r in resources if value.lower() in r["name"].lower()]
    return list_page(resources, query)


register(ResourceType(
    "Patient", "Patients the token's user may see (the care team's, or the clinic's for nurses and admins).",
    profile=f"{core.US_CORE}/us-core-patient",
    params=(
        Param("identifier", "token", "MRN (system urn:openkap:organization:<id>:mrn)"),
        Param("name", "string", "Any part of the name"),
        Param("family", "string", "Family name, starts with"),
        Param("given", "string", "Given name, starts with"),
        Param("gender", "token", "Administrative gender"),
        Param("birthdate", "date", "Date of birth"),
    ),
    read=patient_read, search=patient_search, create=writes.patient_create, update=writes.patient_update,
    operations=("export",),
))


register(ResourceType(
    "Group",
    "Cohorts for Group/{id}/$export: 'all-patients' (every patient you may see) and "
    "'care-team-<practitioner id>' (one clinician's care team).",
    params=(Param("name", "string", "Name contains"),),
    read=group_read, search=group_search, operations=("export",),
))
