"""Addresses the base layout writes on every page, each worked out once per process,
language, script prefix and URL configuration (a deployment changes none of them per
request): ``{% url %}`` walks the resolver and ``{% static %}`` asks the storage on every
render (ADR 0112). Both write what those tags write."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.template import Context
from django.templatetags.static import static
from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language

from openkap.addresses import around_id
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


def current_app(context: Context) -> str | None:
    """The namespace ``{% url %}`` reverses in (its own rule)."""
    request = context.get("request")
    try:
        return request.current_app  # type: ignore[union-attr]
    except AttributeError:
        try:
            return request.resolver_match.namespace  # type: ignore[union-attr]
        except AttributeError:
            return None


@register.simple_tag(takes_context=True)
def id_url(context: Context, name: str, object_id: object) -> str:
    """``{% url name object_id %}`` for a page taking one id (a row's link in a loop)."""
    app = current_app(context)
    if type(object_id) is not int or not 0 < object_id < 10**18:
        return reverse(name, args=[object_id], current_app=app)  # what the id converter refuses, as {% url %}
    before, after = around_id(name, app)
    return f"{before}{object_id}{after}"
