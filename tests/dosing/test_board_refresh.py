"""The board's 15-second refresh: an ETag of what it shows, 304 when nothing changed,
and the read audited either way (ADR 0052)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from openkap.accounts.models import User
from openkap.audit.models import AuditAction, AuditEvent
from openkap.dosing.models import DosingSession, VitalSigns
from tests.conftest import signed_in

HX = {"HTTP_HX_REQUEST": "true", "HTTP_X_BACKGROUND_REFRESH": "1"}
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def _board(demo_clinic):  # type: ignore[no-untyped-def]
    org = demo_clinic.report.organization
    session = DosingSession.objects.filter(organization=org, status=DosingSession.Status.MONITORING).first()
    assert session is not None, "the demo board has a session being monitored"
    return session, reverse("dosing:board", args=[session.site_id])


def _refresh(client, url, etag=""):  # type: ignore[no-untyped-def]
    return client.get(url, **HX, **({"HTTP_IF_NONE_MATCH": etag} if etag else {}))


def _searches() -> int:
    return AuditEvent.objects.filter(action=AuditAction.SEARCH, object_type="dosing_board").count()


@pytest.mark.django_db
def test_an_unchanged_board_answers_304_and_the_read_is_still_audited(demo_clinic):
    _session, url = _board(demo_clinic)
    client = signed_in(User.objects.get(email="nurse@demo.openkap.org"))
    assert "ETag" not in client.get(url)  # the full page is always rendered
    first = _refresh(client, url)
    assert first.status_code == 200
    etag = first["ETag"]
    before = _searches()
    again = _refresh(client, url, etag)
    if again.status_code == 200:  # the clock crossed a minute between the two: once more
        etag = again["ETag"]
        again = _refresh(client, url, etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["Cache-Control"] == "no-store"
    assert _searches() > before  # a 304 is an audited read of the same patients
    assert _refresh(client, url, '"something else"').status_code == 200


@pytest.mark.django_db
def test_same_etag_exactly_when_the_same_board_is_shown(demo_clinic, monkeypatch):
    """Each change below alters what the board shows, or only the clock within the minute;
    the ETags must be equal exactly when the rendered boards are (tokens aside)."""
    session, url = _board(demo_clinic)
    nurse = User.objects.get(email="nurse@demo.openkap.org")
    client = signed_in(nurse)
    start = timezone.now().replace(second=5, microsecond=0)
    shift = {"by": timedelta(0)}
    monkeypatch.setattr(timezone, "now", lambda: start + shift["by"])
    seen: list[tuple[str, str, str]] = []
    _refresh(client, url)  # the first answer sets the CSRF cookie, which the ETag covers

    def look(label: str) -> None:
        response = _refresh(client, url)
        assert response.status_code == 200
        seen.append((label, response["ETag"], CSRF.sub("", response.content.decode())))

    look("first")
    look("again")
    shift["by"] = timedelta(seconds=40)
    look("later in the minute")  # tile minutes are rounded: they may or may not move
    shift["by"] = timedelta(seconds=70)
    look("next minute")
    VitalSigns.objects.create(organization=session.organization, session=session, taken_at=start + shift["by"],
                              systolic=131, diastolic=82, heart_rate=77, spo2=97, respiratory_rate=14,
                              recorded_by=nurse)
    look("new vitals")
    patient = session.patient
    patient.preferred_name = "Renamed"
    patient.save(update_fields=["preferred_name"])
    look("renamed")
    if session.room is not None:
        session.room.name = "Room with a new name"
        session.room.save(update_fields=["name"])
        look("room renamed")
    assert seen[0][1] == seen[1][1]
    assert len({etag for _label, etag, _html in seen}) >= len(seen) - 2  # the changes did change it
    for i, (label_a, etag_a, html_a) in enumerate(seen):
        for label_b, etag_b, html_b in seen[i + 1:]:
            assert (etag_a == etag_b) == (html_a == html_b), (label_a, label_b)


@pytest.mark.django_db
def test_the_etag_is_per_user(demo_clinic):
    _session, url = _board(demo_clinic)
    nurse = _refresh(signed_in(User.objects.get(email="nurse@demo.openkap.org")), url)
    prescriber = _refresh(signed_in(User.objects.get(email="prescriber@demo.openkap.org")), url, nurse["ETag"])
    assert prescriber.status_code == 200
    assert prescriber["ETag"] != nurse["ETag"]
