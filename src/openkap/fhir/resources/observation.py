"""Observation: questionnaire scores and answers, body weight and height, and the vital
signs of medicine sessions (built only for the page returned)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, When, Window
from django.http import Http404

from openkap.accounts.authz import Actor
from openkap.core import fhir as core
from openkap.core.authz import Perm
from openkap.dosing.models import VitalSigns
from openkap.fhir import mapping
from openkap.fhir.framework import (
    FhirError,
    Found,
    Page,
    Param,
    Query,
    ResourceType,
    db_id,
    register,
)
from openkap.measures.models import MeasureResponse
from openkap.measures.selectors import current_responses
from openkap.patients.models import HeightMeasurement, Patient, WeightMeasurement
from openkap.patients.selectors import patient_for

from .common import PATIENT_PARAMS, _one, _patient_param


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
