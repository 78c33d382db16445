"""The layout's navigation and time-out dialog are kept as rendered, keyed by what they show
(ADR 0120): each is what the template renders without the cache, for every role, several
pages (the current link), the waiting count and both languages, in any order."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from openkap.accounts.models import User
from openkap.patients.models import Patient
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

SECTIONS = re.compile(r'<button type="button" id="menu-toggle".*?</nav>|<dialog id="timeout-warning".*?</dialog>',
                      re.S)
HREFS = re.compile(r'<nav id="main-nav"[^>]*>(.*?)</nav>', re.S)


def _pages(demo_clinic) -> list[tuple[str, str, str]]:
    """(user, page, language): every demo user on its home page and the first links of its
    navigation; the patient in both languages (staff pages are English)."""
    found = []
    for user in User.objects.filter(email__endswith="@demo.openkap.org").order_by("email"):
        client = signed_in(user)
        home = client.get("/").content.decode()
        links = re.findall(r'href="([^"]+)"', HREFS.search(home).group(1)) if HREFS.search(home) else []
        languages = ("en", "es") if hasattr(user, "patient_record") else ("en",)
        found += [(user.email, page, language) for page in ["/", *links[1:4]] for language in languages]
    return found


def _render(pages: list[tuple[str, str, str]]) -> list[list[str]]:
    clients = {email: signed_in(User.objects.get(email=email)) for email in {p[0] for p in pages}}
    found = []
    for email, page, language in pages:
        Patient.objects.filter(user__email=email).update(preferred_language=language)  # the portal's language
        found.append(SECTIONS.findall(clients[email].get(page).content.decode()))
    return found


def test_the_kept_navigation_and_dialog_are_what_the_template_renders(demo_clinic):
    pages = _pages(demo_clinic)
    assert len({p[0] for p in pages}) >= 7
    assert len(pages) >= 30
    caches["fragments"].clear()
    _render(pages)  # fills the cache, each role's navigation on each page
    kept = _render(pages[::-1])  # read back, in another order
    with override_settings(CACHES={**settings.CACHES,
                                   "fragments": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}):
        rendered = _render(pages[::-1])
    assert all(len(sections) == 2 for sections in rendered)
    assert kept == rendered
    # The count, the current link and the language each showed somewhere.
    navs = {sections[0] for sections in rendered}
    assert any('aria-current="page"' in n for n in navs)
    assert any("nav-count" in n for n in navs)
    assert len({sections[1] for sections in rendered}) == 2  # the dialog in English and in Spanish
