"""The page number a list's address asks for."""

from __future__ import annotations

from django.http import HttpRequest

# Far beyond any list's last page; bigger numbers are the last page anyway.
MAX_PAGE = 100_000


def page_number(request: HttpRequest, default: int = 1) -> int:
    """`?page=N`: anything that is not a whole number gives the default, numbers below 1
    the first page (the paginator turns a page past the last into the last)."""
    try:
        return max(1, min(int(request.GET.get("page", default)), MAX_PAGE))
    except ValueError:
        return default
