"""Calendar feeds (ICS): created, revoked and authenticated by their secret."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, Denied, require
from openkap.accounts.models import Membership, User
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead
from openkap.core.authz import CLINICAL_ROLES, Perm, Role
from openkap.core.digest import sha256_hex
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for
from openkap.scheduling.models import (
    CalendarFeed,
)

from .common import FEED_PREFIX


def _new_feed(by: Actor, *, user: User | None, patient: Patient | None) -> tuple[CalendarFeed, str]:
    """One address per owner: a new one revokes the previous, so a leaked link is
    closed by making a new one."""
    owner = {"user": user} if user is not None else {"patient": patient}
    now = timezone.now()
    for old in CalendarFeed.objects.select_for_update().filter(
        organization=by.organization, revoked_at__isnull=True, **owner
    ):
        old.revoked_at = now
        old.save(update_fields=["revoked_at"])
        audit_record(
            by=by, action=AuditAction.TOKEN_REVOKED, object_type="calendar_feed", object_id=old.id,
            patient_id=patient.id if patient else None,
        )
    raw = FEED_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(
        organization=by.organization, token_hash=sha256_hex(raw), prefix=raw[:12], created_by=by.user, **owner
    )
    audit_record(
        by=by, action=AuditAction.TOKEN_CREATED, object_type="calendar_feed", object_id=feed.id,
        patient_id=patient.id if patient else None,
    )
    return feed, raw


def calendar_feed_create(*, by: Actor, patient_id: int | None = None) -> tuple[CalendarFeed, str]:
    """A clinician's own feed, or (with booking rights for the patient) a patient's.
    Returns the feed and the raw token, which is shown once and never stored."""
    with transaction.atomic():
        if patient_id is None:
            require(by, Perm.SCHEDULE_VIEW)
            return _new_feed(by, user=by.user, patient=None)
        require(by, Perm.APPOINTMENT_BOOK)
        patient, _ = patient_for(by, patient_id, Perm.APPOINTMENT_BOOK)
        return _new_feed(by, user=None, patient=patient)


def _own_patient(by: Actor, patient: Patient) -> None:
    if patient.user_id != by.user.id or patient.organization_id != by.organization.id:
        raise Denied("This is not your record.")


def portal_calendar_feed_create(*, by: Actor, patient: Patient) -> tuple[CalendarFeed, str]:
    """The patient makes (or replaces) their own calendar address in the portal."""
    _own_patient(by, patient)
    with transaction.atomic():
        return _new_feed(by, user=None, patient=patient)


def _revoke(by: Actor, feed: CalendarFeed) -> CalendarFeed:
    if feed.revoked_at is None:
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
        audit_record(
            by=by, action=AuditAction.TOKEN_REVOKED, object_type="calendar_feed", object_id=feed.id,
            patient_id=feed.patient_id,
        )
    return feed


def calendar_feed_revoke(*, by: Actor, feed_id: int) -> CalendarFeed:
    with transaction.atomic():
        feed = (
            CalendarFeed.objects.select_for_update()
            .filter(id=feed_id, organization=by.organization)
            .first()
        )
        if feed is None or (feed.user_id is not None and feed.user_id != by.user.id):
            raise Http404("No such calendar feed of yours.")
        if feed.patient_id is not None:
            require(by, Perm.APPOINTMENT_BOOK)
            patient_for(by, feed.patient_id, Perm.APPOINTMENT_BOOK)
        else:
            require(by, Perm.SCHEDULE_VIEW)
        return _revoke(by, feed)


def _active_feeds(organization_id: int, **owner: Any) -> QuerySet[CalendarFeed]:
    return CalendarFeed.objects.filter(organization_id=organization_id, revoked_at__isnull=True, **owner).order_by(
        "-created_at")


# The patient's, read on every Appointments tab a booker opens: compiled once (ADR 0096).
_PATIENT_FEED = CompiledRead(CalendarFeed, lambda organization_id, patient_id: _active_feeds(
    organization_id, patient_id=patient_id)[:1], "organization_id", "patient_id")


def active_feed(*, by: Actor, patient_id: int | None = None) -> CalendarFeed | None:
    """The actor's own active feed, or the patient's (callers have checked access)."""
    if patient_id is not None:
        return _PATIENT_FEED.first(organization_id=by.organization.id, patient_id=patient_id)
    return _active_feeds(by.organization.id, user=by.user).first()


def portal_calendar_feed_revoke(*, by: Actor, patient: Patient) -> None:
    _own_patient(by, patient)
    with transaction.atomic():
        for feed in CalendarFeed.objects.select_for_update().filter(
            organization=by.organization, patient=patient, revoked_at__isnull=True
        ):
            _revoke(by, feed)


def calendar_feed_authenticate(raw: str) -> CalendarFeed | None:
    """The active feed for a secret address, or None (answered as 404)."""
    if not raw.startswith(FEED_PREFIX) or len(raw) > 100:
        return None
    feed = (
        CalendarFeed.objects.select_related("organization", "user", "patient")
        .filter(token_hash=sha256_hex(raw), revoked_at__isnull=True)
        .first()
    )
    if feed is None:
        return None
    if feed.user is not None and not (
        feed.user.is_active
        and Membership.objects.filter(
            organization=feed.organization, user=feed.user, is_active=True,
            role__in=[r.value for r in CLINICAL_ROLES | {Role.ADMIN}],
        ).exists()
    ):
        return None
    now = timezone.now()
    # Calendar apps poll often: touch at most once a minute.
    if feed.last_used_at is None or now - feed.last_used_at > timedelta(minutes=1):
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    return feed
