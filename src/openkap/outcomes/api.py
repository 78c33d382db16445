"""The cohort outcome report in the JSON API: the same selector as the page."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http.response import HttpResponseBase
from ninja import Query, Router, Schema
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut
from openkap.core.routes import Route
from openkap.outcomes import research, selectors
from openkap.outcomes.cohort import CohortFilters

router = Router(tags=["outcomes"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Count = int | str  # "≤7" where a count is suppressed


class ReportQuery(Schema):
    instrument: Literal["phq9", "gad7", "pcl5", "madrs", "qidssr16"] = "phq9"
    date_from: dt.date | None = Field(None, description="First dosing session on or after")
    date_to: dt.date | None = Field(None, description="First dosing session on or before")
    site_id: int | None = Field(None, ge=1, le=2**62)
    clinician_id: int | None = Field(None, ge=1, le=2**62, description="A clinician on the patient's care team")
    route: Route | None = Field(None, description="Route of the first dosing session")
    diagnosis: str = Field("", max_length=8, pattern=r"^[A-Za-z0-9.]*$", description="ICD-10 code or its start")
    baseline_band: str = Field("", max_length=40, pattern=r"^[a-z_]*$")
    endpoint_from_days: int = Field(14, ge=0, le=365)
    endpoint_to_days: int = Field(31, ge=0, le=365)
    unsuppressed: bool = Field(
        False, description="Exact counts for the clinic's own staff; by default counts of 1-7 show as ≤7 and "
        "others are rounded to 5 (for figures that leave the clinic)"
    )


class ReportOut(Schema):
    instrument: str
    instrument_name: str
    organization: str
    as_of: dt.date
    generated_at: dt.datetime
    suppressed: bool
    suppression_rule: str | None
    filters: dict[str, Any]
    n_enrolled: Count
    n_with_baseline: Count
    n_with_endpoint: Count
    n_analysed: Count
    exclusions: list[dict[str, Any]]
    why_empty: str | None
    baseline_mean: float | None
    baseline_sd: float | None
    endpoint_mean: float | None
    endpoint_sd: float | None
    mean_change: float | None
    mean_change_ci: list[float] | None
    cohens_d: float | None
    cohens_d_ci: list[float] | None
    cohens_dz: float | None
    cohens_dz_ci: list[float] | None
    t_test_p: float | None
    wilcoxon_p: float | None
    n_response: Count
    response_pct: float | None
    response_ci: list[float] | None
    n_remission: Count | None
    remission_pct: float | None
    remission_ci: list[float] | None
    n_deteriorated: Count | None
    deteriorated_pct: float | None
    deteriorated_ci: list[float] | None
    by_baseline_band: list[dict[str, Any]]
    suicidal_ideation: dict[str, Any] | None
    trajectory: list[dict[str, Any]]
    durability: dict[str, Any] | None
    demographics: dict[str, Any]
    experience: list[dict[str, Any]]
    definitions: dict[str, Any]


@router.get(
    "/report",
    response={200: ReportOut, **ERRORS},
    summary="The organisation's cohort outcome report for one instrument",
    description="Flow with exclusions by reason, one outcome row (Hull 2022), response and remission by "
    "baseline band (McInnes 2022), PHQ-9 item 9 change, trajectory, Kaplan-Meier durability, demographics "
    "and the definitions applied. Audited as an export.",
)
def report(request: ApiRequest, q: Query[ReportQuery]) -> dict[str, Any]:
    filters = CohortFilters(
        instrument=q.instrument, date_from=q.date_from, date_to=q.date_to, site_id=q.site_id,
        clinician_id=q.clinician_id, route=q.route, diagnosis=q.diagnosis, baseline_band=q.baseline_band,
        endpoint_from_days=q.endpoint_from_days, endpoint_to_days=q.endpoint_to_days,
    )
    suppress = not q.unsuppressed
    result = selectors.outcome_report(by=request.auth, filters=filters, suppress=suppress, purpose="api")
    return result.to_dict(suppress=suppress)


research_router = Router(tags=["research"])


class ResearchExportQuery(Schema):
    k: int = Field(5, ge=2, le=100, description="Smallest group of patients sharing age band, sex, state, ZIP3 "
                   "and route; patients in smaller groups are generalised or left out")
    dates: Literal["relative", "shifted"] = Field(
        "relative", description="relative: days from each patient's first dosing session (Safe Harbor); "
        "shifted: dates moved by a secret whole-week offset per patient")


@research_router.get(
    "/export",
    response=ERRORS,
    summary="De-identified research export (zip of CSV and Parquet files)",
    description="HIPAA Safe Harbor and k-anonymous: participants, held dosing sessions and scored questionnaires, "
    "a data dictionary, the Safe Harbor table, the k-anonymity report and a manifest of SHA-256 hashes. "
    "For the researcher role; audited with the manifest.",
    openapi_extra={"responses": {200: {"description": "The export as a zip file", "content": {
        "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}},
)
def research_export(request: ApiRequest, q: Query[ResearchExportQuery]) -> HttpResponseBase:
    export = research.research_export(by=request.auth, options=research.ExportOptions(k=q.k, dates=q.dates),
                                      via="api")
    return research.export_response(export)
