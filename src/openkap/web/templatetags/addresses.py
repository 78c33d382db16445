"""Addresses the base layout writes on every page, each worked out once per process,
language, script prefix and URL configuration (a deployment changes none of them per
request): ``{% url %}`` walks the resolver and ``{% static %}`` asks the storage on every
render (ADR 0112). Both write what those tags write."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.urls import get_script_prefix
from django.utils.translation import get_language

from openkap.web.context import href

register = template.Library()

_STATIC: dict[tuple[str, str | None, str, str], str] = {}


@register.simple_tag
def fixed_url(name: str) -> str:
    """``{% url name %}`` for a page that takes no arguments."""
    return href(name)


@register.simple_tag
def fixed_static(path: str) -> str:
    """``{% static path %}``, the storage asked once (its manifest is read once too)."""
    key = (get_script_prefix(), get_language(), settings.STATIC_URL, path)
    address = _STATIC.get(key)
    if address is None:
        address = _STATIC[key] = static(path)
    return address
