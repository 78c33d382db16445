"""The cast: one user per role in the Demo-like clinic, and an outsider from another
organisation. Tests name them by role so a reader sees who acts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest

from openkap.core.authz import Role
from tests import profiles  # noqa: F401 - loads the Hypothesis profile before any test module

if TYPE_CHECKING:
    from django.test import Client

    from openkap.accounts.authz import Actor
    from openkap.accounts.models import Organization, Room, Site, User
    from openkap.demo import SeedReport
    from openkap.patients.models import Patient

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


# After pytest-django's ordering (database tests, transactional ones, then the rest).
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:
    """The one place where ``@pytest.mark.postgres`` tests are skipped on SQLite; and the
    tests on the shared demo clinic run last, so that no other test sees it."""
    items.sort(key=lambda item: "demo_clinic" in getattr(item, "fixturenames", ()))
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


_CLOCK: list = []  # the patch in force under OPENKAP_TEST_CLOCK, undone at the end


@pytest.hookimpl(trylast=True)
def pytest_configure(config) -> None:
    """``OPENKAP_TEST_CLOCK=2026-01-31T23:55-05:00`` runs the session as if it had started at
    that moment (time runs on from it), from collection on (parametrised cases compute times
    at import): a test that passes at noon but fails just before midnight, on a DST change or
    at a month's end shows up on demand rather than in a late CI run (README, Tests).
    ``timezone.now`` is patched, and the model defaults that hold the real function, so
    services, models and tests see the same moment. Only with pytest-django (tests/core
    runs without Django and reads no clock)."""
    moment = os.environ.get("OPENKAP_TEST_CLOCK")
    if not moment or not config.pluginmanager.hasplugin("django"):
        return
    from unittest import mock

    from django.apps import apps
    from django.utils import timezone

    real = timezone.now
    offset = datetime.fromisoformat(moment) - real()

    def fake() -> datetime:
        return real() + offset

    for model in apps.get_models():
        for field in model._meta.fields:
            if field.default is real:
                field.default = fake
                field.__dict__.pop("_get_default", None)  # a field caches its default callable
    patch = mock.patch.object(timezone, "now", fake)
    patch.start()
    _CLOCK.append(patch)


def pytest_unconfigure(config) -> None:
    while _CLOCK:
        _CLOCK.pop().stop()


def zone_in_early_afternoon() -> str:
    """A fixed-offset zone where it is 13:xx now: the demo clinic seeded at this hour has
    every story on its board (sessions monitored, waiting for an order, arriving), and
    the morning's sessions never straddle midnight, whenever the tests run."""
    from django.utils import timezone  # the session's clock (OPENKAP_TEST_CLOCK) when moved

    offset = (13 - timezone.now().astimezone(UTC).hour + 12) % 24 - 12
    # POSIX sign convention: Etc/GMT-5 is UTC+5.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


# Medicine-session tests chart a session "earlier today" (up to a few hours ago): in the
# clinic's first hours after midnight there is no earlier today (a CI run at 00:15 New York
# failed 131 of them).
SMALL_HOURS = 6


@pytest.fixture
def daytime_clinic(request) -> Iterator[None]:
    """In the clinic's small hours the test runs in a zone where it is early afternoon, as the
    demo clinic does; at any other hour nothing changes. Used by the tests that chart
    sessions earlier today (tests/dosing, and modules that say so); not by tests whose
    parameters hold clinic times computed at collection or that need New York's DST."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from django.test import override_settings
    from django.utils import timezone

    if timezone.localtime().hour >= SMALL_HOURS:
        yield
        return
    with override_settings(TIME_ZONE=zone_in_early_afternoon()):
        yield


DEMO_PATIENTS = 30


@dataclass(frozen=True)
class DemoClinic:
    report: SeedReport  # what the one seeding created
    time_zone: str  # the clinic's local time zone (early afternoon when seeded)


@pytest.fixture
def durable_commits(transactional_db) -> Iterator[None]:
    """The server's default synchronous_commit (on) for this test's connection: CI turns it
    off for its own sessions (PGOPTIONS, ADR 0109), and the ledger's durable flush (ADR 0107)
    is only what production does when it is on."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = on")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")


@pytest.fixture(scope="session")
def demo_clinic(django_db_setup, django_db_blocker) -> Iterator[DemoClinic]:
    """The demo clinic as `make demo` seeds it (DEMO_PATIENTS patients), seeded once per
    test session, in the early afternoon of its time zone (in force while the demo tests
    run): seeding costs about 20 s of CPU, and a dozen tests need it. It lives in a
    transaction rolled back at the end of the session; each test runs in a savepoint of
    it, so what one test changes the next does not see. Its tests run last (above)."""
    from django.db import transaction
    from django.test import override_settings

    from openkap.demo import seed_demo

    zone = zone_in_early_afternoon()
    with django_db_blocker.unblock(), override_settings(TIME_ZONE=zone), transaction.atomic():
        yield DemoClinic(seed_demo(patients=DEMO_PATIENTS), zone)
        transaction.set_rollback(True)


def require_tool(path: str, apt_package: str) -> str:
    """The path of an external program a test needs: skipped locally when it is missing,
    a failure under CI=true (CI installs it; a skip there would hide a lost check)."""
    found = shutil.which(path)
    if found:
        return found
    message = f"{path} is missing (apt-get install {apt_package})"
    if os.environ.get("CI"):
        pytest.fail(message + ": CI must install it")
    pytest.skip(message)


# Django is imported inside the fixtures so that tests/core runs without Django
# (pytest -p no:django tests/core).

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in English: a request activates its reader's language on the
    thread (a server's next request activates its own), and a Spanish portal page must
    not leave words Spanish for the next test's code outside a request."""
    yield
    from django.conf import settings

    if settings.configured:  # the core phase runs without Django
        from django.utils import translation

        translation.deactivate()


def make_user(email: str, name: str, org: Organization, *roles: Role, **membership: str) -> User:
    from openkap.accounts.models import Membership, User

    user = User(email=email, full_name=name)
    user.set_password(PASSWORD)
    user.totp_secret = "JBSWY3DPEHPK3PXP"
    user.save()
    for role in roles:
        Membership.objects.create(organization=org, user=user, role=role, **membership)
    return user


# The cast, as plain functions: the fixtures below make each member when a test asks for it;
# a module that makes the whole cast once (tests/test_url_authorization.py) calls them too.


def make_org(name: str = "Test KAP Clinic", slug: str = "test", mrn_prefix: str = "T") -> Organization:
    from openkap.accounts.models import Organization

    return Organization.objects.create(name=name, slug=slug, mrn_prefix=mrn_prefix)


def make_other_org() -> Organization:
    return make_org("Other Clinic", "other", "O")


def make_therapist(org: Organization) -> User:
    return make_user("therapist@test.org", "Theo Therapist", org, Role.THERAPIST)


def make_nurse(org: Organization) -> User:
    return make_user("nurse@test.org", "Nell Nurse", org, Role.NURSE)


def make_prescriber(org: Organization) -> User:
    return make_user(
        "prescriber@test.org", "Dr. Pat Prescriber", org, Role.PRESCRIBER,
        licence_number="MD-1", licence_state="NY", npi="1234567893",
    )


def make_admin(org: Organization) -> User:
    return make_user("admin@test.org", "Ada Admin", org, Role.ADMIN)


def make_researcher(org: Organization) -> User:
    return make_user("researcher@test.org", "Rae Researcher", org, Role.RESEARCHER)


def make_outsider(other_org: Organization) -> User:
    return make_user("outsider@other.org", "Otto Outsider", other_org, Role.ADMIN, Role.PRESCRIBER)


def _with_name_keys(p: Patient) -> Patient:
    """Patients made here skip patient_create; give them the name search keys it writes."""
    from openkap.patients.models import PatientNameKey
    from openkap.patients.search_keys import name_keys_of

    PatientNameKey.objects.bulk_create(name_keys_of([p]))
    return p


def make_patient(org: Organization, therapist: User, prescriber: User) -> Patient:
    from openkap.patients.models import CareTeamMember, Patient

    p = Patient.objects.create(
        organization=org, mrn="T00000018", legal_given_name="Maya", legal_family_name="Lindqvist",
        date_of_birth=date(1988, 4, 12), sex_at_birth="female", search_name="maya lindqvist",
        allergies="NKDA",
    )
    _with_name_keys(p)
    CareTeamMember.objects.create(organization=org, patient=p, user=therapist, role=Role.THERAPIST)
    CareTeamMember.objects.create(organization=org, patient=p, user=prescriber, role=Role.PRESCRIBER)
    return p


def make_unassigned_patient(org: Organization) -> Patient:
    from openkap.patients.models import Patient

    return _with_name_keys(Patient.objects.create(
        organization=org, mrn="T00000026", legal_given_name="Noah", legal_family_name="Quist",
        date_of_birth=date(1975, 9, 3), sex_at_birth="male", search_name="noah quist",
    ))


@pytest.fixture
def org(db) -> Organization:
    return make_org()


@pytest.fixture
def other_org(db) -> Organization:
    return make_other_org()


@pytest.fixture
def site(org) -> Site:
    from openkap.accounts.models import Site

    return Site.objects.create(
        organization=org, name="Main", address_line1="1 Main St", city="Albany", state="NY",
        postal_code="12207", dea_registration="AB1234563",
    )


@pytest.fixture
def room(org, site) -> Room:
    from openkap.accounts.models import Room

    return Room.objects.create(organization=org, site=site, name="Medicine room 1")


@pytest.fixture
def therapist(org) -> User:
    return make_therapist(org)


@pytest.fixture
def nurse(org) -> User:
    return make_nurse(org)


@pytest.fixture
def prescriber(org) -> User:
    return make_prescriber(org)


@pytest.fixture
def admin(org) -> User:
    return make_admin(org)


@pytest.fixture
def researcher(org) -> User:
    return make_researcher(org)


@pytest.fixture
def outsider(other_org) -> User:
    """An admin and prescriber of another organisation: broad powers, wrong tenant."""
    return make_outsider(other_org)


@pytest.fixture
def patient(org, therapist, prescriber) -> Patient:
    return make_patient(org, therapist, prescriber)


@pytest.fixture
def unassigned_patient(org) -> Patient:
    """A patient of the same clinic with nobody from the cast on the care team."""
    return make_unassigned_patient(org)


@pytest.fixture
def other_patient(other_org) -> Patient:
    from openkap.patients.models import Patient

    return _with_name_keys(Patient.objects.create(
        organization=other_org, mrn="O00000018", legal_given_name="Olive", legal_family_name="Other",
        date_of_birth=date(1990, 1, 1), sex_at_birth="female", search_name="olive other",
    ))


def actor(user: User, org: Organization) -> Actor:
    from openkap.accounts.authz import build_actor

    return build_actor(user, org, ip="127.0.0.1", user_agent="pytest")


@pytest.fixture
def as_actor():
    return actor


def signed_in(user: User) -> Client:
    """A client past password and TOTP (the MFA flow itself is tested on its own): Django's
    login() into a new session, marked as past MFA before its one save. (Client.force_login
    and then the mark wrote an empty session, the login, read it back and wrote it again:
    thousands of times a run.)"""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import login
    from django.http import HttpRequest
    from django.test import Client

    from openkap.accounts.middleware import SESSION_MFA_KEY

    backend = "openkap.accounts.backends.EmailBackend"
    user.backend = backend  # as force_login leaves it
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    login(request, user, backend)
    request.session[SESSION_MFA_KEY] = True
    request.session.save()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = request.session.session_key
    return client


@pytest.fixture
def client_for():
    return signed_in
