"""Who a request acts as is read afresh on every request (ADR 0112): the user and their
active memberships in one read, and nothing kept between requests. A change to the user,
their password, a membership, a role, the chosen organisation or MFA takes effect on the
very next request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from openkap.accounts.backends import EmailBackend
from openkap.accounts.middleware import SESSION_MFA_KEY
from openkap.accounts.models import Membership
from openkap.core.authz import Role
from tests.conftest import make_org, make_user, signed_in

pytestmark = pytest.mark.django_db

PAGE = "/patients/"  # needs a staff role with PATIENT_VIEW
AUDIT_LOG = "/admin/audit/"  # needs AUDIT_VIEW: the admin's, not the nurse's


def _redirect(response) -> str:
    assert response.status_code == 302
    return response["Location"]


def _who(response) -> str:
    return response.context["actor"] and response.context["actor"].organization.name


def test_the_user_and_its_memberships_are_one_read(nurse):
    with CaptureQueriesContext(connection) as captured:
        user = EmailBackend().get_user(nurse.pk)
    assert user == nurse
    assert len(captured) == 1
    assert "accounts_membership" in captured[0]["sql"]
    client = signed_in(nurse)
    client.get(PAGE)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(PAGE).status_code == 200
    reads = [q["sql"] for q in captured if '"accounts_user"' in q["sql"] or '"accounts_membership"' in q["sql"]]
    assert len(reads) == 1, reads


def test_a_user_without_memberships_is_still_loaded(org):
    loner = make_user("loner@test.org", "Lone User", org)
    user = EmailBackend().get_user(loner.pk)
    assert user == loner
    assert not user.memberships.filter(is_active=True).exists()
    assert EmailBackend().get_user(0) is None


def test_a_deactivated_user_is_signed_out_on_the_next_request(nurse):
    client = signed_in(nurse)
    assert client.get(PAGE).status_code == 200
    type(nurse).objects.filter(pk=nurse.pk).update(is_active=False)
    assert "/accounts/login/" in _redirect(client.get(PAGE))


def test_a_changed_password_ends_other_sessions_on_their_next_request(nurse):
    client = signed_in(nurse)
    assert client.get(PAGE).status_code == 200
    nurse.set_password("a quite different passphrase")
    nurse.save()
    assert "/accounts/login/" in _redirect(client.get(PAGE))


def test_a_removed_membership_counts_on_the_next_request(nurse):
    client = signed_in(nurse)
    assert client.get(PAGE).status_code == 200
    Membership.objects.filter(user=nurse).update(is_active=False)
    assert client.get(PAGE).status_code == 403


def test_a_revoked_role_counts_on_the_next_request(org, nurse):
    Membership.objects.create(organization=org, user=nurse, role=Role.ADMIN)
    client = signed_in(nurse)
    assert client.get(AUDIT_LOG).status_code == 200
    Membership.objects.filter(user=nurse, role=Role.ADMIN).delete()
    assert client.get(AUDIT_LOG).status_code == 403
    assert client.get(PAGE).status_code == 200  # the nurse's role stays


def test_a_granted_role_counts_on_the_next_request(org, nurse):
    client = signed_in(nurse)
    assert client.get(AUDIT_LOG).status_code == 403
    Membership.objects.create(organization=org, user=nurse, role=Role.ADMIN)
    assert client.get(AUDIT_LOG).status_code == 200


def test_an_organisation_switch_counts_on_the_next_request(org, nurse):
    second = make_org("Zeta Clinic", "zeta", "Z")  # after the first by name: not the default
    Membership.objects.create(organization=second, user=nurse, role=Role.NURSE)
    client = signed_in(nurse)
    assert _who(client.get(PAGE)) == org.name
    client.post("/accounts/organization/", {"organization": str(second.id)})
    assert _who(client.get(PAGE)) == second.name
    # Losing the chosen organisation falls back to the other one at once.
    Membership.objects.filter(user=nurse, organization=second).update(is_active=False)
    assert _who(client.get(PAGE)) == org.name


def test_mfa_state_counts_on_the_next_request(nurse):
    nurse.totp_confirmed_at = timezone.now()
    nurse.save()
    client = signed_in(nurse)
    assert client.get(PAGE).status_code == 200
    session = client.session
    session[SESSION_MFA_KEY] = False
    session.save()
    assert _redirect(client.get(PAGE)).endswith("/accounts/mfa/verify/")
    type(nurse).objects.filter(pk=nurse.pk).update(totp_confirmed_at=None)
    assert _redirect(client.get(PAGE)).endswith("/accounts/mfa/setup/")


def test_an_expired_or_deleted_session_is_signed_out_on_the_next_request(nurse):
    from django.contrib.sessions.models import Session

    client = signed_in(nurse)
    assert client.get(PAGE).status_code == 200
    key = client.cookies["sessionid"].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now())
    assert "/accounts/login/" in _redirect(client.get(PAGE))
    client = signed_in(nurse)
    Session.objects.filter(session_key=client.cookies["sessionid"].value).delete()
    assert "/accounts/login/" in _redirect(client.get(PAGE))
