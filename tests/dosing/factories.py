"""Objects the URL-enumeration test needs for the dosing app's URL parameters."""

from __future__ import annotations

from django.utils import timezone


def url_objects(*, patient, therapist, org) -> dict[str, object]:
    """A draft protocol version, a checked-in session of ``patient`` with vitals and an open alarm."""
    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Site
    from openkap.core.authz import Role
    from openkap.dosing import services
    from openkap.dosing.models import Alarm, DosingSession, VitalSigns
    from openkap.pathway.models import Episode
    from openkap.pathway.selectors import current_episode
    from tests.conftest import make_user

    keeper = make_user("dosing-keeper@test.org", "Kit Keeper", org, Role.ADMIN)
    version = services.protocol_example_import(by=build_actor(keeper, org), example_id="im-ketamine")
    site = Site.objects.create(
        organization=org, name="Dosing test site", address_line1="4 Main St", city="Albany", state="NY",
        postal_code="12207", dea_registration="AB1234563",
    )
    episode = current_episode(patient) or Episode.objects.create(organization=org, patient=patient, opened_by=therapist)
    now = timezone.now()
    session = DosingSession.objects.create(
        organization=org, patient=patient, episode=episode, site=site, status=DosingSession.Status.CHECKED_IN,
        scheduled_start=now, started_at=now, protocol_version=version, created_by=therapist,
    )
    vitals = VitalSigns.objects.create(organization=org, session=session, taken_at=now, systolic=190, diastolic=100,
                                       recorded_by=therapist)
    alarm = Alarm.objects.create(organization=org, session=session, vitals=vitals, code="systolic_high",
                                 severity="warning", measure="systolic", value=190, message="Systolic 190",
                                 raised_at=now)
    return {"session_id": session.id, "version_id": version.id, "alarm_id": alarm.id}
