"""The JSON API (``/api/v1``): one django-ninja operation per use case, calling the
same service functions and permission checks as the web UI."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.operation import Operation

from openkap.accounts.authz import Denied
from openkap.api.auth import TokenAuth
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record, record_refusal


class OpenKapAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # `<app>.api` may be a package with a module per step: the id names the app's API,
        # not the file, so that splitting a module never renames an operation for clients.
        module = ".".join(operation.view_func.__module__.split(".")[:3])
        return f"{module}_{operation.view_func.__name__}".replace(".", "_")


api = OpenKapAPI(
    title="OpenKAP API",
    version="1",
    description=(
        "JSON API of OpenKAP. Authenticate with a personal API token created under "
        "'API tokens' in the web app: `Authorization: Bearer okap_…`. Every call is "
        "checked and audited like the same action in the web app."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
)


def _error(request: HttpRequest, status: int, detail: str, errors: dict[str, list[str]] | None = None,
           codes: dict[str, list[str]] | None = None) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or {}, "codes": codes or {}},
                               status=status)


def error_codes(exc: ValidationError) -> dict[str, list[str]]:
    """Each field's machine codes, beside its messages: the messages follow the reader's
    language, the codes never change ("invalid" where a service gave none)."""
    by_field = exc.error_dict if hasattr(exc, "error_dict") else {"__all__": exc.error_list}
    return {field: [e.code or "invalid" for e in errors] for field, errors in by_field.items()}


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    record_refusal(exc)
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return _error(request, 422, "The request was not valid; nothing was changed.", errors, error_codes(exc))


@api.exception_handler(NinjaValidationError)
def on_schema_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    codes: dict[str, list[str]] = {}
    for item in exc.errors:
        loc = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "payload"))
        errors.setdefault(loc or "__all__", []).append(str(item.get("msg", "invalid")))
        codes.setdefault(loc or "__all__", []).append(str(item.get("type", "invalid")))
    return _error(request, 422, "The request was not valid; nothing was changed.", errors, codes)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.")


@api.exception_handler(PermissionDenied)
def on_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    actor = getattr(request, "actor", None)
    audit_record(
        by=actor,
        action=AuditAction.PERMISSION_DENIED,
        object_type="url",
        object_id=request.path[:64],
        patient_id=exc.patient_id if isinstance(exc, Denied) else None,
    )
    return _error(request, 403, exc.message if isinstance(exc, Denied) else "Permission denied.")


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "Authenticate with a valid API token: Authorization: Bearer okap_…")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc))


def _register_routers() -> None:
    from openkap.accounts.api import router as accounts_router
    from openkap.audit.api import router as audit_router
    from openkap.dosing.api import router as dosing_router
    from openkap.ledger.api import router as ledger_router
    from openkap.measures.api import router as measures_router
    from openkap.outcomes.api import research_router
    from openkap.outcomes.api import router as outcomes_router
    from openkap.pathway.api import router as pathway_router
    from openkap.patients.api import router as patients_router
    from openkap.pharmacokinetics.api import router as pk_router
    from openkap.referrals.api import router as referrals_router
    from openkap.scheduling.api import router as scheduling_router
    from openkap.tasks.api import router as tasks_router

    api.add_router("/", accounts_router)
    api.add_router("/patients", patients_router)
    api.add_router("/", pathway_router)
    api.add_router("/", measures_router)
    api.add_router("/", tasks_router)
    api.add_router("/ledger", ledger_router)
    api.add_router("/scheduling", scheduling_router)
    api.add_router("/pk", pk_router)
    api.add_router("/dosing", dosing_router)
    api.add_router("/outcomes", outcomes_router)
    api.add_router("/research", research_router)
    api.add_router("/", referrals_router)
    api.add_router("/", audit_router)


_register_routers()
