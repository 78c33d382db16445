"""The layout's addresses, worked out once (openkap.web.templatetags.addresses, ADR 0112),
are what {% url %} and {% static %} write, under any script prefix and static URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.templatetags.static import static
from django.test import override_settings
from django.urls import reverse, set_script_prefix
from django.utils import translation

from openkap.web.templatetags.addresses import fixed_static, fixed_url

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
