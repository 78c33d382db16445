"""Patient portal access from the chart: invite (emailed single-use link), set a
password, status, send again, revoke; audited; web and API."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from openkap.accounts.authz import Denied
from openkap.accounts.models import Membership
from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.authz import Role
from openkap.patients import selectors, services
from openkap.patients.models import Patient, PortalInvitation

NEW_PASSWORD = "a long portal passphrase"


def _token(message) -> str:
    return re.search(r"/portal-invitation/([^/]+)/", message.body).group(1)


@pytest.fixture
def invited(patient, therapist, org, as_actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.portal_invite(by=as_actor(therapist, org), patient_id=patient.id, email="maya@example.org")
    return _token(mail.outbox[-1])


def test_invitation_emails_a_single_use_link_and_shows_invited(invited, patient, therapist, org, as_actor):
    assert mail.outbox[-1].to == ["maya@example.org"]
    assert "Maya" in mail.outbox[-1].body
    access = selectors.portal_access(by=as_actor(therapist, org), patient_id=patient.id)
    assert (access.status, access.email) == ("invited", "maya@example.org")
    # Only the hash is kept.
    assert not PortalInvitation.objects.filter(token_hash=invited).exists()
    assert AuditEvent.objects.filter(
        action=AuditAction.INVITE, object_type="portal_invitation", patient_id=patient.id
    ).exists()


def test_accepting_creates_the_patient_account_linked_to_the_chart(invited, patient, therapist, org, as_actor):
    user = services.portal_invitation_accept(token=invited, password=NEW_PASSWORD)
    patient.refresh_from_db()
    assert patient.user == user
    assert user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(user=user, organization=org).role == Role.PATIENT
    assert selectors.portal_access(by=as_actor(therapist, org), patient_id=patient.id).status == "active"
    # Single use.
    with pytest.raises(ValidationError):
        services.portal_invitation_accept(token=invited, password=NEW_PASSWORD)


def test_weak_password_is_refused_and_the_link_stays_usable(invited, patient):
    with pytest.raises(ValidationError) as exc:
        services.portal_invitation_accept(token=invited, password="12345678")
    assert "password" in exc.value.message_dict
    patient.refresh_from_db()
    assert patient.user is None
    services.portal_invitation_accept(token=invited, password=NEW_PASSWORD)


def test_sending_again_revokes_the_earlier_link(invited, patient, therapist, org, as_actor):
    services.portal_invite(by=as_actor(therapist, org), patient_id=patient.id, email="maya@example.org")
    with pytest.raises(ValidationError):
        services.portal_invitation_accept(token=invited, password=NEW_PASSWORD)
    assert AuditEvent.objects.filter(object_type="portal_invitation", detail__resent=True).exists()


def test_revoking_disables_the_account_and_a_new_link_restores_it(
    invited, patient, therapist, org, as_actor, django_capture_on_commit_callbacks
):
    user = services.portal_invitation_accept(token=invited, password=NEW_PASSWORD)
    by = as_actor(therapist, org)
    services.portal_revoke(by=by, patient_id=patient.id)
    assert selectors.portal_access(by=by, patient_id=patient.id).status == "disabled"
    assert not Membership.objects.get(user=user).is_active
    # A disabled patient's next click loses the portal.
    client = Client()
    client.force_login(user, backend="openkap.accounts.backends.EmailBackend")
    assert client.get(reverse("measures:portal")).status_code == 403
    # Restore: the link goes to the account's own address, whatever is typed.
    with django_capture_on_commit_callbacks(execute=True):
        services.portal_invite(by=by, patient_id=patient.id, email="someone@else.org")
    assert mail.outbox[-1].to == ["maya@example.org"]
    user = services.portal_invitation_accept(token=_token(mail.outbox[-1]), password="another long passphrase")
    assert selectors.portal_access(by=by, patient_id=patient.id).status == "active"
    # The new password ended the old session; signing in again opens the portal.
    assert client.get(reverse("measures:portal")).status_code == 302
    client.force_login(user, backend="openkap.accounts.backends.EmailBackend")
    assert client.get(reverse("measures:portal")).status_code == 200


def test_active_account_needs_no_invitation(invited, patient, therapist, org, as_actor):
    services.portal_invitation_accept(token=invited, password=NEW_PASSWORD)
    with pytest.raises(ValidationError) as exc:
        services.portal_invite(by=as_actor(therapist, org), patient_id=patient.id)
    assert "already has portal access" in exc.value.messages[0]


@pytest.mark.parametrize("email", ["", "not-an-email", "therapist@test.org"])
def test_bad_or_taken_address_is_refused_and_nothing_is_sent(email, patient, therapist, org, as_actor):
    with pytest.raises(ValidationError):
        services.portal_invite(by=as_actor(therapist, org), patient_id=patient.id, email=email)
    assert not PortalInvitation.objects.exists()
    assert mail.outbox == []


def test_outside_the_care_team_is_refused(unassigned_patient, therapist, org, as_actor):
    with pytest.raises(Denied):
        services.portal_invite(by=as_actor(therapist, org), patient_id=unassigned_patient.id, email="n@example.org")


def test_chart_offers_the_invitation_and_the_form_sends_it(patient, therapist, client_for):
    client = client_for(therapist)
    chart = client.get(reverse("patients:chart", args=[patient.id])).content.decode()
    assert "No portal access" in chart
    assert "Invite to the portal" in chart
    response = client.post(
        reverse("patients:portal_invite", args=[patient.id]), {"email": "maya@example.org"}, follow=True
    )
    text = response.content.decode()
    assert "Portal invitation emailed to maya@example.org" in text
    assert "Send the link again" in text
    assert "Withdraw the invitation" in text


def test_the_emailed_link_sets_the_password_then_the_patient_signs_in(invited, patient):
    client = Client()
    page = client.get(reverse("patients:portal_accept", args=[invited]))
    assert page.status_code == 200
    assert "Welcome, Maya" in page.content.decode()
    mismatch = client.post(
        reverse("patients:portal_accept", args=[invited]), {"password": NEW_PASSWORD, "password_again": "x"}
    )
    assert "The two passwords differ" in mismatch.content.decode()
    response = client.post(
        reverse("patients:portal_accept", args=[invited]),
        {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}, follow=True,
    )
    assert "Your portal account is ready" in response.content.decode()
    login = client.post(reverse("accounts:login"), {"email": "maya@example.org", "password": NEW_PASSWORD}, follow=True)
    home = login.content.decode()
    # MFA is offered, not forced, to patients.
    assert "Protect your account (optional)" in home
    assert client.get(reverse("measures:portal")).status_code == 200
    assert client.get(reverse("patients:portal_accept", args=[invited])).status_code == 410


def test_patient_who_enrolled_mfa_is_asked_for_the_code(invited, patient):
    user = services.portal_invitation_accept(token=invited, password=NEW_PASSWORD)
    from django.utils import timezone

    user.totp_secret = "JBSWY3DPEHPK3PXP"
    user.totp_confirmed_at = timezone.now()
    user.save()
    client = Client()
    client.post(reverse("accounts:login"), {"email": "maya@example.org", "password": NEW_PASSWORD})
    assert client.get(reverse("measures:portal")).url.startswith(reverse("accounts:mfa_verify"))


def test_api_invite_status_and_revoke(patient, therapist, org, as_actor):
    from openkap.accounts import services as account_services

    _, raw = account_services.api_token_create(by=as_actor(therapist, org), name="t")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    client = Client()
    base = f"/api/v1/patients/{patient.id}/portal-access"
    assert client.get(base, **headers).json()["status"] == "none"
    bad = client.post(f"{base}/invitations", {"email": "nope"}, content_type="application/json", **headers)
    assert bad.status_code == 422
    assert "email" in bad.json()["errors"]
    ok = client.post(f"{base}/invitations", {"email": "maya@example.org"}, content_type="application/json", **headers)
    assert ok.status_code == 201
    assert ok.json()["status"] == "invited"
    revoked = client.post(f"{base}/revoke", content_type="application/json", **headers)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "none"
    assert client.post(f"{base}/revoke", content_type="application/json", **headers).status_code == 422
    assert Patient.objects.get(pk=patient.pk).user is None
