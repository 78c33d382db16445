"""Portal dates in the patient's language (issue 17.6): the order of day and month and
the names are Django's for the language, not English patterns ("Nov 5") with Spanish
names."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import get_template
from django.test import Client
from django.urls import reverse

from openkap.core.authz import Role
from openkap.pathway.models import ConsentDocument, Intention, JournalEntry
from tests.conftest import make_user
from tests.test_translations import PATIENT_TEMPLATES

pytestmark = pytest.mark.django_db

# Thursday 5 November 2026, noon at the clinic: the same day in every zone a test may run in.
NOON = datetime(2026, 11, 5, 12, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture
def portal(walk_to, patient, org):
    episode = walk_to("ready")
    user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.save(update_fields=["user"])
    Intention.objects.create(organization=org, episode=episode, written_by=user, text="Let go of the shame.",
                             by_patient=True, written_at=NOON)
    JournalEntry.objects.create(organization=patient.organization, patient=patient, text="Calm.", written_at=NOON)
    ConsentDocument.objects.update(published_at=NOON)
    client = Client()
    client.force_login(user, backend="openkap.accounts.backends.EmailBackend")
    return client


def _pages(client) -> str:
    return "".join(client.get(reverse(name)).content.decode()
                   for name in ("pathway:portal_care", "pathway:portal_journal", "pathway:portal_consent"))


def test_portal_dates_read_in_english(portal):
    pages = _pages(portal)
    assert "November 5<" in pages  # an intention on My care
    assert "Thursday, November 5, 2026" in pages  # a journal entry
    assert "published Nov. 5, 2026" in pages  # the consent document


def test_portal_dates_read_in_spanish(portal, patient):
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    pages = _pages(portal)
    assert "5 de noviembre<" in pages
    assert "jueves 5 de noviembre de 2026" in pages
    assert "publicado el 5 de noviembre de 2026" in pages
    assert not re.search(r"\b(nov|noviembre)\.? 5\b", pages, re.IGNORECASE)


# A date written with a literal pattern ("M j") keeps English order in every language;
# a named format (DATE_FORMAT, MONTH_DAY_FORMAT) or a translated pattern (_("l j F")) does not.
LANGUAGE_NEUTRAL = {"l", "H:i"}


@pytest.mark.parametrize("name", PATIENT_TEMPLATES)
def test_patient_facing_templates_format_dates_for_the_language(name):
    source = Path(get_template(name).origin.name).read_text("utf-8")
    for pattern in re.findall(r"""\|date:(["'])(.*?)\1""", source):
        assert re.fullmatch(r"[A-Z_]+_FORMAT", pattern[1]) or pattern[1] in LANGUAGE_NEUTRAL, (name, pattern[1])
