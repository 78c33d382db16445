"""The cohort outcome report of an organisation: read, summarised and audited.

The web page, the PDF and CSV downloads, the JSON API and ``openkap outcomes report``
all call ``outcome_report``; suppression (`suppress=True`) is for every copy that
leaves the clinic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Organization, Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.instruments import UnknownInstrumentError, get_instrument
from openkap.core.outcomes import CohortSummary
from openkap.core.outcomes.cohort import Tally
from openkap.core.outcomes.experience import ExperienceCase
from openkap.core.routes import Route
from openkap.dbrouter import replica_reads
from openkap.outcomes.cohort import CohortFilters, cohort_chunks
from openkap.outcomes.demographics import Demographics, DemographicsRows, DemographicsTally
from openkap.outcomes.experience import (
    EXPERIENCE_INSTRUMENTS,
    experience_cases,
    experience_dict,
    experience_rows,
)

# Instruments a cohort report can be run on: totals where higher is worse.
REPORT_INSTRUMENTS = ("phq9", "gad7", "pcl5", "madrs", "qidssr16")
ROUTE_VALUES = frozenset(r.value for r in Route)
RACE_NOTE = "Race and ethnicity are not recorded in OpenKAP's registry, so they are not shown."


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


def build_report(organization: Organization, filters: CohortFilters, *, as_of: date | None = None) -> OutcomeReport:
    """The report without a permission check or audit row: for `outcome_report` and the
    CLI, which check and audit in their own way."""

    _validate(organization, filters)
    as_of = as_of or timezone.localdate()
    tally = Tally.of(filters.instrument, [])
    demographics = DemographicsTally(organization.id)
    experience: dict[str, list[ExperienceCase]] = {get_instrument(i).short_name: [] for i in EXPERIENCE_INSTRUMENTS}
    def also_read(patients: tuple[int, int]) -> tuple[DemographicsRows, list[tuple[Any, ...]]]:
        return demographics.read(patients), experience_rows(organization.id, patients)

    # Each chunk folded into counts before the next is read: memory flat (ADR 0093); the
    # chunks are read a chunk ahead, in a thread (ADR 0105).
    for chunk in cohort_chunks(organization.id, filters, as_of=as_of, also_read=also_read):
        demographics_rows, experience_of_chunk = chunk.also
        tally.add(chunk.reduced)
        for name, cases in experience_cases(experience_of_chunk, chunk.reduced.analysed, chunk.records,
                                            filters.definitions).items():
            experience[name].extend(cases)
        demographics.add(chunk.records, demographics_rows)
    summary = tally.summary(filters.definitions)
    overall, by_site = demographics.overall, demographics.by_site
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
