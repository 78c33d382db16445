"""Addresses that take one id, worked out once per process: ``reverse`` walks the URL
configuration on every call, and a page writes the same address for each row with only
the id changed (ADR 0115). Used by templates' tags and by selectors that make a row's link."""

from __future__ import annotations

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language

# Reversed once with a placeholder id that the id then replaces.
_ID = 918273645546372819  # 18 digits: the id converter's longest
_AROUND_ID: dict[tuple[str, str, str, str | None, str], tuple[str, str]] = {}


def around_id(name: str, app: str | None = None) -> tuple[str, str]:
    """The text before and after the id in ``name``'s address (in namespace ``app``)."""
    key = (get_script_prefix(), get_language(), str(get_urlconf() or settings.ROOT_URLCONF), app, name)
    around = _AROUND_ID.get(key)
    if around is None:
        before, after = reverse(name, args=[_ID], current_app=app).split(str(_ID))
        around = _AROUND_ID[key] = (before, after)
    return around
