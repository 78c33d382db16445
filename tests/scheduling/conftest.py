"""Scheduling fixtures: rooms, times in the clinic's zone, an open episode, and a
switch that meets every pathway guard (the pathway app's records are not needed)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from openkap.core.pathway.episode import EpisodeSnapshot, State
from openkap.core.routes import Route


def at(days: int, hour: int, minute: int = 0) -> datetime:
    """A time in the clinic's time zone, ``days`` from today."""
    day = timezone.localdate() + timedelta(days=days)
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def prep(patient, room, lead, start, **extra):
    """The fields of a preparation session booking."""
    return {
        "patient_id": patient.id, "kind": "preparation", "start": start,
        "room_id": room.id, "participants": [(lead.id, "lead")], **extra,
    }


def dosing(patient, room, monitor, start, **extra):
    """The fields of a dosing session booking, with its monitoring clinician."""
    return {
        "patient_id": patient.id, "kind": "dosing", "start": start, "room_id": room.id,
        "participants": [(monitor.id, "monitor")], **extra,
    }


@pytest.fixture
def therapy_room(org, site):
    from openkap.accounts.models import Room

    return Room.objects.create(organization=org, site=site, name="Therapy room A", kind=Room.Kind.THERAPY)


@pytest.fixture
def dosing_room(room):
    return room  # the cast's room is a medicine session room


@pytest.fixture
def second_dosing_room(org, site):
    from openkap.accounts.models import Room

    return Room.objects.create(organization=org, site=site, name="Medicine room 2", kind=Room.Kind.DOSING)


@pytest.fixture
def episode(patient, therapist, org, as_actor):
    from openkap.pathway.services import episode_open

    return episode_open(by=as_actor(therapist, org), patient_id=patient.id)


@pytest.fixture
def guards_met(monkeypatch, episode):
    """Every booking guard met, on an intranasal esketamine plan (120 min monitoring)."""
    from openkap.pathway import selectors

    monkeypatch.setattr(selectors, "dosing_booking_unmet", lambda ep: [])
    monkeypatch.setattr(
        selectors, "episode_snapshot",
        lambda ep: EpisodeSnapshot(
            state=State.PREPARATION, plan_route=Route.INTRANASAL_ESKETAMINE,
            plan_protocol_id="intranasal-esketamine-spravato",
        ),
    )
    return episode


@pytest.fixture
def book(as_actor, org):
    """Book as a member of the cast: book(user, **fields)."""
    from openkap.scheduling import services

    def _book(user, **fields):
        return services.appointment_book(by=as_actor(user, org), **fields)

    return _book
