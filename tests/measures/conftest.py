from __future__ import annotations

import pytest

from tests.measures.factories import open_episode


@pytest.fixture
def episode(patient, therapist):
    return open_episode(patient, therapist, days_ago=20)


@pytest.fixture
def portal_user(org, patient):
    """The patient's own portal account (patients have no MFA)."""
    from openkap.core.authz import Role
    from tests.conftest import make_user

    user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.save(update_fields=["user"])
    return user


@pytest.fixture
def dosing_session(org, patient, episode, site, therapist):
    from datetime import timedelta

    from django.utils import timezone

    from openkap.dosing.models import DosingSession

    return DosingSession.objects.create(
        organization=org, patient=patient, episode=episode, site=site,
        scheduled_start=timezone.now() + timedelta(days=2), created_by=therapist,
    )
