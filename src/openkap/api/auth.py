from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from openkap.accounts.authz import build_actor
from openkap.accounts.middleware import client_ip
from openkap.accounts.services import api_token_authenticate


class TokenAuth(HttpBearer):
    """Personal API tokens: ``Authorization: Bearer okap_…``. The request gets the
    same Actor a web request would, scoped to the token's organisation."""

    def authenticate(self, request: HttpRequest, token: str):
        api_token = api_token_authenticate(token)
        if api_token is None:
            return None
        actor = build_actor(
            api_token.user,
            api_token.organization,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            via="api",
            api_token_id=api_token.id,
        )
        if not actor.is_staff:
            return None
        request.actor = actor  # type: ignore[attr-defined]
        return actor
