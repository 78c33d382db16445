"""The layout's addresses, worked out once (openkap.web.templatetags.addresses, ADR 0112),
are what {% url %} and {% static %} write, under any script prefix and static URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template import Context, Template
from django.templatetags.static import static
from django.test import override_settings
from django.urls import NoReverseMatch, reverse, set_script_prefix
from django.utils import translation

from openkap.web.templatetags.addresses import fixed_static, fixed_url, id_url

BASE = (Path(__file__).resolve().parent.parent / "src" / "openkap" / "templates" / "base.html").read_text()
NAMES = re.findall(r"\{% fixed_url '([^']+)' %\}", BASE)
PATHS = re.findall(r"\{% fixed_static '([^']+)' %\}", BASE)


@pytest.fixture
def prefix():
    yield set_script_prefix
    set_script_prefix("/")


def test_the_layout_uses_its_addresses():
    assert len(NAMES) >= 6
    assert len(PATHS) == 4
    assert "{% url " not in BASE
    assert "{% static " not in BASE


@pytest.mark.parametrize("script_prefix", ["/", "/clinic/", "/other/"])
@pytest.mark.parametrize("language", ["en", "es"])
def test_each_address_is_what_the_tags_wrote(prefix, script_prefix, language):
    prefix(script_prefix)
    with translation.override(language):
        for name in NAMES:
            assert fixed_url(name) == reverse(name)
            assert fixed_url(name).startswith(script_prefix)
        for path in PATHS:
            assert fixed_static(path) == static(path)
    with override_settings(STATIC_URL="/assets/"):
        for path in PATHS:
            assert fixed_static(path) == static(path)
            assert fixed_static(path).startswith("/assets/")


# Addresses with one id, as the board and the chart write them in loops.
ID_NAMES = ["dosing:board", "dosing:session", "dosing:check_in", "patients:chart"]
ID_URL = Template("{% load addresses %}{% id_url name object_id %}")
URL = Template("{% url name object_id %}")


@pytest.mark.parametrize("script_prefix", ["/", "/clinic/", "/other/"])
@pytest.mark.parametrize("language", ["en", "es"])
def test_an_address_with_an_id_is_what_url_writes(prefix, script_prefix, language):
    prefix(script_prefix)
    with translation.override(language):
        for name in ID_NAMES:
            for object_id in (1, 42, 918273645546372819, 10**18 - 1):
                context = {"name": name, "object_id": object_id}
                assert ID_URL.render(Context(context)) == URL.render(Context(context))
                assert ID_URL.render(Context(context)).startswith(script_prefix)


@pytest.mark.parametrize("object_id", ["7", "918273645546372819"])
def test_an_id_given_as_something_else_is_reversed_as_url_does(object_id):
    context = {"name": "dosing:board", "object_id": object_id}
    assert ID_URL.render(Context(context)) == URL.render(Context(context))


@pytest.mark.parametrize("object_id", [0, -1, 10**18, "x", None, 7.0, True])
def test_an_id_the_address_cannot_hold_is_refused_as_url_does(object_id):
    with pytest.raises(NoReverseMatch):
        id_url(Context({}), "dosing:board", object_id)
    with pytest.raises(NoReverseMatch):
        URL.render(Context({"name": "dosing:board", "object_id": object_id}))
