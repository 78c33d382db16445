"""Addresses the base layout writes on every page, each worked out once per process,
language, script prefix and URL configuration (a deployment changes none of them per
request): ``{% url %}`` walks the resolver and ``{% static %}`` asks the storage on every
render (ADR 0112). Both write what those tags write."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.template import Context
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
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


# An address taking one id: reversed once with a placeholder id that the id then replaces.
_ID = 918273645546372819  # 18 digits: the id converter's longest
_AROUND_ID: dict[tuple[str, str, str, str | None, str], tuple[str, str]] = {}


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


def around_id(name: str, app: str | None) -> tuple[str, str]:
    """The text before and after the id in ``name``'s address."""
    key = (get_script_prefix(), get_language(), str(get_urlconf() or settings.ROOT_URLCONF), app, name)
    around = _AROUND_ID.get(key)
    if around is None:
        before, after = reverse(name, args=[_ID], current_app=app).split(str(_ID))
        around = _AROUND_ID[key] = (before, after)
    return around


@register.simple_tag(takes_context=True)
def id_url(context: Context, name: str, object_id: object) -> str:
    """``{% url name object_id %}`` for a page taking one id (a row's link in a loop)."""
    app = current_app(context)
    if type(object_id) is not int or not 0 < object_id < 10**18:
        return reverse(name, args=[object_id], current_app=app)  # what the id converter refuses, as {% url %}
    before, after = around_id(name, app)
    return f"{before}{object_id}{after}"
