"""Issue 13, findings 2 and 7: behind the recommended TLS proxy every client had the
proxy's address, so 20 failed logins with unknown emails locked the whole clinic out;
and an unknown email was never "locked", so the message revealed which accounts exist."""

import re

from django.test import Client, override_settings
from django.urls import reverse

from openkap.accounts import services
from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.netaddr import parse_networks
from tests.conftest import PASSWORD

NGINX = "127.0.0.1"


def _wait(html: str) -> int:
    return int(re.search(r"Wait (\d+) seconds", html).group(1))
THROTTLE = {
    "LOGIN_MAX_FAILURES_PER_IP": 20,
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 100,
    "LOGIN_BACKOFF_BASE_SECONDS": 600,  # long enough that no test depends on the clock
    "TRUSTED_PROXIES": parse_networks([NGINX]),
}


def _login(email: str, password: str, *, forwarded_for: str, client: Client | None = None):
    return (client or Client()).post(
        reverse("accounts:login"), {"email": email, "password": password},
        REMOTE_ADDR=NGINX, HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@override_settings(**THROTTLE)
def test_an_attacker_behind_the_proxy_does_not_lock_out_the_clinic(therapist, nurse):
    for i in range(25):
        _login(f"guess{i}@test.org", "x", forwarded_for="203.0.113.66")
    # The attacker's address now waits ...
    response = _login("guess99@test.org", "x", forwarded_for="203.0.113.66")
    assert "Wait" in response.content.decode()
    # ... while the clinic, behind the same proxy, signs in.
    assert _login(nurse.email, PASSWORD, forwarded_for="198.51.100.10").status_code == 302
    events = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED)
    assert set(events.values_list("ip", flat=True)) == {"203.0.113.66"}


@override_settings(**THROTTLE)
def test_a_forged_forwarded_header_from_an_untrusted_peer_is_ignored(therapist):
    Client().post(reverse("accounts:login"), {"email": therapist.email, "password": "x"},
                  REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR="198.51.100.10")
    assert AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED).ip == "203.0.113.66"


@override_settings(**THROTTLE)
def test_staff_who_signed_in_from_a_shared_address_are_not_held_up_by_it(therapist, nurse):
    """One machine in the clinic guessing: the shared address backs off for new
    accounts, and staff known at that address still sign in."""
    assert _login(nurse.email, PASSWORD, forwarded_for="198.51.100.10").status_code == 302
    for i in range(25):
        _login(f"guess{i}@test.org", "x", forwarded_for="198.51.100.10")
    assert _login(nurse.email, PASSWORD, forwarded_for="198.51.100.10").status_code == 302
    response = _login(therapist.email, PASSWORD, forwarded_for="198.51.100.10")
    assert "Wait" in response.content.decode()


@override_settings(**{**THROTTLE, "LOGIN_MAX_FAILURES_PER_IP": 3})
def test_attempts_refused_while_waiting_are_audited_but_do_not_lengthen_the_wait(db):
    for i in range(3):
        _login(f"guess{i}@test.org", "x", forwarded_for="203.0.113.66")
    first = _login("a@test.org", "x", forwarded_for="203.0.113.66").content.decode()
    for _ in range(5):
        again = _login("a@test.org", "x", forwarded_for="203.0.113.66").content.decode()
    # Still the wait of the 3rd failure (600 s), not one doubled by each refused try.
    assert 500 < _wait(first) <= 600
    assert 500 < _wait(again) <= 600
    assert AuditEvent.objects.filter(detail__why="ip_backoff").count() == 6


@override_settings(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_MAX_FAILURES_PER_IP=100)
def test_the_lock_out_message_does_not_reveal_whether_an_account_exists(therapist):
    def messages(email: str) -> list[str]:
        client = Client()
        out = []
        for _ in range(4):
            html = client.post(reverse("accounts:login"), {"email": email, "password": "wrong"}).content.decode()
            out.append(services.LOCKED_MESSAGE in html)
        return out

    assert messages(therapist.email) == messages("nobody-here@test.org") == [False, False, True, True]
