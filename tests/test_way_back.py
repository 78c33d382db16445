"""Every signed-in page has a way back to its parent (issue 20, item 5), built once in
the base layout (openkap/web/wayback.py): walk every named staff and portal page as
a user who may open it, and follow the link back."""

from __future__ import annotations

import re

import pytest

from openkap.core.authz import ROLE_PERMISSIONS, Role
from tests.test_url_authorization import (
    CLINICAL_OBJECT_ROUTES,
    PUBLIC,
    _fill,
    url_objects,
    web_routes,
)

WAY_BACK = re.compile(r'<nav class="way-back" aria-label="Way back"><a href="([^"]+)" rel="up">')
# The order in which a role is chosen to open a page: the first that holds its permission.
ORDER = (Role.THERAPIST, Role.PRESCRIBER, Role.NURSE, Role.ADMIN, Role.RESEARCHER)


@pytest.fixture
def objects(patient, therapist, org):
    return url_objects(patient, therapist, org)


def _user_for(route, cast, portal_user):
    if getattr(route.callback, "patient_only", False):
        return portal_user
    perm = getattr(route.callback, "required_permission", None)
    for role in ORDER:
        if route.name in CLINICAL_OBJECT_ROUTES and role is Role.ADMIN:
            continue
        if perm is None or perm in ROLE_PERMISSIONS[role]:
            return cast[role]
    return None


def _page_of(response) -> str | None:
    """The HTML of a full page (the layout's <main>), or None for files, partials, redirects."""
    if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
        return None
    html = response.content.decode()
    return html if '<main id="main">' in html else None


def test_every_staff_and_portal_page_has_a_way_back(
    objects, patient, org, therapist, nurse, prescriber, admin, researcher, client_for
):
    from tests.conftest import make_user

    portal_user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = portal_user
    patient.save(update_fields=["user"])
    cast = {Role.THERAPIST: therapist, Role.NURSE: nurse, Role.PRESCRIBER: prescriber,
            Role.ADMIN: admin, Role.RESEARCHER: researcher}
    clients = {}
    checked, missing, broken = [], [], []
    for route in web_routes():
        if route.name in PUBLIC or route.pattern.startswith("static"):
            continue
        user = _user_for(route, cast, portal_user)
        client = clients.setdefault(user.pk, client_for(user))
        path = _fill(route.pattern, objects)
        html = _page_of(client.get(path))
        if html is None:
            continue
        checked.append(route.name)
        found = WAY_BACK.search(html)
        if not found:
            missing.append(route.name)
            continue
        href = found.group(1)
        if href == path or client.get(href, follow=True).status_code != 200:
            broken.append((route.name, href))
    assert missing == []
    assert broken == []
    # The walk reaches the pages (not only files and redirects), staff and portal alike.
    assert len(checked) >= 60, checked
    assert {"pathway:portal_care", "measures:portal", "dosing:session", "patients:chart"} <= set(checked)


def test_the_home_page_has_no_way_back(therapist, client_for):
    assert not WAY_BACK.search(client_for(therapist).get("/").content.decode())


def test_a_session_goes_back_to_its_monitoring_board(objects, therapist, client_for):
    from openkap.dosing.models import DosingSession

    session = DosingSession.objects.get(pk=objects["session_id"])
    html = client_for(therapist).get(f"/dosing/sessions/{session.id}/").content.decode()
    assert WAY_BACK.search(html).group(1) == f"/dosing/board/{session.site_id}/"
    assert "Back to Monitoring board" in html


def test_a_parent_the_user_may_not_open_is_passed_over(researcher, client_for):
    from django.urls import resolve

    from openkap.web.wayback import may_open

    # A researcher opens the research export but not the patient list: never a way back to a 403.
    actor = client_for(researcher).get("/research/").wsgi_request.actor
    assert may_open(actor, resolve("/research/").func)
    assert not may_open(actor, resolve("/patients/").func)


def test_a_session_also_offers_the_patients_other_sessions(objects, therapist, client_for):
    from openkap.dosing.models import DosingSession

    session = DosingSession.objects.get(pk=objects["session_id"])
    html = client_for(therapist).get(f"/dosing/sessions/{session.id}/").content.decode()
    nav = re.search(r'<nav class="way-back".*?</nav>', html, re.S).group(0)
    href = f"/patients/{session.patient_id}/medicine-sessions/"
    assert f'<a href="{href}">All sessions of {session.patient.display_name}</a>' in nav
    # Only in the way back: the page itself carries no second copy.
    assert html.count(f'href="{href}"') == 1


def test_a_refused_rems_save_goes_back_to_the_session_not_to_rems(objects, nurse, org, client_for):
    from datetime import timedelta

    from django.utils import timezone

    from openkap.dosing.models import DosingSession, RemsForm

    session = DosingSession.objects.get(pk=objects["session_id"])
    now = timezone.now()
    RemsForm.objects.create(
        organization=org, session=session, treatment_date=now.date(), dose_mg=56, devices=2,
        first_device_at=now - timedelta(hours=2), bp_pre="128/82", bp_pre_at=now - timedelta(hours=2),
        bp_discharge="124/80", bp_discharge_at=now, sedation="no", dissociation="no",
        respiratory_depression="no", pulse_oximetry_used=True, monitoring_minutes=120,
        clinically_stable_at_discharge=True, serious_adverse_event="no", updated_by=nurse)
    client = client_for(nurse)
    for response in (client.get(f"/dosing/sessions/{session.id}/rems/"),
                     client.post(f"/dosing/sessions/{session.id}/rems/save/", {"rems-lowest_spo2": "400"})):
        html = response.content.decode()
        assert WAY_BACK.search(html).group(1) == f"/dosing/sessions/{session.id}/", response.status_code
        assert "Back to the session" in html
