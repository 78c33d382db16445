"""The base layout written by a tag (openkap.web.templatetags.layout, ADR 0112) gives the
bytes the template it replaced gave, for every kind of visitor: signed out, staff before
and after MFA, with one organisation or several, a patient (the language switch), a way
back with pages beside it, messages, the demo banner, both languages, and names and
addresses that need escaping. BEFORE is that template, as it was."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import engines
from django.test import RequestFactory
from django.utils import translation

from openkap.accounts.authz import Actor
from openkap.accounts.models import Organization, User
from openkap.core.authz import Role
from openkap.web.wayback import Link, WayBack

BEFORE = r"""{% load static i18n %}{% get_current_language as LANGUAGE_CODE %}<!doctype html>
<html lang="{{ LANGUAGE_CODE }}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  {% if user.is_authenticated %}<noscript><meta http-equiv="refresh" content="{{ idle_timeout_seconds|add:5 }}"></noscript>{% endif %}
  <title>{% block title %}OpenKAP{% endblock %} · OpenKAP</title>
  <link rel="icon" href="{% static 'openkap/favicon.svg' %}" type="image/svg+xml">
  <link rel="stylesheet" href="{% static 'openkap/app.css' %}">
  <script src="{% static 'openkap/htmx.min.js' %}" defer></script>
  <script src="{% static 'openkap/shell.js' %}" defer></script>
</head>
<body hx-headers='{"X-CSRFToken": "{{ csrf_token }}"}'{% if user.is_authenticated %} data-idle-timeout="{{ idle_timeout_seconds }}" data-session-url="{% url 'accounts:session_status' %}" data-login-url="{% url 'accounts:login' %}"{% endif %}>
<a class="skip" href="#main">{% translate "Skip to content" %}</a>
{% if demo_mode %}<aside class="demo-banner" aria-label="{% translate 'Demo notice' %}">{% translate "DEMO — fictional patients, not for clinical use" %}</aside>{% endif %}
<header class="top">
  <a class="brand" href="{% url 'web:home' %}">OpenKAP</a>
  {% if actor %}
  {% if not nav_hidden %}<button type="button" id="menu-toggle" class="menu-toggle" aria-expanded="false" aria-controls="main-nav" hidden>{% translate "Menu" %}{% for item in nav %}{% if item.count %} <span class="badge warn">{{ item.count }}</span>{% endif %}{% endfor %}</button>
  <nav id="main-nav" aria-label="{% translate 'Main' %}">
    {% for item in nav %}<a href="{{ item.href }}"{% if item.current %} aria-current="page"{% endif %}>{{ item.label }}{% if item.count %} <span class="badge warn" data-testid="nav-count" aria-label="{% blocktranslate with n=item.count %}{{ n }} waiting for you{% endblocktranslate %}">{{ item.count }}</span>{% endif %}</a>{% endfor %}
  </nav>{% endif %}
  <div class="who">
    {% if organizations|length > 1 %}
    <form method="post" action="{% url 'accounts:switch_organization' %}">{% csrf_token %}
      <label class="skip" for="org-switch">{% translate "Organisation" %}</label>
      <select id="org-switch" name="organization" data-autosubmit>
        {% for org in organizations %}<option value="{{ org.id }}"{% if org.id == actor.organization.id %} selected{% endif %}>{{ org.name }}</option>{% endfor %}
      </select>
      <noscript><button class="link" type="submit">{% translate "Switch" %}</button></noscript>
    </form>
    {% else %}<span>{{ actor.organization.name }}</span>{% endif %}
    <span>{{ actor.user.full_name }} · {{ role_names|join:", " }}</span>
    {% if actor.is_patient_only %}<form method="post" action="{% url 'site:language' %}" class="language-switch">{% csrf_token %}<input type="hidden" name="next" value="{{ request.get_full_path }}">
      {% get_available_languages as available %}{% get_language_info_list for available as languages %}{% for lang in languages %}{% if lang.code != LANGUAGE_CODE %}<button class="link" type="submit" name="language" value="{{ lang.code }}" lang="{{ lang.code }}">{{ lang.name_local|capfirst }}</button>{% endif %}{% endfor %}</form>{% endif %}
    <form id="sign-out-form" method="post" action="{% url 'accounts:logout' %}">{% csrf_token %}<button class="link" type="submit">{% translate "Sign out" %}</button></form>
  </div>
  {% endif %}
</header>
<main id="main">
  {% if way_back %}<nav class="way-back" aria-label="{% translate 'Way back' %}"><a href="{{ way_back.href }}" rel="up"><span aria-hidden="true">←</span> {% blocktranslate with label=way_back.label %}Back to {{ label }}{% endblocktranslate %}</a>{% for link in way_back.also %} <a href="{{ link.href }}">{{ link.label }}</a>{% endfor %}</nav>{% endif %}
  {% if messages %}<ul class="messages" role="status">{% for m in messages %}<li class="{{ m.tags }}">{{ m }}</li>{% endfor %}</ul>{% endif %}
  {% block content %}{% endblock %}
</main>
{% if user.is_authenticated %}
<dialog id="timeout-warning" class="timeout" aria-labelledby="timeout-title" aria-describedby="timeout-text" data-minute="{% translate 'minute' %}" data-minutes="{% translate 'minutes' %}" data-second="{% translate 'second' %}" data-seconds="{% translate 'seconds' %}">
  <h2 id="timeout-title">{% translate "Are you still there?" %}</h2>
  <p id="timeout-text">{% blocktranslate %}To protect patients' privacy you will be signed out in <strong id="timeout-left">2 minutes</strong> unless you choose to stay. Anything you have not saved will be lost.{% endblocktranslate %}</p>
  <div class="row"><button type="button" id="timeout-stay">{% translate "Stay signed in" %}</button><button type="button" class="secondary" id="timeout-leave">{% translate "Sign out now" %}</button></div>
</dialog>
{% endif %}
</body>
</html>
"""

CHILD = ('{% extends base %}{% block title %}A & <b>title</b>{% endblock %}'
         '{% block content %}<p>the page</p>{% endblock %}')


def _render(base_source: str | None, context: dict, request) -> str:
    engine = engines["django"]
    base = engine.from_string(base_source).template if base_source else engine.get_template("base.html").template
    return engine.from_string(CHILD).render({**context, "base": base}, request)


def _actor(roles: frozenset[Role], name: str = "Ann <b>O\'Brien</b> & co") -> Actor:
    org = Organization(id=7, name="Clinic <One> & \"Two\"")
    return Actor(user=User(id=3, full_name=name, email="a@example.org"), organization=org, roles=roles)


NAV = [
    {"href": "/", "label": "Today", "current": False, "count": 3},
    {"href": "/patients/?a=1&b=<2>", "label": "Patients & <more>", "current": True, "count": 0},
    {"href": "/tasks/", "label": "Tasks", "current": False, "count": 12},
]
ORGS = [Organization(id=7, name="Clinic <One> & \"Two\""), Organization(id=9, name="Zeta & Co")]
WAY_BACK = WayBack("/patients/5/?x=<y>", "the <chart>", also=(Link("/a/?b&c", "All sessions of <Ann>"),))


def _cases():
    staff = _actor(frozenset({Role.NURSE, Role.THERAPIST}))
    patient = _actor(frozenset({Role.PATIENT}))
    signed_in = User(id=3, full_name="x")
    yield "anonymous", AnonymousUser(), {"actor": None, "nav": []}
    for demo, nav_hidden in itertools.product([True, False], [True, False]):
        yield (f"staff demo={demo} nav_hidden={nav_hidden}", signed_in,
               {"actor": staff, "nav": NAV, "nav_hidden": nav_hidden, "demo_mode": demo, "organizations": ORGS[:1],
                "role_names": ["Nurse / monitor", "Therapist <t>"]})
    for orgs, way_back, messages in itertools.product([ORGS[:1], ORGS, []], [WAY_BACK, None], [True, False]):
        yield (f"staff orgs={len(orgs)} way_back={bool(way_back)} messages={messages}", signed_in,
               {"actor": staff, "nav": NAV, "organizations": orgs, "way_back": way_back, "role_names": ["Nurse"],
                "messages": _messages() if messages else []})
    yield "patient", signed_in, {"actor": patient, "nav": NAV[:1], "organizations": ORGS[:1], "role_names": ["Patient"]}
    yield "staff, no csrf token", signed_in, {"actor": staff, "nav": NAV, "csrf_token": ""}


class _Message:
    def __init__(self, text: str, tags: str):
        self.text, self.tags = text, tags

    def __str__(self) -> str:
        return self.text


def _messages() -> list[_Message]:
    return [_Message("Saved <b>it</b> & more", "success"), _Message("Careful", "warning error")]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize(("name", "user", "context"), list(_cases()), ids=[c[0] for c in _cases()])
def test_the_layout_tag_writes_what_the_template_wrote(language, name, user, context):
    request = RequestFactory().get("/patients/?q=<x>&y=1")
    request.user = user
    context = {"csrf_token": "tok<en>&", "idle_timeout_seconds": 900, **context}
    with translation.override(language):
        before = _render(BEFORE, context, request)
        after = _render(None, context, request)
    assert after == before
    assert "the page" in after


def test_the_cases_cover_every_part_of_the_layout():
    request = RequestFactory().get("/")
    seen = ""
    for _name, user, context in _cases():
        request.user = user
        seen += _render(BEFORE, {"csrf_token": "t", "idle_timeout_seconds": 900, **context}, request)
    for part in ["demo-banner", "menu-toggle", "nav-count", 'aria-current="page"', "org-switch", "language-switch",
                 "way-back", 'class="messages"', "timeout-warning", "sign-out-form", "noscript", "csrfmiddlewaretoken"]:
        assert part in seen, part


def test_a_page_rendered_without_a_request_gets_the_same_layout():
    """The server-error page is rendered with no request (nothing known of the visitor)."""
    assert _render(None, {}, None) == _render(BEFORE, {}, None)
