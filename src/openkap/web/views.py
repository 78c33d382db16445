from __future__ import annotations

from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseServerError,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.template import loader
from django.template.response import TemplateResponse
from django.utils import timezone

from openkap.accounts import selectors as accounts_selectors
from openkap.accounts.authz import Actor, Denied
from openkap.accounts.requests import WebRequest
from openkap.core.authz import Role
from openkap.fhir.framework import is_fhir_path, refused
from openkap.patients import selectors as patient_selectors
from openkap.web import workqueue
from openkap.web.decorators import staff_view


def home(request: WebRequest) -> HttpResponseBase:
    if not request.user.is_authenticated:
        from openkap.site.views import home as public_home

        return public_home(request)
    actor = request.actor
    if actor and actor.is_patient_only:
        return TemplateResponse(request, "web/patient_home.html", {"organization": actor.organization})
    return staff_home(request)


@staff_view()
def staff_home(request: WebRequest, actor: Actor) -> HttpResponse:
    return TemplateResponse(request, "web/home.html", {"work": workqueue.work_items(actor)})


def healthz(request: WebRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


WORKER_STALE_AFTER = timedelta(minutes=3)
_migrations_applied = False


def _unapplied_migrations() -> int:
    global _migrations_applied  # once applied they stay applied for this process's code
    if _migrations_applied:
        return 0
    executor = MigrationExecutor(connection)
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrations_applied = pending == 0
    return pending


def _worker_state() -> str:
    from openkap.web.tasks import last_heartbeat, worker_heartbeat

    if not worker_heartbeat.get_backend().supports_defer:
        return "not used"  # tasks run in the request (tests, development)
    last = last_heartbeat()
    if last is None:
        return "never seen"
    return "ok" if timezone.now() - last <= WORKER_STALE_AFTER else f"stale since {last.isoformat()}"


def readyz(request: WebRequest) -> HttpResponse:
    """Ready for traffic: the database answers, every migration is applied, and the
    task worker's heartbeat is recent. 503 with the failing check otherwise."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
        pending = _unapplied_migrations()
        checks["migrations"] = "ok" if not pending else f"{pending} not applied"
        checks["worker"] = _worker_state()
    except DatabaseError:
        checks["database"] = "unreachable"
    ready = all(value in {"ok", "not used"} for value in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def _whom_to_ask(actor: Actor | None, patient_id: int | None) -> dict[str, list[str]]:
    """The people who can lift a refusal: the clinic's admins, and for a chart the
    prescribers on its care team (both may change a care team). Staff names only."""
    if not actor or not actor.is_staff:
        return {"admins": [], "team": []}
    admins = [m.user.full_name for m in accounts_selectors.colleagues_in_roles(by=actor, roles=[Role.ADMIN])
              if m.user_id != actor.user.id]
    team = patient_selectors.care_team_names(by=actor, patient_id=patient_id, role=Role.PRESCRIBER) \
        if patient_id is not None else []
    return {"admins": admins[:5], "team": team}


def error_400(request: WebRequest, exception: Exception | None = None) -> HttpResponse:
    """Input Django refuses before any view (a body too large, a bad Host header)."""
    if is_fhir_path(request.path):
        return refused(400, "invalid", "The request was refused as malformed.")
    return HttpResponseBadRequest("Bad request: the request was refused as malformed; nothing was changed.")


def error_403(request: WebRequest, exception: Exception | None = None) -> HttpResponse:
    if is_fhir_path(request.path):
        return refused(403, "forbidden", "Permission denied.")
    patient_id = exception.patient_id if isinstance(exception, Denied) else None
    message = exception.message if isinstance(exception, Denied) else ""
    # A missing role permission is fixed by an admin; a care-team rule by whoever manages the team.
    care_team_rule = isinstance(exception, Denied) and exception.care_team
    actor = getattr(request, "actor", None)
    return TemplateResponse(
        request,
        "403.html",
        {"patient_id": patient_id, "message": message, "care_team_rule": care_team_rule,
         "ask": _whom_to_ask(actor, patient_id), "is_staff": bool(actor and actor.is_staff)},
        status=403,
    ).render()


def error_404(request: WebRequest, exception: Exception | None = None) -> HttpResponse:
    if is_fhir_path(request.path):
        return refused(404, "not-found", "Not found.")
    return TemplateResponse(request, "404.html", {}, status=404).render()


def error_500(request: WebRequest) -> HttpResponse:
    # No request context: whatever failed (often the database) must not fail again here.
    if is_fhir_path(request.path):
        return refused(500, "exception", "The server failed; the error is logged.")
    return HttpResponseServerError(loader.get_template("500.html").render({}))
