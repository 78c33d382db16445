from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect
from django.template import loader
from django.template.response import TemplateResponse

from openkap.accounts.authz import Actor, Denied
from openkap.web.decorators import staff_view


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    actor = request.actor  # type: ignore[attr-defined]
    if actor is not None and actor.is_patient_only:
        return TemplateResponse(request, "web/patient_home.html", {"organization": actor.organization})
    return staff_home(request)


@staff_view()
def staff_home(request: HttpRequest, actor: Actor) -> HttpResponse:
    return TemplateResponse(request, "web/home.html", {})


def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    patient_id = exception.patient_id if isinstance(exception, Denied) else None
    message = exception.message if isinstance(exception, Denied) else ""
    return TemplateResponse(request, "403.html", {"patient_id": patient_id, "message": message}, status=403).render()


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return TemplateResponse(request, "404.html", {}, status=404).render()


def error_500(request: HttpRequest) -> HttpResponse:
    # No request context: whatever failed (often the database) must not fail again here.
    return HttpResponseServerError(loader.get_template("500.html").render({}))
