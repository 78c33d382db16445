"""The request types views and API operations receive, for the type checker: who acts
is set on the request by accounts.middleware (web pages) or api.auth.TokenAuth (API)."""

from __future__ import annotations

from django.http import HttpRequest

from openkap.accounts.authz import Actor


class WebRequest(HttpRequest):
    """A page request: ``actor`` is the signed-in person, None when nobody is."""

    actor: Actor | None


class ApiRequest(HttpRequest):
    """An API request past TokenAuth: ``auth`` (ninja's name) and ``actor`` are the same Actor."""

    auth: Actor
    actor: Actor
