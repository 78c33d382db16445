"""The application's URLs plus the ceiling view of `bench/pages.py` (see pages_settings)."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.urls import path

from openkap.urls import urlpatterns as application


def ceiling(request: HttpRequest) -> HttpResponse:
    """The least a signed-in page costs: the session, the user, the middleware, a response."""
    if not request.user.is_authenticated:
        return HttpResponse("signed out", status=403, content_type="text/plain")
    return HttpResponse(f"ceiling for user {request.user.pk}\n", content_type="text/plain")


def whoami(request: HttpRequest) -> HttpResponse:
    """The nonce the bench gave this server: proof it measures the server it started."""
    return HttpResponse(os.environ.get("BENCH_NONCE", ""), content_type="text/plain")


urlpatterns = [path("bench/ceiling/", ceiling), path("bench/whoami/", whoami), *application]
