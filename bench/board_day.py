"""A busy day on one site's monitoring board, for bench/pages.py (not the demo's `make demo`).

The demo's board has at most a session or two on it, and none at the second site, so the
bench's board measured a nearly empty page. This step gives the second site
(Hudson Valley) what a nurse's board shows on a busy morning, relative to now:

- recovering: dosed 100 minutes ago, every vitals check recorded, no alarm;
- monitoring: dosed 50 minutes ago, the +30 blood pressure high (its alarm open), the
  +45 check overdue;
- being dosed: esketamine, checked in 40 minutes ago, two devices given;
- waiting for the dose order: checked in 15 minutes ago, the checklist done;
- arriving: two patients booked later today (when the day has room for them).

Everything goes through the services (booking, check-in, checklist, order, preparation,
two-person check, administration, vitals), with the demo's story helpers; the monitors
are five bench nurses invited for it, in two more medicine rooms. Idempotent: once today's sessions exist nothing
is added; a bench day left active from an earlier day is closed first (discharged, or
ended without a dose), so the board never accumulates. Fresh patients (no episode yet)
are used each day.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

BENCH_NURSES = [f"bench-monitor-{n}@demo.openkap.org" for n in range(1, 6)]
USER_AGENT = "bench-board-day"


def _monitors(admin: Any, password: str) -> list[Any]:
    from openkap.accounts.models import User
    from openkap.accounts.services import invitation_accept, staff_invite

    users = []
    for n, email in enumerate(BENCH_NURSES, 1):
        user = User.objects.filter(email=email, memberships__organization=admin.organization).first()
        if user is None:
            _invitation, token = staff_invite(by=admin, email=email, full_name=f"Bench Monitor {n}", role="nurse")
            user = invitation_accept(token=token, password=password)
        users.append(user)
    return users


def _close_earlier_days(site: Any, cast: Any, today_start: datetime, password: str) -> None:
    """A bench day still on the board from an earlier day is ended through the services."""
    from openkap.dosing import services
    from openkap.dosing.models import ACTIVE_STATUSES, DosingSession

    stale = DosingSession.objects.filter(site=site, status__in=ACTIVE_STATUSES, started_at__lt=today_start,
                                         checked_in_by__email__in=BENCH_NURSES)
    for session in stale.select_related("episode"):
        if session.administration_started_at is None:
            services.session_end_without_dose(by=cast.nurse, session_id=session.id,
                                              reason="Bench day ended (bench/board_day.py).")
            continue
        arrangements = session.episode.arrangements
        services.session_discharge(
            by=cast.nurse, session_id=session.id, password=password, alert_and_oriented=True, ambulating=True,
            nausea_controlled=True, escort_present=True, escort_name=arrangements.escort_name,
            escort_phone=arrangements.escort_phone,
        )


def seed_board_day(org: Any) -> int:
    """Add today's busy board at the organisation's second site (all or nothing); returns
    its site id."""
    from django.db import transaction

    with transaction.atomic():
        return _seed(org)


def _seed(org: Any) -> int:
    from django.utils import timezone

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Room, Site, User
    from openkap.accounts.selectors import DEMO_PASSWORD
    from openkap.accounts.services import room_create
    from openkap.core.authz import Role
    from openkap.core.routes import Route
    from openkap.dosing import demo as story
    from openkap.dosing import services
    from openkap.dosing.models import DosingSession
    from openkap.patients.models import Patient
    from openkap.scheduling import demo as scheduling_demo

    site = Site.objects.filter(organization=org, is_active=True).order_by("id")[1]
    now = timezone.now()
    day_start = timezone.make_aware(datetime.combine(timezone.localdate(), datetime.min.time()))
    mine = DosingSession.objects.filter(site=site, scheduled_start__gte=day_start,
                                        scheduled_start__lt=day_start + timedelta(days=1),
                                        appointment__participants__user__email__in=BENCH_NURSES)
    if mine.exists():
        return site.id

    def actor(role: str) -> Any:
        user = User.objects.filter(memberships__organization=org, memberships__role=role,
                                   email__endswith="@demo.openkap.org").exclude(email__in=BENCH_NURSES)
        return build_actor(user.order_by("id").first(), org, user_agent=USER_AGENT)

    admin = actor(Role.ADMIN)
    monitors = _monitors(admin, DEMO_PASSWORD)
    cast = story._Cast(nurse=actor(Role.NURSE), prescriber=actor(Role.PRESCRIBER), therapist=actor(Role.THERAPIST),
                       admin=admin, monitors=monitors)
    cast.nurse = build_actor(monitors[0], org, user_agent=USER_AGENT)  # checks in: marks the bench's sessions
    for name in ("Medicine room 4", "Medicine room 5"):
        if not Room.objects.filter(site=site, name=name).exists():
            room_create(by=admin, site_id=site.id, name=name, kind="dosing")
    _close_earlier_days(site, cast, day_start, DEMO_PASSWORD)
    rng = random.Random(now.toordinal())
    fresh = list(Patient.objects.filter(organization=org, user__isnull=True, episodes__isnull=True)
                 .order_by("id")[:6])

    def begun(patient: Any, route: Route, n: int, minutes_ago: int) -> Any:
        episode = story._ready_episode(patient, route, n, cast, rng)
        start = max(now - timedelta(minutes=minutes_ago), day_start)
        return story._session(patient, episode, site, [start.replace(second=0, microsecond=0)], cast)

    im, esk = Route.INTRAMUSCULAR, Route.INTRANASAL_ESKETAMINE
    # Recovering: dosed ~100 minutes ago, every check taken.
    s = begun(fresh[0], im, 0, 120)
    dose_at = story._to_administration(s, im, 0, s.scheduled_start, cast, dose_mg_per_kg="0.5")
    services.administration_record(by=cast.nurse, session_id=s.id, kind="given", at=min(dose_at, now))
    story._vitals(s, cast, dose_at, [5, 15, 30, 45, 60, 90], until=now)
    # Monitoring: +30 high and its alarm open, +45 overdue.
    s = begun(fresh[1], im, 1, 70)
    dose_at = story._to_administration(s, im, 1, s.scheduled_start, cast, dose_mg_per_kg="0.5")
    services.administration_record(by=cast.nurse, session_id=s.id, kind="given",
                                   at=min(dose_at, now))
    story._vitals(s, cast, dose_at, [5, 15, 30], until=now, bump={30: (184, 106, 98, 97, 16)})
    # Being dosed: esketamine devices.
    s = begun(fresh[2], esk, 2, 40)
    dose_at = story._to_administration(s, esk, 2, s.scheduled_start, cast)
    for k in range(2):
        services.administration_record(by=cast.nurse, session_id=s.id, kind="device",
                                       at=min(dose_at + timedelta(minutes=5 * k), now))
    # Waiting for the order: checked in, checklist done.
    s = begun(fresh[3], esk, 3, 15)
    services.session_check_in(by=cast.nurse, session_id=s.id, at=s.scheduled_start)
    s.refresh_from_db()
    story._checklist(s, cast, 3, min(s.scheduled_start + timedelta(minutes=8), now))
    # Arriving later today, on the clinic's round times.
    later = [t for t in scheduling_demo.half_hours(timezone.localdate()) if t > now + timedelta(minutes=30)]
    for n, (patient, route) in enumerate(((fresh[4], im), (fresh[5], esk)), 4):
        if later:
            episode = story._ready_episode(patient, route, n, cast, rng)
            story._session(patient, episode, site, later[n - 4:] + later, cast)
    return site.id
