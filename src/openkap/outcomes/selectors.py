"""The cohort outcome report of an organisation: read, summarised and audited.

The web page, the PDF and CSV downloads, the JSON API and ``openkap outcomes report``
all call ``outcome_report``; suppression (`suppress=True`) is for every copy that
leaves the clinic.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Organization, Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.instruments import UnknownInstrumentError, get_instrument
from openkap.core.outcomes import CohortSummary, suppress_count
from openkap.core.outcomes.cohort import in_baseline_band, summarise_reduced
from openkap.core.outcomes.experience import ExperienceCase
from openkap.core.outcomes.suppression import SMALL
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.dbrouter import replica_reads
from openkap.outcomes.cohort import (
    CohortFilters,
    Enrolled,
    as_date,
    cohort_outcomes,
    raw_chunks,
)
from openkap.outcomes.experience import experience_cases, experience_dict
from openkap.pathway.models import Intake
from openkap.patients.models import Patient

# Instruments a cohort report can be run on: totals where higher is worse.
REPORT_INSTRUMENTS = ("phq9", "gad7", "pcl5", "madrs", "qidssr16")
ROUTE_VALUES = frozenset(r.value for r in Route)
RACE_NOTE = "Race and ethnicity are not recorded in OpenKAP's registry, so they are not shown."


@dataclass
class Demographics:
    """Dore 2019's table 1: who was treated, overall or at one site."""

    n: int = 0
    ages: list[int] = field(default_factory=list)
    sex: Counter[str] = field(default_factory=Counter)
    gender: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    diagnoses: Counter[str] = field(default_factory=Counter)

    def to_dict(self, *, suppress: bool) -> dict[str, Any]:
        count = suppress_count if suppress else (lambda k: k)
        hide = suppress and self.n <= SMALL
        ages = self.ages

        def counts(c: Counter[str]) -> list[dict[str, Any]]:
            return [{"label": k, "n": count(v)} for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]

        return {
            "n": count(self.n),
            "age_mean": None if hide or not ages else round(statistics.fmean(ages), 1),
            "age_sd": None if hide or len(ages) < 2 else round(statistics.stdev(ages), 1),
            "sex_at_birth": counts(self.sex),
            "gender_identity": counts(self.gender),
            "route": counts(self.routes),
            "diagnosis": counts(self.diagnoses),
        }


@dataclass
class OutcomeReport:
    organization: str
    filters: CohortFilters
    generated_at: datetime
    as_of: date
    summary: CohortSummary
    overall: Demographics
    by_site: dict[str, Demographics]
    experience: dict[str, list[ExperienceCase]]

    def to_dict(self, *, suppress: bool) -> dict[str, Any]:
        body = self.summary.to_dict(suppress=suppress)
        return {
            **body,
            "experience": [experience_dict(name, cases, suppress=suppress) for name, cases in self.experience.items()],
            "organization": self.organization,
            "filters": self.filters.as_dict(),
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "as_of": self.as_of.isoformat(),
            "demographics": {
                "overall": self.overall.to_dict(suppress=suppress),
                "by_site": {name: d.to_dict(suppress=suppress) for name, d in sorted(self.by_site.items())},
                "note": RACE_NOTE,
            },
        }


def parse_instrument(value: str) -> str:
    try:
        instrument = get_instrument(value).id
    except UnknownInstrumentError:
        instrument = ""
    if instrument not in REPORT_INSTRUMENTS:
        raise ValidationError({"instrument": [f"Choose one of: {', '.join(REPORT_INSTRUMENTS)}."]})
    return instrument


def _validate(organization: Organization, filters: CohortFilters) -> None:
    parse_instrument(filters.instrument)
    errors: dict[str, list[str]] = {}
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors["date_to"] = ["The end date is before the start date."]
    if filters.site_id is not None and not Site.objects.filter(organization=organization, id=filters.site_id).exists():
        errors["site"] = ["No such site in this organisation."]
    bands = {b.id for b in get_instrument(filters.instrument).bands}
    if filters.baseline_band and filters.baseline_band not in bands:
        errors["baseline_band"] = [f"Choose one of: {', '.join(sorted(bands))}."]
    if not 0 <= filters.endpoint_from_days <= filters.endpoint_to_days <= 365:
        errors["endpoint_from_days"] = ["The endpoint window runs from 0 to 365 days after the induction, forwards."]
    if errors:
        raise ValidationError(errors)


_ROUTE_LABEL = {route.value: label for route, label in ROUTE_LABELS.items()}


def _demographics(organization: Organization, kept: dict[int, Enrolled]) -> tuple[Demographics, dict[str, Demographics]]:
    """Overall and by site. Ages from arrays; the categories counted once per distinct
    combination (a cohort has few), not once per patient and group."""
    sites = dict(Site.objects.filter(organization=organization).values_list("id", "name"))
    diagnoses_of: dict[int, tuple[str, ...]] = {}
    episodes = {r.episode_id for r in kept.values()}
    for episode_id, diagnoses in Intake.objects.filter(organization=organization).values_list("episode_id", "diagnoses"):
        if episode_id in episodes:
            diagnoses_of[episode_id] = tuple(sorted({str(d.get("code", ""))[:3].upper()
                                                     for d in diagnoses or [] if d.get("code")}))
    records: list[Enrolled] = []
    born: list[date] = []
    people: list[tuple[str, str, str, str, tuple[str, ...]]] = []
    for chunk in raw_chunks(Patient.objects.filter(organization=organization)
                            .values_list("id", "date_of_birth", "sex_at_birth", "gender_identity")):
        for pid, dob, sex, gender in chunk:
            record = kept.get(pid)
            if record is not None:
                records.append(record)
                born.append(as_date(dob))
                people.append((sites.get(record.site_id, f"Site {record.site_id}"), sex or "not recorded",
                               gender or "not recorded", _ROUTE_LABEL.get(record.route, "Not recorded"),
                               diagnoses_of.get(record.episode_id) or ("not recorded",)))
    ages = _ages(np.array(born, "datetime64[D]"),
                 np.array([r.first_day_number for r in records], np.int64).astype("datetime64[D]")).tolist()
    overall, by_site = Demographics(), dict[str, Demographics]()
    ages_by_site: dict[str, list[int]] = {}
    for (site, *_), age in zip(people, ages, strict=True):
        ages_by_site.setdefault(site, []).append(age)
    overall.ages = ages
    for (site, sex, gender, route, codes), n in Counter(people).items():
        for demo in (overall, by_site.setdefault(site, Demographics(ages=ages_by_site[site]))):
            demo.n += n
            demo.sex[sex] += n
            demo.gender[gender] += n
            demo.routes[route] += n
            for code in codes:
                demo.diagnoses[code] += n
    return overall, by_site


def _ages(born: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years from each birth date to the day `on`."""

    def year_month_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        month = days.astype("datetime64[M]")
        return month.astype("datetime64[Y]").astype(np.int64), (
            (month.astype(np.int64) % 12) * 32 + (days - month).astype(np.int64))

    born_year, born_day = year_month_day(born)
    on_year, on_day = year_month_day(on)
    ages: np.ndarray = on_year - born_year - (on_day < born_day)
    return ages


def build_report(organization: Organization, filters: CohortFilters, *, as_of: date | None = None) -> OutcomeReport:
    """The report without a permission check or audit row: for `outcome_report` and the
    CLI, which check and audit in their own way."""

    _validate(organization, filters)
    as_of = as_of or timezone.localdate()
    outcomes, records = cohort_outcomes(organization.id, filters, as_of=as_of)
    if filters.baseline_band:
        outcomes = outcomes.subset(in_baseline_band(outcomes, filters.baseline_band))
    kept = {pid: records[pid] for pid in outcomes.patients.tolist()}
    summary = summarise_reduced(outcomes, definitions=filters.definitions)
    experience = experience_cases(organization.id, outcomes.analysed, kept, filters.definitions)
    overall, by_site = _demographics(organization, kept)
    return OutcomeReport(
        organization=organization.name, filters=filters, generated_at=timezone.now(), as_of=as_of,
        summary=summary, overall=overall, by_site=by_site, experience=experience,
    )


def outcome_report(*, by: Actor, filters: CohortFilters, suppress: bool, purpose: str) -> OutcomeReport:
    """The organisation's cohort report for `by`, audited with its filters, format and
    whether small counts were suppressed."""
    require(by, Perm.OUTCOMES_VIEW)
    with replica_reads():  # a cohort report may be seconds old; the audit row goes to the primary
        report = build_report(by.organization, filters)
    audit_record(
        by=by,
        action=AuditAction.VIEW if purpose == "page" else AuditAction.EXPORT,
        object_type="outcomes_report",
        object_id=filters.instrument,
        detail={"filters": filters.as_dict(), "format": purpose, "suppressed": suppress,
                "n_enrolled": report.summary.n_enrolled},
    )
    return report
