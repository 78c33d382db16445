"""Issue 13, finding 3: sign-in security events were stored with no organisation, so a
clinic's admins could neither see nor export them."""

import csv
import io

from django.test import Client
from django.urls import reverse

from openkap.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD


def _login(email: str, password: str, ip: str):
    return Client().post(reverse("accounts:login"), {"email": email, "password": password}, REMOTE_ADDR=ip)


def test_sign_in_events_are_recorded_under_the_users_organisation(therapist, org):
    _login(therapist.email, "wrong", "10.0.0.7")
    _login(therapist.email, PASSWORD, "10.0.0.7")
    events = AuditEvent.objects.filter(actor_email=therapist.email,
                                       action__in=[AuditAction.LOGIN, AuditAction.LOGIN_FAILED])
    assert events.count() == 2
    assert set(events.values_list("organization_id", flat=True)) == {org.id}


def test_admins_see_failures_lockouts_and_new_addresses(therapist, admin, client_for, settings):
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    _login(therapist.email, "wrong", "203.0.113.5")
    _login(therapist.email, "wrong", "203.0.113.5")  # locks
    response = client_for(admin).get(reverse("audit:security"))
    assert response.status_code == 200
    html = response.content.decode()
    overview = response.context["overview"]
    row = next(u for u in overview.users if u.email == therapist.email)
    assert row.failures == 2
    assert row.locked
    assert [e.actor_email for e in overview.lockouts] == [therapist.email]
    assert "203.0.113.5" in html
    assert AuditEvent.objects.filter(object_type="security_overview", actor_id=admin.id).exists()


def test_security_events_export_as_csv(therapist, admin, client_for):
    _login(therapist.email, "wrong", "203.0.113.5")
    body = b"".join(client_for(admin).get(reverse("audit:security_export")).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["actor_email"], r["action"], r["why"]) for r in rows if r["action"] == "login_failed"] == [
        (therapist.email, "login_failed", "bad_credentials")
    ]


def test_another_organisations_admin_sees_none_of_it_and_others_are_refused(therapist, outsider, nurse, client_for):
    _login(therapist.email, "wrong", "203.0.113.5")
    response = client_for(outsider).get(reverse("audit:security"))
    if response.status_code == 200:
        assert therapist.email not in response.content.decode()
    assert client_for(nurse).get(reverse("audit:security")).status_code == 403
