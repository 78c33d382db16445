"""Query budgets of the main pages, on the demo clinic: each page stays under its budget,
and no page asks the database once more per row (a chart with four dosing sessions costs
what a chart at intake does, plus a fixed few for the sections only it shows). And no
GET writes: reading a page records an audit row (and the session's last activity), and
changes nothing else.

The demo clinic is the session's shared one (``demo_clinic``, tests/conftest.py); each
test runs in a savepoint of it. When a budget fails, look for a query in a loop
(select_related/prefetch_related, or one query for all rows) before raising it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

# A chart with many records may show a few more sections than one at intake; never a
# query per row. Rows differ by far more than this between the two demo patients.
SECTION_SLACK = 8


@dataclass(frozen=True)
class Demo:
    rich: int  # the portal patient: a dosing series, measures, journal
    poor: int  # a patient at intake, with nothing done yet
    site: int
    session: int  # a dosing session held today or earlier
    lot: int


@pytest.fixture(scope="module")
def demo(demo_clinic, django_db_blocker) -> Demo:
    from openkap.dosing.models import DosingSession
    from openkap.ledger.models import Lot
    from openkap.pathway.models import Episode
    from openkap.patients.models import Patient

    org = demo_clinic.report.organization
    with django_db_blocker.unblock():
        rich = Patient.objects.get(organization=org, user__isnull=False)
        poor = Episode.objects.get(organization=org, state="intake").patient
        session = DosingSession.objects.filter(patient=rich).exclude(started_at=None).order_by("-started_at").first()
        return Demo(rich.id, poor.id, session.site_id, session.id, Lot.objects.filter(site_id=session.site_id).first().id)


def _user(email: str):
    from openkap.accounts.models import User

    return User.objects.get(email=email)


# What a GET may write: the audit log (every read of patient data is recorded) and the
# session (the idle timeout's last activity).
GET_MAY_WRITE = ("audit_auditevent", "django_session")
WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


def _get(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [q["sql"] for q in captured.captured_queries]


def queries(client, url: str) -> int:
    return len(_get(client, url))


def writes(client, url: str) -> list[str]:
    """The tables a GET of ``url`` wrote to, beyond the audit log and the session."""
    return [m.group(2) for sql in _get(client, url) if (m := WRITE.match(sql)) and m.group(2) not in GET_MAY_WRITE]


CHART_TABS = [
    "", "pathway/", "measures/", "appointments/", "medicine-sessions/", "psychotherapy-notes/",
    "pathway/intake/", "pathway/checklist/", "pathway/eligibility/", "pathway/plan/", "pathway/preparation/",
    "pathway/consent/", "pathway/integration/", "pathway/reassessment/", "pathway/journal/", "outcomes/",
]
# Budgets (queries per request, middleware and audit rows included): what each page of the
# portal patient's chart needed when written down (2026-12), plus about a fifth.
CHART_BUDGET = {
    "": 25, "pathway/": 55, "measures/": 80, "appointments/": 40, "medicine-sessions/": 26,
    "psychotherapy-notes/": 25, "pathway/intake/": 28, "pathway/checklist/": 44, "pathway/eligibility/": 46,
    "pathway/plan/": 26, "pathway/preparation/": 32, "pathway/consent/": 28, "pathway/integration/": 30,
    "pathway/reassessment/": 25, "pathway/journal/": 27, "outcomes/": 35,
}


@pytest.mark.parametrize("tab", CHART_TABS)
def test_each_chart_tab_keeps_its_budget_whatever_the_number_of_records(demo, tab):
    client = signed_in(_user("therapist@demo.openkap.org"))
    rich = queries(client, f"/patients/{demo.rich}/{tab}")
    poor = queries(client, f"/patients/{demo.poor}/{tab}")
    assert rich <= CHART_BUDGET[tab]
    assert rich - poor <= SECTION_SLACK, (rich, poor)


def test_the_pathway_worklist_costs_the_same_for_one_row_as_for_all(demo):
    client = signed_in(_user("therapist@demo.openkap.org"))
    one = queries(client, "/pathway/?state=intake")
    every = queries(client, "/pathway/")  # 22 rows: it took 339 queries before the snapshots were batched
    assert every <= 32
    assert every <= one + 2


STAFF_PAGES = {
    # (who, url template): budget
    ("therapist", "/"): 44,
    ("therapist", "/patients/"): 18,
    ("therapist", "/tasks/"): 18,
    ("therapist", "/schedule/"): 25,
    ("therapist", "/pathway/"): 32,
    ("nurse", "/dosing/board/{site}/"): 30,
    ("nurse", "/dosing/sessions/{session}/"): 33,
    ("nurse", "/ledger/"): 18,
    ("nurse", "/ledger/sites/{site}/"): 25,
    ("nurse", "/ledger/sites/{site}/reconciliation/"): 26,
    ("nurse", "/ledger/sites/{site}/inventories/"): 21,
    ("nurse", "/ledger/sites/{site}/reports/"): 18,
    ("nurse", "/ledger/lots/{lot}/"): 18,
}


@pytest.mark.parametrize(("who", "url"), list(STAFF_PAGES))
def test_staff_pages_keep_their_budget(demo, who, url):
    client = signed_in(_user(f"{who}@demo.openkap.org"))
    count = queries(client, url.format(site=demo.site, session=demo.session, lot=demo.lot))
    assert count <= STAFF_PAGES[(who, url)]


PORTAL_PAGES = {"/": 44, "/portal/questionnaires/": 38, "/portal/care/": 21, "/portal/journal/": 17,
                "/portal/appointments/": 18}


@pytest.mark.parametrize("url", list(PORTAL_PAGES))
def test_portal_pages_keep_their_budget(demo, url):
    client = signed_in(_user("patient@demo.openkap.org"))
    assert queries(client, url) <= PORTAL_PAGES[url]


# GETs that still write: each schedules the patient's due questionnaires on read
# (measures.services.sync_schedule). Strict: fixing one fails here until it is removed.
STILL_WRITING = {
    ("therapist", "/patients/{rich}/measures/"), ("patient", "/"), ("patient", "/portal/questionnaires/"),
}


def _every_get() -> list[tuple[str, str]]:
    pages = [("therapist", f"/patients/{{rich}}/{tab}") for tab in CHART_TABS]
    pages += list(STAFF_PAGES)
    pages += [("patient", url) for url in PORTAL_PAGES]
    return [
        pytest.param(who, url, marks=pytest.mark.xfail(strict=True, reason="schedules questionnaires on read"))
        if (who, url) in STILL_WRITING else pytest.param(who, url)
        for who, url in pages
    ]


@pytest.mark.parametrize(("who", "url"), _every_get())
def test_no_get_writes(demo, who, url):
    client = signed_in(_user(f"{who}@demo.openkap.org"))
    url = url.format(rich=demo.rich, site=demo.site, session=demo.session, lot=demo.lot)
    assert writes(client, url) == []
