"""The demo clinic's dosing sessions agree with its calendar, whatever the hour it is
seeded at (``make demo`` runs in New York at any time; the browser tests in the early
afternoon): every session was booked through the booking service, at a round clinic
time, in a medicine room and with a nurse of its own, and the held ones are completed.
The clock is moved by patching ``timezone.now`` (and the model defaults that hold the
real function), so the services and the seeders see the same fake time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from itertools import combinations
from unittest import mock
from zoneinfo import ZoneInfo

from django.apps import apps
from django.test import override_settings
from django.utils import timezone

from openkap.accounts.authz import build_actor
from openkap.accounts.models import Membership, Site, User
from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.authz import Role
from openkap.demo import seed_demo
from openkap.dosing.models import Discharge, DosingSession
from openkap.dosing.selectors import board
from openkap.scheduling.models import Appointment, AppointmentKind
from tests.conftest import DEMO_PATIENTS

NEW_YORK = ZoneInfo("America/New_York")
# A Wednesday, so that the demo's past week and the schedule's weekdays both fall in.
DAY = date(2026, 11, 18)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Time runs on from ``moment`` for everything that asks ``timezone.now``."""
    real = timezone.now
    offset = moment - real()

    def fake() -> datetime:
        return real() + offset

    defaults = [f for model in apps.get_models() for f in model._meta.fields if f.default is real]

    def use(default: object) -> None:
        for f in defaults:
            f.default = default
            f.__dict__.pop("_get_default", None)  # a field caches its default callable

    use(fake)
    try:
        with mock.patch.object(timezone, "now", fake):
            yield
    finally:
        use(real)


def _local(moment: datetime) -> datetime:
    return timezone.localtime(moment)  # in the clinic's zone (TIME_ZONE)


def _check_calendar_agrees() -> None:
    sessions = list(DosingSession.objects.select_related("appointment", "room"))
    assert sessions
    for s in sessions:
        a = s.appointment  # every session was booked with its appointment
        assert (a.kind, a.start, a.site_id, a.room_id, a.patient_id) == (
            AppointmentKind.DOSING, s.scheduled_start, s.site_id, s.room_id, s.patient_id,
        )
        start = _local(a.start)
        assert start.minute in (0, 30), start
        assert time(7, 0) <= start.time() <= time(18, 0), start
        assert s.room.kind == "dosing"
        monitors = [p.user_id for p in a.participants.all() if p.role == "monitor"]
        assert len(monitors) == 1
        assert Membership.objects.filter(user_id=monitors[0], role=Role.NURSE).exists()
        expected = {
            DosingSession.Status.DISCHARGED: Appointment.Status.COMPLETED,
            DosingSession.Status.SCHEDULED: Appointment.Status.BOOKED,
            DosingSession.Status.CHECKED_IN: Appointment.Status.BOOKED,
            DosingSession.Status.MONITORING: Appointment.Status.BOOKED,
        }
        assert a.status == expected[s.status], (s.status, a.status)
        if s.status == DosingSession.Status.DISCHARGED:
            assert a.end <= timezone.now()
    booked = list(Appointment.objects.exclude(status=Appointment.Status.CANCELLED).prefetch_related("participants"))
    for a, b in combinations(booked, 2):
        if a.start < b.end and b.start < a.end:
            assert a.patient_id != b.patient_id, (a, b)
            assert a.room_id is None or a.room_id != b.room_id, (a, b)
            assert not {p.user_id for p in a.participants.all()} & {p.user_id for p in b.participants.all()}, (a, b)


def _brooklyn_board():
    site = Site.objects.get(name="Brooklyn")
    nurse = User.objects.get(email="nurse@demo.openkap.org")
    return board(by=build_actor(nurse, site.organization), site_id=site.id)


@contextmanager
def _seeded_at(hour: int, minute: int):
    moment = datetime.combine(DAY, time(hour, minute), NEW_YORK)
    with override_settings(TIME_ZONE="America/New_York"), clock_at(moment):
        assert seed_demo(patients=DEMO_PATIENTS).created_patients == DEMO_PATIENTS  # a clinic of its own
        _check_calendar_agrees()
        yield _brooklyn_board()


def test_seeded_in_the_early_afternoon_the_board_has_its_stories_and_the_calendar_agrees(demo_clinic, db):
    """The session's shared demo clinic, seeded at 13:xx of its zone (seeding it again
    adds nothing: tests/test_settings_and_cli.py checks every table)."""
    _check_calendar_agrees()
    shown = _brooklyn_board()
    stages = sorted(row.stage for row in shown.rows)
    assert stages == ["monitor", "order"]
    monitoring = next(row for row in shown.rows if row.stage == "monitor")
    assert [a.measure for a in monitoring.open_alarms] == ["systolic"]
    assert monitoring.overdue
    assert [(_local(a.session.scheduled_start).time(), a.route_label.split()[0]) for a in shown.arriving] == [
        (time(8, 30), "Intramuscular"), (time(9, 0), "Intranasal"),
    ]
    # Two at a time share neither room nor nurse; this morning's arrivals are still booked.
    today = [r.session for r in shown.rows] + [a.session for a in shown.arriving]
    assert all(s.appointment.status == Appointment.Status.BOOKED for s in today)
    # The week's held sessions were discharged through the dosing services, which completed them.
    discharged = Discharge.objects.filter(session__scheduled_start__gte=timezone.now() - timedelta(days=7))
    assert discharged.count() == 4
    for d in discharged:
        event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_type="appointment",
                                       object_id=str(d.session.appointment.id))
        assert event.detail["on"] == "discharge"
    # Held sessions were booked afterwards, as late entries, and the audit log says so.
    late = set(AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="appointment",
                                         detail__late_entry=True).values_list("object_id", flat=True))
    held = DosingSession.objects.filter(status=DosingSession.Status.DISCHARGED).select_related("appointment")
    assert {str(s.appointment.id) for s in held} <= late


def test_seeded_after_midnight_nothing_has_begun_and_four_are_booked_for_today(db):
    with _seeded_at(0, 30) as shown:
        assert shown.rows == []
        assert len(shown.arriving) == 4
        assert all(a.session.scheduled_start > timezone.now() for a in shown.arriving)


def test_seeded_just_after_opening_one_is_checked_in_and_the_rest_arrive_later(db):
    with _seeded_at(7, 15) as shown:
        assert [(row.stage, _local(row.session.started_at).time()) for row in shown.rows] == [("order", time(7, 0))]
        assert len(shown.arriving) == 3


def test_seeded_late_in_the_evening_the_stories_keep_to_clinic_hours(db):
    with _seeded_at(23, 50) as shown:
        assert sorted(row.stage for row in shown.rows) == ["monitor", "order"]
        assert {_local(row.session.started_at).time() for row in shown.rows} == {time(18, 0)}
        assert len(shown.arriving) == 2
