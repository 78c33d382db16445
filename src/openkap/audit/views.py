from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.forms import AuditFilterForm
from openkap.audit.selectors import (
    audit_csv_rows,
    audit_rows,
    audit_search,
    security_csv_rows,
    security_overview,
)
from openkap.core.authz import Perm
from openkap.web.decorators import staff_view


def _filtered(request: HttpRequest, actor: Actor):
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    return form, audit_search(by=actor, **{k: v for k, v in filters.items() if v not in (None, "")})


@staff_view(Perm.AUDIT_VIEW)
def audit_log(request: HttpRequest, actor: Actor) -> HttpResponse:
    form, events = _filtered(request, actor)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return TemplateResponse(
        request, "audit/audit_log.html",
        {"form": form, "page": page, "query": query.urlencode(), "rows": audit_rows(by=actor, events=page)},
    )


@staff_view(Perm.AUDIT_VIEW)
def audit_export(request: HttpRequest, actor: Actor) -> HttpResponseBase:
    _, events = _filtered(request, actor)
    rows = audit_csv_rows(by=actor, events=events, filters={k: str(v) for k, v in request.GET.items()})
    response = StreamingHttpResponse(rows, content_type="text/csv")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@staff_view(Perm.AUDIT_VIEW)
def security(request: HttpRequest, actor: Actor) -> HttpResponse:
    return TemplateResponse(request, "audit/security.html", {"overview": security_overview(by=actor)})


@staff_view(Perm.AUDIT_VIEW)
def security_export(request: HttpRequest, actor: Actor) -> HttpResponseBase:
    response = StreamingHttpResponse(security_csv_rows(by=actor), content_type="text/csv")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="sign-in-security-{stamp}.csv"'
    return response
