from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.pathway.helpers import walk


@pytest.fixture
def by_therapist(therapist, org, as_actor):
    return as_actor(therapist, org)


@pytest.fixture
def by_prescriber(prescriber, org, as_actor):
    return as_actor(prescriber, org)


@pytest.fixture
def walk_to(patient, therapist, prescriber, admin, org, as_actor):
    """``walk_to("planned")`` etc.: the fixture patient's episode, walked through the services."""

    def go(to: str = "ready"):
        return walk(patient, therapist=therapist, prescriber=prescriber, admin=admin, org=org,
                    as_actor=as_actor, to=to)

    return go


@pytest.fixture
def held_dosing(site, therapist):
    """A dosing session of the episode, held ``days_ago`` days ago."""
    from openkap.dosing.models import DosingSession

    def make(episode, days_ago: int = 2):
        when = timezone.now() - timedelta(days=days_ago)
        return DosingSession.objects.create(
            organization=episode.organization, patient=episode.patient, episode=episode, site=site,
            status=DosingSession.Status.DISCHARGED, scheduled_start=when, started_at=when,
            discharged_at=when + timedelta(hours=2), created_by=therapist,
        )

    return make
