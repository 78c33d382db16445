"""The outcomes report page and its PDF and CSV downloads (GET forms: a report is
bookmarkable and changes nothing but the audit log)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import mark_safe

from openkap.accounts.authz import Actor
from openkap.core.authz import Perm
from openkap.core.deid import SAFE_HARBOR
from openkap.outcomes import charts, exports, selectors
from openkap.outcomes.forms import ReportFilterForm, ResearchExportForm
from openkap.outcomes.patient import PatientOutcomeReport, patient_outcome_report
from openkap.outcomes.research import (
    ExportOptions,
    export_response,
    research_export,
    research_history,
    tables,
)
from openkap.outcomes.selectors import OutcomeReport
from openkap.patients.selectors import chart_header
from openkap.web.decorators import apply_errors, staff_view

CONTROL_PARAMS = {"view", "unsuppressed"}


def _form(request: HttpRequest, actor: Actor) -> ReportFilterForm:
    data = request.GET.copy()
    data.setdefault("instrument", "phq9")
    return ReportFilterForm(data, organization=actor.organization)


def _report(request: HttpRequest, actor: Actor, form: ReportFilterForm, *, suppress: bool, purpose: str
            ) -> OutcomeReport | None:
    if not form.is_valid():
        return None
    try:
        return selectors.outcome_report(by=actor, filters=form.filters(), suppress=suppress, purpose=purpose)
    except ValidationError as exc:
        apply_errors(form, exc)
        return None


def _page(request: HttpRequest, form: ReportFilterForm, report: OutcomeReport | None, *, suppress: bool) -> HttpResponse:
    query = urlencode([(k, v) for k, v in request.GET.items() if k not in CONTROL_PARAMS and v != ""])
    context = {"form": form, "query": query, "view_mode": "shared" if suppress else "clinic"}
    if report is not None:
        context |= exports.render_context(report.to_dict(suppress=suppress))
    return TemplateResponse(request, "outcomes/report.html", context, status=200 if report else 422)


@staff_view(Perm.OUTCOMES_VIEW)
def report(request: HttpRequest, actor: Actor) -> HttpResponse:
    # On screen for the clinic's own staff the figures are exact unless asked otherwise.
    suppress = request.GET.get("view") == "shared"
    form = _form(request, actor)
    return _page(request, form, _report(request, actor, form, suppress=suppress, purpose="page"), suppress=suppress)


def _download_suppressed(request: HttpRequest) -> bool:
    # Downloads leave the clinic: suppressed unless exact figures are asked for by name.
    return request.GET.get("unsuppressed") not in {"1", "true", "yes"}


def _filename(report: OutcomeReport, suppress: bool, ext: str) -> str:
    kind = "shared" if suppress else "internal"
    return f"outcomes-{report.filters.instrument}-{timezone.localdate():%Y%m%d}-{kind}.{ext}"


@staff_view(Perm.OUTCOMES_VIEW)
def report_pdf(request: HttpRequest, actor: Actor) -> HttpResponse:
    suppress = _download_suppressed(request)
    form = _form(request, actor)
    report = _report(request, actor, form, suppress=suppress, purpose="pdf")
    if report is None:
        return _page(request, form, None, suppress=suppress)
    response = HttpResponse(exports.report_pdf(report.to_dict(suppress=suppress), request=request),
                            content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{_filename(report, suppress, "pdf")}"'
    return response


@staff_view(Perm.OUTCOMES_VIEW)
def report_csv(request: HttpRequest, actor: Actor) -> HttpResponseBase:
    suppress = _download_suppressed(request)
    form = _form(request, actor)
    report = _report(request, actor, form, suppress=suppress, purpose="csv")
    if report is None:
        return _page(request, form, None, suppress=suppress)
    response = StreamingHttpResponse(exports.csv_text(exports.report_rows(report.to_dict(suppress=suppress))),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(report, suppress, "csv")}"'
    return response


def _patient_context(report: PatientOutcomeReport) -> dict[str, Any]:
    return {
        "report": report, "patient": report.patient,
        "instruments": [
            {**i, "svg": mark_safe(charts.trajectory_svg(  # noqa: S308 - numbers, labels escaped
                i["points"], maximum=i["maximum"], instrument=i["name"]))}
            for i in report.instruments
        ],
        "definitions": {k: v for k, v in report.definitions.items() if k in ("series", "baseline", "endpoint", "response")},
    }


@staff_view(Perm.CLINICAL_VIEW)
def patient_outcomes(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    report = patient_outcome_report(by=actor, patient_id=patient_id)
    # The report's read is checked and audited: the header does not read the chart again.
    chart = chart_header(by=actor, patient=report.patient, via_break_glass=report.via_break_glass)
    return TemplateResponse(request, "outcomes/patient.html", {"chart": chart, **_patient_context(report)})


@staff_view(Perm.CLINICAL_VIEW)
def patient_outcomes_pdf(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    from weasyprint import HTML  # imported on use: it loads Pango

    report = patient_outcome_report(by=actor, patient_id=patient_id)
    html = render_to_string("outcomes/pdf/patient.html", {
        **_patient_context(report), "printed_at": timezone.now(),
        "footer": f"OpenKAP outcome report · MRN {report.patient.mrn}",
    }, request=request)
    response = HttpResponse(HTML(string=html).write_pdf(), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="outcomes-{report.patient.mrn}.pdf"'
    return response


@staff_view(Perm.RESEARCH_EXPORT)
def research(request: HttpRequest, actor: Actor) -> HttpResponseBase:
    """The research export page: what the export holds, and a POST that builds and
    downloads it (a POST: every export writes its audit row with the manifest)."""
    form = ResearchExportForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        options = ExportOptions(k=form.cleaned_data["k"], dates=form.cleaned_data["dates"])
        try:
            export = research_export(by=actor, options=options, via="web")
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            return export_response(export)
    context = {"form": form, "safe_harbor": SAFE_HARBOR, "tables": tables("relative"),
               "history": research_history(by=actor)}
    return TemplateResponse(request, "outcomes/research.html", context, status=422 if form.errors else 200)
