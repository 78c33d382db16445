"""Settings of the server `bench/pages.py` measures: the production settings, plus

- the ceiling: `/bench/ceiling/`, a minimal view behind the same middleware (session,
  authentication, the actor, MFA, security headers), so every page is compared with
  what Django costs on this machine before OpenKAP does any work;
- a query counter that answers only requests carrying `X-Bench-Queries: 1` (the
  bench's one probe per page), so the measured requests run the production path.

Nothing here is imported by the application; the bench puts `bench/` on PYTHONPATH.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openkap.settings import *  # noqa: F403
from openkap.settings import MIDDLEWARE

ROOT_URLCONF = "pages_urls"
MIDDLEWARE = ["pages_settings.QueryCountMiddleware", *MIDDLEWARE]


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[Any], Any]):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if request.headers.get("X-Bench-Queries") != "1":
            return self.get_response(request)
        from django.db import connection

        count = 0

        def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(count)
        return response
