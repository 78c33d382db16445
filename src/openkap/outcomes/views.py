"""The outcomes report page and its PDF and CSV downloads (GET forms: a report is
bookmarkable and changes nothing but the audit log)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.core.authz import Perm
from openkap.outcomes import exports, selectors
from openkap.outcomes.forms import ReportFilterForm
from openkap.outcomes.selectors import OutcomeReport
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
def report_csv(request: HttpRequest, actor: Actor) -> HttpResponse:
    suppress = _download_suppressed(request)
    form = _form(request, actor)
    report = _report(request, actor, form, suppress=suppress, purpose="csv")
    if report is None:
        return _page(request, form, None, suppress=suppress)
    response = StreamingHttpResponse(exports.csv_text(exports.report_rows(report.to_dict(suppress=suppress))),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(report, suppress, "csv")}"'
    return response
