from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.response import TemplateResponse
from django.utils import translation

from openkap.audit.services import record_refusal
from openkap.fhir.framework import is_fhir_path, refused
from openkap.web.context import forget_nav_count

# Everything is served from this origin; htmx and the stylesheet are vendored.
# The API docs page (Swagger UI) is the one exception and is served by django-ninja
# from its own static files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'self'; object-src 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.user.is_authenticated or request.path.startswith("/api/"):
            # Patient data must not linger in shared browser or proxy caches; API callers
            # authenticate with bearer tokens, which leave request.user anonymous.
            response.setdefault("Cache-Control", "no-store")
        return response


class ServiceErrorMiddleware:
    """A safety net: a service's ValidationError that a view did not place next to a
    field becomes a clear 422 page (nothing was saved), never a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ValidationError) and not request.path.startswith("/api/"):
            record_refusal(exception)
            return TemplateResponse(
                request, "422.html", {"errors": exception.messages}, status=422
            ).render()
        return None


NUL_MESSAGE = "Text may not contain NUL characters; nothing was changed."


class RejectNulMiddleware:
    """PostgreSQL cannot store NUL in text: refuse it at the door, for every form and
    API body, with a 400 instead of a database error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "").lower()
        if "%00" in query or "\x00" in request.path or self._body_has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NUL_MESSAGE, "errors": {}}, status=400)
            if request.path == "/fhir/R4/auth/token":  # OAuth errors have their own shape (RFC 6749 5.2)
                return JsonResponse({"error": "invalid_request", "error_description": NUL_MESSAGE}, status=400)
            if is_fhir_path(request.path):
                return refused(400, "invalid", NUL_MESSAGE)
            return HttpResponseBadRequest(NUL_MESSAGE)
        return self.get_response(request)

    @staticmethod
    def _body_has_nul(request: HttpRequest) -> bool:
        if request.method not in {"POST", "PUT", "PATCH"}:
            return False
        if request.content_type == "multipart/form-data":
            # Uploaded files (a PDF letter) are binary and stored as bytes: check the text
            # fields and the file names only, and never read the whole upload into memory.
            texts = [v for _name, values in request.POST.lists() for v in values]
            texts += [f.name or "" for _name, files in request.FILES.lists() for f in files]
            return any("\x00" in t for t in texts)
        body = request.body
        return b"\x00" in body or b"\\u0000" in body or b"%00" in body


class NavCountMiddleware:
    """A signed-in user's write (any request but GET, HEAD, OPTIONS) may change what waits
    for them: the navigation's kept number is dropped so the next page counts again."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in {"GET", "HEAD", "OPTIONS"} and request.user.is_authenticated:
            forget_nav_count(request)
        return self.get_response(request)


class LanguageMiddleware:
    """Once the actor is known (after ActorMiddleware): a patient reads the language stored
    on their record; staff pages are English, so Django's own messages stay English for
    staff whatever their browser asks. Anonymous visitors keep LocaleMiddleware's choice
    (the switcher's cookie, then the browser's Accept-Language)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        actor = getattr(request, "actor", None)
        language = None
        if actor and actor.is_patient_only:  # a lazy object: None when nobody is signed in
            patient = getattr(request.user, "patient_record", None)
            language = patient.preferred_language if patient is not None else None
        elif actor:
            language = settings.LANGUAGE_CODE
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
