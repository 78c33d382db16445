"""The rest of the clinical record: one table per type, in the patient compartment
(Appointment, AdverseEvent, MedicationRequest, MedicationAdministration, CarePlan,
Consent)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, Max, Q, QuerySet
from django.http import Http404

from openkap.accounts.authz import Actor, require
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm
from openkap.dosing.models import AdministrationEvent, AdverseEvent, DoseOrder
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
from openkap.pathway.models import ConsentSignature, TreatmentPlan
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for
from openkap.scheduling.models import Appointment

from .common import PATIENT_PARAMS, _scoped_patients


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
