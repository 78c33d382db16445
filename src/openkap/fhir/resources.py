"""The resource types served at /fhir/R4, each registered with what it supports.

Reads and searches go through the apps' own access rules (``patient_for``,
``visible_patients``, ``require``): another organisation's resource is 404, a role
without the permission 403. The views audit each read and search (via=fhir).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Case, Count, F, IntegerField, Max, Q, QuerySet, Sum, When, Window
from django.http import Http404

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Membership, Room, Site
from openkap.accounts.selectors import sites_of, staff_list
from openkap.core import fhir as core
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm, Role
from openkap.core.instruments.registry import all_instruments
from openkap.dosing.models import (
    AdministrationEvent,
    AdverseEvent,
    DoseOrder,
    DosingSession,
    VitalSigns,
)
from openkap.fhir import mapping, writes
from openkap.fhir.framework import (
    FhirError,
    Found,
    Page,
    Param,
    Query,
    ResourceType,
    bad_param,
    date_q,
    db_id,
    list_page,
    queryset_page,
    register,
)
from openkap.ledger.models import Product
from openkap.measures.models import MeasureResponse
from openkap.measures.selectors import current_responses
from openkap.pathway.models import ConsentSignature, Intake, TreatmentPlan
from openkap.patients.models import CareTeamMember, HeightMeasurement, Patient, WeightMeasurement
from openkap.patients.selectors import patient_for, visible_patients
from openkap.scheduling.models import Appointment


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


# --- Patient -------------------------------------------------------------------------------


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


# --- Practitioner, Organization, Location --------------------------------------------------


def _npis(by: Actor) -> dict[int, str]:
    return dict(
        Membership.objects.filter(organization=by.organization, is_active=True)
        .exclude(npi="").values_list("user_id", "npi")
    )


def _practitioners(by: Actor) -> list[dict[str, Any]]:
    npis = _npis(by)
    return [mapping.practitioner(row.user, npis.get(row.user.id, "")) for row in staff_list(by=by)]


def practitioner_read(by: Actor, resource_id: str) -> Found:
    return Found(_one(_practitioners(by), str(db_id(resource_id))))


def practitioner_search(by: Actor, query: Query) -> Page:
    resources = _practitioners(by)
    for value in query.params.get("name", []):
        resources = [r for r in resources if value.lower() in r["name"][0]["text"].lower()]
    for value in query.params.get("identifier", []):
        tokens = core.parse_token(value)
        resources = [r for r in resources if core.token_matches(
            tokens, [(i["system"], i["value"]) for i in r.get("identifier", [])])]
    return list_page(resources, query)


def organization_read(by: Actor, resource_id: str) -> Found:
    if db_id(resource_id) != by.organization.id:
        raise Http404
    return Found(mapping.organization(by.organization))


def organization_search(by: Actor, query: Query) -> Page:
    return list_page([mapping.organization(by.organization)], query)


def _locations(by: Actor) -> list[dict[str, Any]]:
    created = by.organization.created_at
    out = []
    for site in sites_of(by=by):
        out.append(mapping.site_location(site, created))
        out += [mapping.room_location(room, created) for room in site.rooms.all()]
    return out


def location_read(by: Actor, resource_id: str) -> Found:
    if resource_id.startswith("site-"):
        site = Site.objects.filter(organization=by.organization, pk=db_id(resource_id, "site-")).first()
        if site:
            return Found(mapping.site_location(site, by.organization.created_at))
    elif resource_id.startswith("room-"):
        room = Room.objects.filter(organization=by.organization, pk=db_id(resource_id, "room-")).first()
        if room:
            return Found(mapping.room_location(room, by.organization.created_at))
    raise Http404


def location_search(by: Actor, query: Query) -> Page:
    resources = _locations(by)
    for value in query.params.get("name", []):
        resources = [r for r in resources if value.lower() in r["name"].lower()]
    for value in query.params.get("partof", []):
        ref = core.parse_reference(value, "Location")
        resources = [r for r in resources if r.get("partOf", {}).get("reference") == f"Location/{ref}"]
    for name, key in (("address-city", "city"), ("address-state", "state"), ("address-postalcode", "postalCode")):
        for value in query.params.get(name, []):
            resources = [r for r in resources if r.get("address", {}).get(key, "").lower().startswith(value.lower())]
    return list_page(resources, query)


# --- Observation ---------------------------------------------------------------------------

def _other_observations(patient: Patient, sources: frozenset[str] = frozenset({"survey", "weight", "height"})
                        ) -> list[dict[str, Any]]:
    """A patient's Observations that are not session vitals (a bounded number: scores,
    weights and heights), oldest first within each source; only the sources named."""
    out: list[dict[str, Any]] = []
    if "survey" in sources:
        for response in current_responses(patient):
            out += mapping.measure_observations(response)
    if "weight" in sources:
        out += [mapping.weight_observation(w) for w in patient.weights.order_by("measured_on", "id")]
    if "height" in sources:
        out += [mapping.height_observation(h) for h in patient.heights.order_by("measured_on", "id")]
    return out


def _possible_sources(codes: list[list[core.Token]], categories: list[list[core.Token]],
                      statuses: list[list[core.Token]]) -> frozenset[str]:
    """The sources whose Observations could match the tokens (the others are not queried):
    a vital-signs search reads no questionnaires, a heart-rate search no weights."""
    def every(token_lists: list[list[core.Token]], codings: list[tuple[str, str]]) -> bool:
        return all(core.token_matches(tokens, codings) for tokens in token_lists)

    final = [(core.OBSERVATION_STATUS, "final")]
    vital = every(categories, mapping.VITAL_CATEGORY_CODINGS) and every(statuses, final)
    out = {key for key in ("weight", "height", *mapping.VITAL_KEYS) if vital and every(codes, mapping.VITAL_CODINGS[key])}
    if every(categories, mapping.SURVEY_CATEGORY_CODINGS):
        out.add("survey")
    return frozenset(out)


def _vital_rows(patient: Patient) -> QuerySet[Any]:
    return (VitalSigns.objects.filter(session__patient=patient).annotate(fhir_patient_id=F("session__patient_id"))
            .values_list(*mapping.VITAL_COLUMNS))


def observation_read(by: Actor, resource_id: str) -> Found:
    source, _, rest = resource_id.partition("-")
    model = {"mr": MeasureResponse, "vs": VitalSigns, "wt": WeightMeasurement, "ht": HeightMeasurement}.get(source)
    if model is None:
        raise Http404
    column = "session__patient_id" if model is VitalSigns else "patient_id"
    row_id = db_id(rest.split("-", 1)[0])
    patient_id = model.objects.filter(  # type: ignore[attr-defined]
        pk=row_id, organization=by.organization,
    ).values_list(column, flat=True).first()
    if patient_id is None:
        raise Http404
    patient, glass = patient_for(by, patient_id, Perm.CLINICAL_VIEW)
    if model is VitalSigns:
        key = rest.partition("-")[2]
        row = _vital_rows(patient).filter(pk=row_id).first()
        if row is None or key not in mapping.vital_keys(row):
            raise Http404
        return Found(mapping.vital_observation(mapping.vital_values(row), key), patient.id, glass)
    return Found(_one(_other_observations(patient), resource_id), patient.id, glass)


_VITAL_PRESENT = {"bp": Q(systolic__isnull=False, diastolic__isnull=False), "hr": Q(heart_rate__isnull=False),
                  "spo2": Q(spo2__isnull=False), "rr": Q(respiratory_rate__isnull=False)}


def _first_vital_rows(rows: QuerySet[Any], keys: list[str], need: int) -> tuple[list[Any], int] | None:
    """The rows (oldest first) that hold the first ``need`` vital-sign Observations of the
    ``keys`` in the search's (second, id) order, and how many all of the patient's rows hold,
    in one query: the database counts (a window over every row) and returns ``need`` + 1
    rows, not the patient's hundreds (ADR 0071). Each row returned holds at least one, so
    ``need`` rows hold enough; rows after them sort later unless they share the last one's
    second, where ids decide: then None, and the caller reads every row."""
    counts = {f"n_{key}": Window(Sum(Case(When(_VITAL_PRESENT[key], then=1), default=0, output_field=IntegerField())))
              for key in keys}
    present = Q()
    for key in keys:
        present |= _VITAL_PRESENT[key]
    fetched = list(rows.filter(present).annotate(**counts)[:need + 1])
    total = sum(fetched[0][-len(keys):]) if fetched else 0
    rows_needed = [row[:len(mapping.VITAL_COLUMNS)] for row in fetched[:need]]
    if len(fetched) > need > 0 and fetched[need][3].replace(microsecond=0) == fetched[need - 1][3].replace(microsecond=0):
        return None
    return rows_needed, total


@dataclass(frozen=True)
class _VitalEntry:
    """One vital-sign Observation found by a search, built only if it lands on the page."""

    row: tuple[Any, ...]
    key: str

    def build(self) -> dict[str, Any]:
        return mapping.vital_observation(mapping.vital_values(self.row), self.key)


def observation_search(by: Actor, query: Query) -> Page:
    # Parse everything before touching the patient: a malformed query is a 400 for anyone.
    codes, categories, statuses = query.tokens("code"), query.tokens("category"), query.tokens("status")
    dates = query.dates("date")
    patient_id = _patient_param(query)
    if patient_id is None:
        raise FhirError(400, "required", "Observation search needs patient= (a population is "
                        "exported with $export)", expression=["patient"])
    patient, glass = patient_for(by, patient_id, Perm.CLINICAL_VIEW)
    # Scores, weights and heights are few and built whole; vitals (hundreds a patient over a
    # series) are matched on their columns and built only for the page that is returned.
    sources = _possible_sources(codes, categories, statuses)
    resources = _other_observations(patient, sources)
    for tokens in codes:
        resources = [r for r in resources if core.token_matches(tokens, mapping.observation_codings(r))]
    for tokens in categories:
        resources = [r for r in resources if core.token_matches(
            tokens, [(c["system"], c["code"]) for cat in r["category"] for c in cat["coding"]])]
    for tokens in statuses:
        resources = [r for r in resources if core.token_matches(tokens, [(core.OBSERVATION_STATUS, r["status"])])]
    for r in dates:
        resources = [res for res in resources if r.matches(mapping.observation_time(res))]
    keyed: list[tuple[datetime, str, Any]] = [(mapping.observation_time(r), r["id"], r) for r in resources]
    vital_keys = [key for key in mapping.VITAL_KEYS if key in sources]
    unread = 0  # vital-sign Observations matched but past the page, so not read
    if vital_keys:
        rows = _vital_rows(patient).order_by("taken_at", "id")
        matched: Iterable[Any] = rows
        if not (dates or query.ids is not None or query.last_updated):  # matched on columns alone
            first = _first_vital_rows(rows, vital_keys, 0 if query.summary_count else query.offset + query.count)
            if first is not None:
                matched, total = first
                unread = total - sum(key in vital_keys for row in matched for key in mapping.vital_keys(row))
        for row in matched:
            at = row[3].replace(microsecond=0)
            if all(r.matches(at) for r in dates):
                keyed += [(at, f"vs-{row[0]}-{key}", _VitalEntry(row, key))
                          for key in mapping.vital_keys(row) if key in vital_keys]
    keyed.sort(key=lambda entry: (entry[0], entry[1]))
    ids = None if query.ids is None else set(query.ids)
    if ids is not None:
        keyed = [e for e in keyed if e[1] in ids]
    if query.last_updated:
        keyed = [e for e in keyed if all(r.matches(_updated(e[2])) for r in query.last_updated)]
    page = Page(total=len(keyed) + unread, resources=[] if query.summary_count else [
        e[2].build() if isinstance(e[2], _VitalEntry) else e[2]
        for e in keyed[query.offset: query.offset + query.count]])
    page.patient_ids, page.break_glass = {patient.id}, glass
    return page


def _updated(entry: Any) -> datetime:
    if isinstance(entry, _VitalEntry):
        return entry.row[4].replace(microsecond=0)
    return datetime.fromisoformat(entry["meta"]["lastUpdated"].replace("Z", "+00:00"))


# --- Encounter -----------------------------------------------------------------------------


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


# --- Questionnaire and QuestionnaireResponse -----------------------------------------------


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


# --- Group (the cohorts a Group $export can name) ------------------------------------------


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


# --- the registry --------------------------------------------------------------------------

# The two search parameters of every resource that belongs to a patient.
PATIENT_PARAMS = (
    Param("patient", "reference", "The patient (Patient/123 or 123)"),
    Param("subject", "reference", "Same as patient"),
)

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
    "Practitioner", "Staff of the clinic (needs the staff list permission).",
    profile=f"{core.US_CORE}/us-core-practitioner",
    params=(Param("name", "string", "Any part of the name"), Param("identifier", "token", "NPI")),
    read=practitioner_read, search=practitioner_search,
))
register(ResourceType(
    "Organization", "The token's organisation (the clinic).",
    profile=f"{core.US_CORE}/us-core-organization",
    read=organization_read, search=organization_search,
))
register(ResourceType(
    "Location", "Sites (Location/site-N) and their rooms (Location/room-N, partOf the site).",
    profile=f"{core.US_CORE}/us-core-location",
    params=(
        Param("name", "string", "Name contains"),
        Param("partof", "reference", "The site of a room"),
        Param("address-city", "string", "City"),
        Param("address-state", "string", "State"),
        Param("address-postalcode", "string", "ZIP code"),
    ),
    read=location_read, search=location_search,
))
register(ResourceType(
    "Observation",
    "Questionnaire totals and item answers (category survey; LOINC where it has a code, else "
    f"{core.LOCAL_MEASURES}), vital signs of medicine sessions (blood pressure panel, heart "
    "rate, SpO2, respiratory rate) body weight and height, with LOINC codes and UCUM units. Search "
    "needs patient; populations are exported with $export.",
    profile=f"{core.US_CORE}/us-core-observation-survey",
    params=(
        *PATIENT_PARAMS,
        Param("code", "token", "LOINC or local code"),
        Param("category", "token", "survey or vital-signs"),
        Param("status", "token", "final or amended"),
        Param("date", "date", "When observed"),
    ),
    read=observation_read, search=observation_search,
))
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
register(ResourceType(
    "Group",
    "Cohorts for Group/{id}/$export: 'all-patients' (every patient you may see) and "
    "'care-team-<practitioner id>' (one clinician's care team).",
    params=(Param("name", "string", "Name contains"),),
    read=group_read, search=group_search, operations=("export",),
))


# --- the rest of the clinical record: one table per type, in the patient compartment --------


@dataclass(frozen=True)
class PatientTable:
    """A resource type backed by one table whose rows belong to a patient: read (404 in
    another organisation, the care-team rule through ``patient_for``), search by patient,
    date and status in the database, paging, and the bulk exporter, from one description."""

    name: str
    perm: Perm
    rows: Callable[[Actor], QuerySet[Any]]  # the organisation's rows, joins included
    patient_path: str  # e.g. "patient_id" or "session__patient_id"
    to_fhir: Callable[[Any], dict[str, Any]]
    updated: str  # column of meta.lastUpdated (_lastUpdated, _since)
    date: str | None = None  # column searched by `date`
    status_field: str | None = None
    status_map: dict[str, list[Any]] = field(default_factory=dict)  # FHIR status → our values
    also_perm: Perm | None = None  # a second permission (e.g. the schedule for Appointment)

    def _annotated(self, by: Actor) -> QuerySet[Any]:
        return self.rows(by).annotate(fhir_patient_id=F(self.patient_path))

    def read(self, by: Actor, resource_id: str) -> Found:
        row = self._annotated(by).filter(pk=db_id(resource_id)).first()
        if row is None:
            raise Http404
        _, glass = patient_for(by, row.fhir_patient_id, self.perm)
        if self.also_perm:
            require(by, self.also_perm)
        return Found(self.to_fhir(row), row.fhir_patient_id, glass)

    def search(self, by: Actor, query: Query) -> Page:
        dates, statuses = query.dates("date") if self.date else [], query.tokens("status")
        patients, glass, patient_id = _scoped_patients(by, query, self.perm)
        if self.also_perm:
            require(by, self.also_perm)
        qs = self._annotated(by)
        if patient_id is not None or not (by.roles & ORGANIZATION_WIDE_ROLES):
            qs = qs.filter(fhir_patient_id__in=patients.values("pk"))
        if dates and self.date:
            qs = qs.filter(date_q(self.date, dates))
        # status is a search parameter only of tables with a status field (register).
        for tokens in statuses if self.status_field else []:
            wanted = [v for t in tokens for v in self.status_map.get(t.code, [])]
            condition = Q(pk__in=[])
            for value in wanted:
                condition |= Q(**{str(self.status_field): value})
            qs = qs.filter(condition)
        page = queryset_page(qs, query, to_fhir=self.to_fhir, updated_field=self.updated)
        page.patient_ids = {int(r_id) for r_id in qs.filter(pk__in=[_pk(r) for r in page.resources])
                            .values_list("fhir_patient_id", flat=True)} if page.resources else set()
        page.break_glass = glass
        return page

    def export(self, patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[dict[str, Any]]:
        qs = self._annotated(by).filter(fhir_patient_id__in=patients.values("pk"))
        if since is not None:
            qs = qs.filter(**{f"{self.updated}__gte": since})
        for row in qs.order_by("pk").iterator(chunk_size=2000):
            yield self.to_fhir(row)

    def register(self, documentation: str, *params: Param) -> None:
        base = list(PATIENT_PARAMS)
        if self.date:
            base.append(Param("date", "date", f"{self.date.replace('_', ' ')}"))
        if self.status_field:
            base.append(Param("status", "token", ", ".join(self.status_map)))
        register(ResourceType(self.name, documentation, params=(*base, *params), read=self.read,
                              search=self.search))
        TABLES[self.name] = self


def _pk(resource: dict[str, Any]) -> int:
    return int(resource["id"])


TABLES: dict[str, PatientTable] = {}


def _inverse(mapping_: dict[Any, str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for ours, theirs in mapping_.items():
        out.setdefault(theirs, []).append(ours)
    return out


def _route_of_session() -> Any:
    return F("session__protocol_version__route")


PatientTable(
    "Appointment", Perm.PATIENT_VIEW, also_perm=Perm.SCHEDULE_VIEW,
    rows=lambda by: Appointment.objects.filter(organization=by.organization),
    patient_path="patient_id", to_fhir=mapping.appointment, updated="created_at", date="start",
    status_field="status", status_map=_inverse(mapping.APPOINTMENT_STATUS),
).register("Appointments of every kind (screening, preparation, dosing, integration, follow-up).")

PatientTable(
    "AdverseEvent", Perm.DOSING_VIEW,
    rows=lambda by: AdverseEvent.objects.filter(organization=by.organization),
    patient_path="session__patient_id",
    to_fhir=lambda e: mapping.adverse_event(e, e.fhir_patient_id), updated="recorded_at", date="onset_at",
).register("Adverse events of medicine sessions, with severity, seriousness and outcome.")

PatientTable(
    "MedicationRequest", Perm.DOSING_VIEW,
    rows=lambda by: DoseOrder.objects.filter(organization=by.organization).annotate(route=_route_of_session()),
    patient_path="session__patient_id",
    to_fhir=lambda o: mapping.medication_request(o, o.fhir_patient_id, o.route), updated="signed_at",
    date="ordered_at", status_field="cancelled_at__isnull",
    status_map={"active": [True], "cancelled": [False]},
).register("The prescriber's signed dose orders (dose in mg, mg/kg and weight, route SNOMED CT).")

PatientTable(
    "MedicationAdministration", Perm.DOSING_VIEW,
    rows=lambda by: AdministrationEvent.objects.filter(organization=by.organization, amount__isnull=False)
    .select_related("preparation__lot").annotate(route=_route_of_session()),
    patient_path="session__patient_id",
    to_fhir=lambda e: mapping.medication_administration(e, e.fhir_patient_id, e.route), updated="recorded_at",
    date="at",
).register("Each administration that gave drug: amount, concentration, lot (contained Medication), "
           "route SNOMED CT, the order it fulfils.")

PatientTable(
    "CarePlan", Perm.CLINICAL_VIEW,
    rows=lambda by: TreatmentPlan.objects.filter(organization=by.organization).annotate(
        latest=Max("episode__plans__version")),
    patient_path="episode__patient_id",
    to_fhir=lambda p: mapping.care_plan(p, p.fhir_patient_id, p.version == p.latest), updated="signed_at",
    date="signed_at",
).register("Signed treatment plans; a new version makes the previous one 'revoked'.")

PatientTable(
    "Consent", Perm.CLINICAL_VIEW,
    rows=lambda by: ConsentSignature.objects.filter(organization=by.organization).select_related("document"),
    patient_path="patient_id", to_fhir=mapping.consent, updated="signed_at", date="signed_at",
    status_field="withdrawn_at__isnull", status_map={"active": [True], "inactive": [False]},
).register("Signed informed consents (document version and the SHA-256 of the text signed).")


# --- Condition (intake diagnoses), Medication (the formulary), PractitionerRole -------------


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


def medication_read(by: Actor, resource_id: str) -> Found:
    product = Product.objects.filter(organization=by.organization, pk=db_id(resource_id)).first()
    if product is None:
        raise Http404
    return Found(mapping.medication(product))


def medication_search(by: Actor, query: Query) -> Page:
    qs = Product.objects.filter(organization=by.organization)
    for tokens in query.tokens("code"):
        qs = qs.filter(ndc__in=[t.code for t in tokens if t.system in (None, core.NDC)])
    return queryset_page(qs, query, to_fhir=mapping.medication, updated_field="created_at")


def _roles(by: Actor) -> QuerySet[Membership]:
    require(by, Perm.STAFF_VIEW)
    return Membership.objects.filter(organization=by.organization).exclude(role=Role.PATIENT)


def role_read(by: Actor, resource_id: str) -> Found:
    membership = _roles(by).filter(pk=db_id(resource_id)).first()
    if membership is None:
        raise Http404
    return Found(mapping.practitioner_role(membership))


def role_search(by: Actor, query: Query) -> Page:
    qs = _roles(by)
    for value in query.params.get("practitioner", []):
        qs = qs.filter(user_id=db_id(core.parse_reference(value, "Practitioner")))
    for tokens in query.tokens("role"):
        qs = qs.filter(role__in=[t.code for t in tokens])
    return queryset_page(qs, query, to_fhir=mapping.practitioner_role, updated_field="created_at")


register(ResourceType(
    "Condition", "Diagnoses recorded at intake (ICD-10-CM), as problem-list items.",
    profile=f"{core.US_CORE}/us-core-condition-problems-health-concerns",
    params=(*PATIENT_PARAMS, Param("code", "token", "ICD-10-CM")),
    read=condition_read, search=condition_search,
))
register(ResourceType(
    "Medication", "The clinic's controlled-substance formulary: product, NDC, strength; Schedule III.",
    params=(Param("code", "token", "NDC"),), read=medication_read, search=medication_search,
))
register(ResourceType(
    "PractitionerRole", "Each role a staff member holds in the clinic (with NPI and site).",
    profile=f"{core.US_CORE}/us-core-practitionerrole",
    params=(Param("practitioner", "reference", "The staff member"), Param("role", "token", "Role code")),
    read=role_read, search=role_search,
))
