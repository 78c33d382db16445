"""The idle time-out's clock (WCAG 2.2.1): the page asks how long is left without that
counting as activity, and the person can choose to stay (issue 20)."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from openkap.accounts.middleware import SESSION_ACTIVITY_KEY

URL = "/accounts/session/"
BACKGROUND = {"HTTP_X_BACKGROUND_REFRESH": "1"}


def _set_last_activity(client: Client, seconds_ago: int) -> None:
    session = client.session
    session[SESSION_ACTIVITY_KEY] = int(time.time()) - seconds_ago
    session.save()


def test_session_status_anonymous_says_signed_out():
    response = Client().get(URL, **BACKGROUND)
    assert response.json() == {"signed_in": False, "remaining": 0}


@pytest.mark.django_db
def test_session_status_reading_the_clock_is_not_activity(client_for, nurse, settings):
    settings.IDLE_TIMEOUT_SECONDS = 900
    client = client_for(nurse)
    _set_last_activity(client, 600)
    first = client.get(URL, **BACKGROUND).json()
    assert first["signed_in"] is True
    assert 200 < first["remaining"] <= 300  # not restarted to 900 (slack for a slow machine)
    # Asking again does not restart the clock.
    assert client.get(URL, **BACKGROUND).json()["remaining"] <= first["remaining"]


@pytest.mark.django_db
def test_session_status_post_is_the_person_choosing_to_stay(client_for, nurse, settings):
    settings.IDLE_TIMEOUT_SECONDS = 900
    client = client_for(nurse)
    _set_last_activity(client, 880)
    assert client.post(URL, **BACKGROUND).json()["remaining"] > 800


@pytest.mark.django_db
def test_session_status_after_the_timeout_signs_out(client_for, nurse, settings):
    settings.IDLE_TIMEOUT_SECONDS = 900
    client = client_for(nurse)
    _set_last_activity(client, 901)
    response = client.get(URL, **BACKGROUND)
    assert response.status_code == 302  # the page's script treats the redirect as signed out
    assert client.get(URL, **BACKGROUND).json()["signed_in"] is False


@pytest.mark.django_db
def test_signed_in_pages_warn_instead_of_refreshing(client_for, nurse):
    html = client_for(nurse).get("/").content.decode()
    assert 'id="timeout-warning"' in html
    assert 'data-idle-timeout="' in html
    # The no-JavaScript fallback keeps clearing the page, hidden from script-enabled browsers.
    head = html.split("</head>")[0]
    assert head.count('http-equiv="refresh"') == 1
    assert '<noscript><meta http-equiv="refresh"' in head
