"""The number beside Today (hand-offs and open tasks waiting for the actor) is kept in the
session for NAV_COUNT_SECONDS (ADR 0088): other pages show the kept number, the Today page
and the first page after the actor's own write count again, and a page that does not show
the navigation (an htmx partial) does not count at all."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from openkap.web import context
from openkap.web.context import NAV_COUNT_KEY, NAV_COUNT_SECONDS

pytestmark = pytest.mark.django_db

BADGE = re.compile(r'data-testid="nav-count"[^>]*>(\d+)</span>')


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """The results of every real count the navigation asks for, in order."""
    calls: list[int] = []
    real = context.waiting_count

    def counting(actor):
        calls.append(real(actor))
        return calls[-1]

    monkeypatch.setattr(context, "waiting_count", counting)
    return calls


def _badge(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200
    found = BADGE.findall(response.content.decode())
    return int(found[0]) if found else 0


def _task_for(user, org, patient, as_actor) -> None:
    from openkap.tasks.services import task_create

    task_create(by=as_actor(user, org), organization=org, kind="integration_due", patient=patient,
                title="Integration session overdue", assignee_ids=[user.id])


def _age(client, seconds: int) -> None:
    session = client.session
    org_id, at, count = session[NAV_COUNT_KEY]
    session[NAV_COUNT_KEY] = [org_id, at - seconds, count]
    session.save()


def test_other_pages_show_the_kept_number_until_it_is_old(therapist, org, patient, as_actor, client_for, counted):
    client = client_for(therapist)
    chart = reverse("patients:chart", args=[patient.id])
    assert _badge(client, chart) == 0
    _task_for(therapist, org, patient, as_actor)
    # Another clinician's hand-off (here a task) shows within NAV_COUNT_SECONDS, not at once.
    assert _badge(client, chart) == 0
    assert _badge(client, reverse("patients:list")) == 0
    assert counted == [0]
    _age(client, NAV_COUNT_SECONDS - 2)
    assert _badge(client, chart) == 0
    _age(client, 2)
    assert _badge(client, chart) == 1
    assert counted == [0, 1]


def test_the_today_page_always_counts(therapist, org, patient, as_actor, client_for, counted):
    client = client_for(therapist)
    assert _badge(client, reverse("patients:list")) == 0
    _task_for(therapist, org, patient, as_actor)
    assert _badge(client, "/") == 1
    # ...and keeps what it counted for the pages after it.
    assert _badge(client, reverse("patients:list")) == 1
    assert counted == [0, 1]


def test_the_actors_own_write_counts_again(therapist, org, patient, as_actor, client_for, counted):
    client = client_for(therapist)
    chart = reverse("patients:chart", args=[patient.id])
    assert _badge(client, chart) == 0
    _task_for(therapist, org, patient, as_actor)
    # Any POST of the signed-in user, even one refused for its input, forgets the number:
    # the chart shown again with the form's errors counts afresh.
    response = client.post(reverse("patients:weight_add", args=[patient.id]), {"weight": ""})
    assert response.status_code == 422
    assert BADGE.findall(response.content.decode()) == ["1"]
    assert _badge(client, chart) == 1
    assert counted == [0, 1]


def test_another_organisation_is_counted_for_itself(therapist, org, client_for, counted):
    client = client_for(therapist)
    client.get(reverse("patients:list"))
    session = client.session
    session[NAV_COUNT_KEY] = [org.id + 1000, session[NAV_COUNT_KEY][1], 7]  # kept for another organisation
    session.save()
    assert _badge(client, reverse("patients:list")) == 0
    assert counted == [0, 0]


def test_a_partial_without_the_navigation_does_not_count(nurse, site, client_for, counted):
    client = client_for(nurse)
    response = client.get(reverse("dosing:board", args=[site.id]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "main-nav" not in response.content.decode()
    assert counted == []
    assert NAV_COUNT_KEY not in client.session
