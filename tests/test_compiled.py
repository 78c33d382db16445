"""Reads compiled once (openkap.compiled, ADR 0096) give what their querysets give: the same
rows in the same order, every column with the same value and Python type (SQLite hands
decimals and dates back as floats and text until converted), the same related objects
and annotations, for every patient of the demo clinic, another organisation's and none."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import openkap.accounts.authz
import openkap.accounts.sessions
import openkap.dosing.selectors
import openkap.dosing.session_facts
import openkap.ledger.selectors
import openkap.ledger.services.lookups
import openkap.measures.licensed
import openkap.measures.selectors
import openkap.outcomes.patient
import openkap.pathway.selectors.episode
import openkap.pathway.selectors.plan
import openkap.patients.selectors
import openkap.scheduling.selectors
import openkap.scheduling.services.feeds
from openkap.accounts.models import Site, User
from openkap.compiled import COMPILED_READS, MAX_LIST, MAX_PLANS, CompiledRead, CompiledRows
from openkap.dosing.models import Alarm, DoseOrder, DosingSession, RefusedDoseOrder, VitalSigns
from openkap.measures.models import LicensedWording
from openkap.pathway.models import Episode
from openkap.patients.models import HeightMeasurement, Patient, PortalInvitation, WeightMeasurement
from openkap.scheduling.models import Appointment, CalendarFeed

pytestmark = pytest.mark.django_db

MODULES = [openkap.accounts.authz, openkap.accounts.sessions, openkap.patients.selectors,
           openkap.pathway.selectors.episode, openkap.measures.selectors, openkap.measures.licensed,
           openkap.dosing.selectors, openkap.pathway.selectors.plan, openkap.ledger.selectors,
           openkap.dosing.session_facts, openkap.scheduling.selectors, openkap.scheduling.services.feeds,
           openkap.outcomes.patient, openkap.ledger.services.lookups]
READS = {f"{m.__name__}.{name}": read for m in MODULES for name, read in vars(m).items()
         if isinstance(read, CompiledRead | CompiledRows)}
# The name search's ranked keys (ADR 0116), by the number of terms and care team or not.
RANKED = {f"openkap.patients.selectors._RANKED{key}": read
          for key, read in openkap.patients.selectors._RANKED.items()}


def shot(obj: Model | tuple[Any, ...]) -> Any:
    """An instance's snapshot, or a values_list row with each value's repr."""
    return [repr(v) for v in obj] if isinstance(obj, tuple) else snapshot(obj)


def snapshot(obj: Model, path: tuple[int, ...] = ()) -> dict[str, Any] | str:
    """Every attribute the instance holds (columns, annotations), each as its repr (type
    and value), and the related objects it carries, the same way (one that points back to
    an instance above it, as a reverse one-to-one's row does, by how far above)."""
    if id(obj) in path:
        return f"up {len(path) - path.index(id(obj))}"
    state: dict[str, Any] = {k: repr(v) for k, v in vars(obj).items() if k != "_state"}
    state["_related"] = {k: snapshot(v, (*path, id(obj))) if v is not None else None
                         for k, v in obj._state.fields_cache.items()}
    state["_db"] = obj._state.db
    state["_adding"] = obj._state.adding
    return state


def test_every_compiled_read_is_compared_here():
    assert len(READS) + len(RANKED) == len(COMPILED_READS) >= 14


def test_each_compiled_read_gives_what_its_queryset_gives(demo_clinic):
    org = demo_clinic.report.organization
    patients = list(Patient.objects.filter(organization=org).values_list("id", flat=True))
    assert WeightMeasurement.objects.filter(patient_id__in=patients).count() > len(patients)  # some have several
    _rows_the_demo_lacks(org, patients[:2])
    other = Patient.objects.exclude(organization=org).first()
    cases = [{"patient_id": pid, "organization_id": org.id} for pid in patients]
    cases += [{"patient_id": pid, "organization_id": org.id + 1000} for pid in patients[:3]]  # another organisation
    cases += [{"patient_id": 0, "organization_id": org.id}]
    if other is not None:
        cases.append({"patient_id": other.id, "organization_id": org.id})
    episodes = [*Episode.objects.filter(organization=org).values_list("id", flat=True), 0]
    # Every user: staff with one or more roles, patients, users of other organisations, none.
    users = [*User.objects.values_list("id", flat=True), 0]
    rows = {}
    for name, read in READS.items():
        if name in (BOARD_READS | SITE_READS | set(SESSION_READS) | APPOINTMENT_READS | CALENDAR_READS
                    | PORTAL_READS | {SESSION, WEB_SESSION_READ, PATIENTS_BY_ID, FEED_READ, LEDGER_SITE}):
            continue  # their own tests below (datetimes, lists of ids; a site's id; text)
        if read.ids == ("episode_id",):
            ids_of_case = [{"episode_id": e} for e in episodes]
        elif read.ids == ("user_id",):
            ids_of_case = [{"user_id": u} for u in users]
        else:
            ids_of_case = [{k: v for k, v in case.items() if k in read.ids} for case in cases]
            assert set(read.ids) <= {"patient_id", "organization_id"}, name
        rows[name] = 0
        for ids in ids_of_case:
            expected = [shot(o) for o in read.build(**ids)]
            with CaptureQueriesContext(connection) as captured:
                got = [shot(o) for o in read.read(**ids)]
            assert got == expected, (name, ids)
            assert len(captured) == 1, name
            rows[name] += len(got)
    # The comparison saw rows of every read (the demo has none of some), not only empty answers.
    assert all(rows.values()), rows  # every read compared on rows, not only on empty answers


def _rows_the_demo_lacks(org: Any, patient_ids: list[int]) -> None:
    """Heights (a decimal with three places), portal invitations and licensed wording (JSON)."""
    staff = User.objects.filter(memberships__organization=org, memberships__role="nurse").first()
    for i, pid in enumerate(patient_ids):
        for n in range(2):
            HeightMeasurement.objects.create(organization=org, patient_id=pid, height_cm=Decimal("170.125") + n,
                                             entered_value=Decimal("170.1"), entered_unit="cm",
                                             measured_on=date(2026, 1, 1 + n), recorded_by=staff)
            PortalInvitation.objects.create(organization=org, patient_id=pid, email=f"p{i}@example.org",
                                            token_hash=f"{i}-{n}".ljust(64, "x"), invited_by=staff,
                                            expires_at=timezone.now() + timedelta(days=n))
    LicensedWording.objects.create(organization=org, instrument_id="madrs", texts={"1": "Wording"}, updated_by=staff)


def test_an_id_the_database_cannot_hold_is_read_as_the_orm_reads_it(demo_clinic):
    read = READS["openkap.patients.selectors._PATIENT"]
    org = demo_clinic.report.organization
    patient = Patient.objects.filter(organization=org).first()
    assert read.read(patient_id=2**70, organization_id=org.id) == []
    assert [p.pk for p in read.read(patient_id=str(patient.id), organization_id=org.id)] == [patient.id]


def test_a_read_whose_query_lost_an_id_is_refused_when_compiled():
    read = CompiledRead(Patient, lambda patient_id: Patient.objects.filter(id=1), "patient_id")
    with pytest.raises(ValueError, match="patient_id"):
        read.read(patient_id=1)


# Reads with datetimes or lists of ids (the monitoring board's, ADR 0101).
BOARD_READS = {"openkap.dosing.selectors._BOARD_SITES", "openkap.dosing.selectors._BOARD_SESSIONS",
               "openkap.dosing.selectors._BOARD_VITALS", "openkap.dosing.selectors._BOARD_ALARMS",
               "openkap.pathway.selectors.plan._PLANS"}


WEB_SESSION_READ = "openkap.accounts.sessions._SESSION"


def _same(read: CompiledRead[Any] | CompiledRows, **values: Any) -> int:
    """The compiled read gives what its queryset gives, in one query; returns the rows."""
    expected = [shot(o) for o in read.build(**values)]
    with CaptureQueriesContext(connection) as captured:
        got = [shot(o) for o in read.read(**values)]
    assert got == expected, values
    assert len(captured) == 1
    return len(got)


def _id_lists(ids: list[int]) -> list[list[int]]:
    """One id, all, reversed, repeats (the ORM drops them), with ids of nothing."""
    return [ids[:1], ids, ids[::-1], [*ids[:3], *ids[:3], ids[-1]], [0, *ids[:2], 2**31 - 1]]


def test_each_board_read_gives_what_its_queryset_gives(demo_clinic):
    from zoneinfo import ZoneInfo

    org = demo_clinic.report.organization
    sessions = list(DosingSession.objects.filter(organization=org).order_by("id"))
    session = next(s for s in sessions if s.status == DosingSession.Status.MONITORING)
    vitals = VitalSigns.objects.filter(session=session).first()
    assert vitals is not None, "the demo's session being monitored has vitals"
    for n in range(2):  # open and acknowledged alarms
        Alarm.objects.create(organization=org, session=session, vitals=vitals, code="bp_high", severity="warning",
                             measure="systolic", value=171 + n, message=f"BP <high> & {n}", raised_at=timezone.now(),
                             acknowledged_at=timezone.now() if n else None)
    sites = [*Site.objects.filter(organization=org).values_list("id", flat=True), 0]
    other = Site.objects.exclude(organization=org).values_list("id", flat=True).first()
    rows = dict.fromkeys(BOARD_READS, 0)
    read = READS["openkap.dosing.selectors._BOARD_SITES"]
    for site in [*sites, *([other] if other else [])]:
        for organization_id in (org.id, org.id + 1000):
            rows["openkap.dosing.selectors._BOARD_SITES"] += _same(read, site_id=site, organization_id=organization_id)
    # Windows that begin or end exactly at a booking, in the clinic's zone and in UTC, with and
    # without microseconds (SQLite compares datetimes as text: the binding must be the ORM's).
    read = READS["openkap.dosing.selectors._BOARD_SESSIONS"]
    zones = [timezone.get_current_timezone(), ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]
    for s in sessions:
        for zone in zones:
            at = s.scheduled_start.astimezone(zone)
            for start, end in [(at, at + timedelta(hours=1)), (at + timedelta(microseconds=1), at + timedelta(days=1)),
                               (at - timedelta(days=1), at), (at - timedelta(days=1), at + timedelta(microseconds=1))]:
                rows["openkap.dosing.selectors._BOARD_SESSIONS"] += _same(read, site_id=s.site_id, start=start, end=end)
    session_ids = [s.id for s in sessions]
    for name in ("_BOARD_VITALS", "_BOARD_ALARMS"):
        for ids in _id_lists(session_ids):
            rows[f"openkap.dosing.selectors.{name}"] += _same(READS[f"openkap.dosing.selectors.{name}"],
                                                            session_ids=ids)
    episodes = list(Episode.objects.filter(organization=org).order_by("id").values_list("id", flat=True))
    for ids in _id_lists(episodes):
        rows["openkap.pathway.selectors.plan._PLANS"] += _same(READS["openkap.pathway.selectors.plan._PLANS"],
                                                             episode_ids=ids)
    assert all(rows.values()), rows  # every read compared on rows, not only on empty answers


def test_board_reads_take_what_they_cannot_bind_as_the_orm_takes_it(demo_clinic):
    """An empty or long list, a naive datetime or text: the queryset itself."""
    org = demo_clinic.report.organization
    read = READS["openkap.dosing.selectors._BOARD_VITALS"]
    with CaptureQueriesContext(connection) as captured:
        assert read.read(session_ids=[]) == []
    assert len(captured) == 0  # as the ORM: an empty IN list asks nothing
    ids = list(DosingSession.objects.filter(organization=org).values_list("id", flat=True))
    many = [*ids, *range(10**6, 10**6 + MAX_LIST)]
    assert [v.pk for v in read.read(session_ids=many)] == [v.pk for v in read.build(session_ids=many)] != []
    assert [v.pk for v in read.read(session_ids=[str(i) for i in ids])] == [v.pk for v in read.build(session_ids=ids)]
    sessions = READS["openkap.dosing.selectors._BOARD_SESSIONS"]
    session = DosingSession.objects.filter(organization=org, status=DosingSession.Status.SCHEDULED).first()
    start = timezone.localtime(session.scheduled_start) - timedelta(hours=1)
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        naive = sessions.read(site_id=session.site_id, start=start.replace(tzinfo=None), end=start + timedelta(hours=2))
    assert session.pk in [s.pk for s in naive]


def test_a_read_whose_query_lost_a_datetime_or_a_list_is_refused_when_compiled():
    lost_time = CompiledRead(DosingSession, lambda site_id, start: DosingSession.objects.filter(site_id=site_id),
                             "site_id", datetimes=("start",))
    with pytest.raises(ValueError, match="start"):
        lost_time.read(site_id=1, start=timezone.now())
    lost_list = CompiledRead(VitalSigns, lambda session_ids: VitalSigns.objects.filter(session_id__in=session_ids[:1]),
                             lists=("session_ids",))
    with pytest.raises(ValueError, match="session_ids"):
        lost_list.read(session_ids=[1, 2])


# The ledger's site page reads (ADR 0113), by a site's id.
SITE_READS = {f"openkap.ledger.selectors.{name}" for name in
              ("_LOTS", "_COUNTS", "_OPEN_DISCREPANCIES", "_RECENT", "_LAST_INVENTORY")}
LEDGER_SITE = "openkap.ledger.services.lookups._SITE"  # by the site's and the organisation's ids (ADR 0118)


def test_each_site_read_gives_what_its_queryset_gives(demo_clinic):
    """Every site of the demo (its first has an open count discrepancy), another
    organisation's and none; with and without the site's rows."""
    org = demo_clinic.report.organization
    sites = [*Site.objects.filter(organization=org).values_list("id", flat=True),
             *Site.objects.exclude(organization=org).values_list("id", flat=True)[:1], 0]
    rows = dict.fromkeys(SITE_READS | {LEDGER_SITE}, 0)
    for name in SITE_READS:
        for site in sites:
            rows[name] += _same(READS[name], site_id=site)
    for site in sites:
        for organization_id in (org.id, org.id + 1000):
            rows[LEDGER_SITE] += _same(READS[LEDGER_SITE], site_id=site, organization_id=organization_id)
    assert all(rows.values()), rows


# The calendar's reads (ADR 0118): an organisation's sites, rooms and clinical staff, a site's
# day, a clinician's first appointment of a day, the participants of a list of appointments.
CALENDAR_READS = {f"openkap.scheduling.selectors.{name}" for name in
                  ("_CLINICAL_MEMBERSHIPS", "_CALENDAR_SITES", "_CALENDAR_ROOMS", "_FIRST_OF_THE_DAY", "_SITE_DAY",
                   "_PARTICIPANTS")}


def test_each_calendar_read_gives_what_its_queryset_gives(demo_clinic):
    """Every site and clinician of the demo on every day it has appointments (and the day
    before), in the clinic's zone and in UTC; another organisation and none."""
    from zoneinfo import ZoneInfo

    from openkap.scheduling.models import Appointment, Participant

    org = demo_clinic.report.organization
    read = {name.rsplit(".", 1)[1]: READS[name] for name in CALENDAR_READS}
    rows = dict.fromkeys(CALENDAR_READS, 0)

    def same(name: str, **values: Any) -> None:
        rows[f"openkap.scheduling.selectors.{name}"] += _same(read[name], **values)

    organizations = [org.id, org.id + 1000, 0]
    sites = [*Site.objects.filter(organization=org).values_list("id", flat=True), 0]
    users = list(Participant.objects.filter(organization=org).values_list("user_id", flat=True).distinct())
    assert users, "the demo books appointments with staff"
    for organization_id in organizations:
        same("_CLINICAL_MEMBERSHIPS", organization_id=organization_id)
        same("_CALENDAR_SITES", organization_id=organization_id)
        for site in sites:
            same("_CALENDAR_ROOMS", organization_id=organization_id, site_id=site)
    appointments = list(Appointment.objects.filter(organization=org).order_by("start"))
    # A cancelled one is left off every day's grid.
    Appointment.objects.filter(id=appointments[0].id).update(status=Appointment.Status.CANCELLED)
    days = {timezone.localtime(a.start).replace(hour=0, minute=0, second=0, microsecond=0) for a in appointments}
    for zone in (timezone.get_current_timezone(), ZoneInfo("UTC")):
        for day in sorted(days):
            for start in (day.astimezone(zone), (day - timedelta(days=1)).astimezone(zone)):
                end = start + timedelta(days=1)
                for site in sites:
                    same("_SITE_DAY", organization_id=org.id, site_id=site, start=start, end=end)
                for user in [*users, 0]:
                    same("_FIRST_OF_THE_DAY", organization_id=org.id, user_id=user, start=start, end=end)
    for ids in _id_lists([a.id for a in appointments]):
        same("_PARTICIPANTS", appointment_ids=ids)
    assert all(rows.values()), rows


# The portal home's reads (ADR 0118): the patient's own record, questionnaires due, next appointments.
PORTAL_READS = {"openkap.patients.selectors._PORTAL_PATIENT", "openkap.measures.selectors._PORTAL_DUE",
                "openkap.scheduling.selectors._PORTAL_NEXT"}


def test_each_portal_read_gives_what_its_queryset_gives(demo_clinic):
    """Every patient of the demo (and its users, staff or none), at several instants: due
    questionnaires (some with a draft) and upcoming appointments come and go."""
    from openkap.measures.models import MeasureAssignment, MeasureDraft
    from openkap.scheduling.models import Appointment

    org = demo_clinic.report.organization
    rows = dict.fromkeys(PORTAL_READS, 0)
    patients = list(Patient.objects.filter(organization=org))
    assignment = MeasureAssignment.objects.filter(organization=org, completed_at__isnull=True).first()
    MeasureDraft.objects.create(organization=org, assignment=assignment, answers={"1": 2}, via="portal")
    for user in [*User.objects.values_list("id", flat=True), 0]:
        for organization_id in (org.id, org.id + 1000):
            rows["openkap.patients.selectors._PORTAL_PATIENT"] += _same(
                READS["openkap.patients.selectors._PORTAL_PATIENT"], user_id=user, organization_id=organization_id)
    instants = sorted({a.due_at for a in MeasureAssignment.objects.filter(organization=org)}
                      | {a.end for a in Appointment.objects.filter(organization=org)})
    instants = [timezone.now(), *instants[:: max(1, len(instants) // 6)]]
    for patient in patients:
        for now in instants:
            rows["openkap.measures.selectors._PORTAL_DUE"] += _same(
                READS["openkap.measures.selectors._PORTAL_DUE"], patient_id=patient.id, now=now)
            for organization_id in (org.id, org.id + 1000):
                rows["openkap.scheduling.selectors._PORTAL_NEXT"] += _same(
                    READS["openkap.scheduling.selectors._PORTAL_NEXT"], organization_id=organization_id,
                    patient_id=patient.id, now=now)
    assert all(rows.values()), rows


# The session page's reads of one session's rows (ADR 0113), against what the related
# managers they replaced give (rows holding their session, as those give them).
SESSION = "openkap.dosing.selectors._SESSION"
SESSION_READS = {
    "openkap.dosing.session_facts._ACTIVE_ORDER": lambda s: s.orders.filter(cancelled_at__isnull=True)
    .select_related("protocol_version")[:1],
    "openkap.dosing.session_facts._ACTIVE_PREPARATION": lambda s: s.preparations.filter(
        voided_at__isnull=True, order__cancelled_at__isnull=True).select_related(
        "lot__product", "order", "order__protocol_version", "prepared_by", "verification__verified_by")[:1],
    "openkap.dosing.selectors._SESSION_VITALS": lambda s: s.vitals.select_related("recorded_by")
    .order_by("taken_at", "id"),
    "openkap.dosing.selectors._SESSION_EVENTS": lambda s: s.administration_events.select_related(
        "recorded_by", "witness").order_by("at", "id"),
    "openkap.dosing.selectors._SESSION_CANCELLED_ORDERS": lambda s: s.orders.filter(cancelled_at__isnull=False)
    .order_by("ordered_at"),
    "openkap.dosing.selectors._SESSION_REFUSED_ORDERS": lambda s: s.refused_orders.select_related("attempted_by"),
    "openkap.dosing.selectors._SESSION_ALARMS": lambda s: s.alarms.select_related("acknowledged_by", "vitals")
    .order_by("raised_at", "id"),
    "openkap.dosing.selectors._SESSION_OBSERVATIONS": lambda s: s.observations.all(),
}


def test_each_session_read_gives_what_the_related_manager_gave(demo_clinic):
    from openkap.dosing.selectors import chart_of
    from openkap.dosing.session_facts import of_session

    org = demo_clinic.report.organization
    sessions = list(DosingSession.objects.filter(organization=org).order_by("id"))
    session = next(s for s in sessions if s.status == DosingSession.Status.MONITORING)
    vitals = VitalSigns.objects.filter(session=session).first()
    Alarm.objects.create(organization=org, session=session, vitals=vitals, code="bp_high", severity="warning",
                         measure="systolic", value=171, message="BP high", raised_at=timezone.now(),
                         acknowledged_at=timezone.now(), acknowledged_by=vitals.recorded_by)
    order = DoseOrder.objects.filter(organization=org).first()  # a cancelled copy, and a refusal
    RefusedDoseOrder.objects.create(organization=org, session=order.session, attempted_by=order.signed_by,
                                    ordered="9 mg/kg", result={"allowed": False, "reasons": ["<above> & max"]})
    order.pk = None
    order.cancelled_at, order.cancelled_by, order.cancel_reason = timezone.now(), order.signed_by, "Wrong weight"
    order.save()
    rows = dict.fromkeys([*SESSION_READS, SESSION, "chart_of"], 0)
    for session in sessions:
        for name, related in SESSION_READS.items():
            expected = [snapshot(o) for o in related(session)]
            got = [snapshot(o) for o in of_session(READS[name], session)]
            assert got == expected, (name, session.id)
            rows[name] += len(got)
        for organization_id in (org.id, org.id + 1000):
            rows[SESSION] += _same(READS[SESSION], session_id=session.id, organization_id=organization_id)
        patient = session.patient
        chart = chart_of(patient, False)
        assert [snapshot(o) for o in chart.weights] == [snapshot(o) for o in patient.weights.select_related(
            "recorded_by")[:5]]
        assert [snapshot(o) for o in chart.care_team] == [snapshot(o) for o in patient.care_team.filter(
            ended_at__isnull=True).select_related("user").order_by("role")]
        rows["chart_of"] += len(chart.weights) + len(chart.care_team)
    rows[SESSION] += _same(READS[SESSION], session_id=0, organization_id=org.id)
    assert all(rows.values()), rows


def test_the_session_read_gives_what_its_queryset_gives():
    """A live session, one expired at, just before and just after the moment asked for, one
    long gone, a key of no session, keys with quotes, wildcards and other scripts."""
    from django.contrib.sessions.models import Session

    now = timezone.now()
    keys = {"live": now + timedelta(hours=1), "at": now, "before": now - timedelta(microseconds=1),
            "after": now + timedelta(microseconds=1), "gone": now - timedelta(days=30)}
    for key, expires in keys.items():
        Session.objects.create(session_key=f"{key}-key-of-thirty-two-characters"[:32], session_data="e30:x",
                               expire_date=expires)
    read = READS[WEB_SESSION_READ]
    rows = 0
    for key in [*(f"{k}-key-of-thirty-two-characters"[:32] for k in keys), "nothing-here", "%", "_ive%", "a'b\"c",
                "schlüssel-ключ", ""]:
        for at in (now, now - timedelta(hours=2), now.astimezone(timezone.get_fixed_timezone(330))):
            rows += _same(read, session_key=key, now=at)
    assert rows == 3 + 1 + 1 + 3  # live and after at each moment, at and before two hours earlier, gone never


def test_a_text_lookup_that_rewrites_its_value_is_refused_when_compiled():
    read = CompiledRead(User, lambda name: User.objects.filter(full_name__icontains=name), texts=("name",))
    with pytest.raises(ValueError, match="name"):
        read.read(name="x")


PATIENTS_BY_ID = "openkap.patients.selectors._PATIENTS_BY_ID"


def test_a_search_pages_patients_by_id_are_what_in_bulk_gives(demo_clinic):
    """The name search's page of patients (ADR 0113), against ``in_bulk``."""
    ids = list(Patient.objects.filter(organization=demo_clinic.report.organization).values_list("id", flat=True))
    read = READS[PATIENTS_BY_ID]
    for some in _id_lists(ids[:25]):
        expected = {pid: snapshot(p) for pid, p in Patient.objects.in_bulk(some).items()}
        with CaptureQueriesContext(connection) as captured:
            got = {p.id: snapshot(p) for p in read.read(patient_ids=some)}
        assert got == expected
        assert len(captured) == 1


# Names and terms with what a LIKE pattern escapes (%, _ and \\), quotes, capitals, accents.
ODD_NAMES = [("Ana", "100%"), ("Bo", "A_b"), ("Cy", "Ab"), ("Di", "Back\\slash"), ("Ed", "Backslash"),
             ("Flo", "O'Neil"), ("Gus", "José-Ruiz"), ("Hal", "%d"), ("Ida", "_x")]
ODD_TERMS = ["%", "_", "\\", "a_", "a%", "1", "100%", "%d", "_x", "back\\", "back\\s", "o'", "josé", "ruiz",
             "j", "a", "b", "x", "zz", "%%", "__", "\\%", "\\_"]


def test_the_name_search_ranked_read_gives_what_its_queryset_gives(org, other_org, admin, therapist, outsider,
                                                                  as_actor):
    """Every number of terms, for the whole organisation and a care team, each page; terms
    the ORM escapes (a mutant binding them unescaped finds "100%" for "%" and "Ab" for "a_")."""
    from openkap.core.authz import Role
    from openkap.patients import services
    from openkap.patients.models import CareTeamMember

    registrar = as_actor(admin, org)
    made = [services.patient_create(by=registrar, data={
        "legal_given_name": g, "legal_family_name": f, "date_of_birth": date(1980, 1, 1),
        "sex_at_birth": "female"}) for g, f in ODD_NAMES]
    services.patient_create(by=as_actor(outsider, other_org), data={  # another clinic's namesake
        "legal_given_name": "Ana", "legal_family_name": "100%", "date_of_birth": date(1980, 1, 1),
        "sex_at_birth": "female"})
    for p in made[::2]:
        CareTeamMember.objects.create(organization=org, patient=p, user=therapist, role=Role.THERAPIST)
    rows = 0
    for (n, team), read in openkap.patients.selectors._RANKED.items():
        for first in ODD_TERMS:
            terms = [first, *ODD_TERMS[len(first) % 5: len(first) % 5 + n - 1]]
            values = {f"term{i}": t for i, t in enumerate(terms)} | ({"user_id": therapist.id} if team else {})
            for offset, limit in ((0, 25), (0, 2), (2, 2), (30, 25)):
                expected = list(read.build(organization_id=org.id, offset=offset, limit=limit, **values))
                with CaptureQueriesContext(connection) as captured:
                    got = read.read(organization_id=org.id, offset=offset, limit=limit, **values)
                assert got == expected, (n, team, terms, offset, limit)
                assert len(captured) == 1
                rows += len(got)
    assert rows
    ranked = openkap.patients.selectors._RANKED[(1, False)]
    found = {t: [pid for pid, _n in ranked.read(organization_id=org.id, offset=0, limit=25, term0=t)]
             for t in ("%", "_", "a_", "\\")}
    by_name = {f: p.id for p, (_g, f) in zip(made, ODD_NAMES, strict=True)}
    assert found == {"%": [by_name["%d"]], "_": [by_name["_x"]], "a_": [by_name["A_b"]],
                     "\\": []}  # a backslash starts no name part: "Back\\slash" is one word


def test_a_like_read_takes_what_it_cannot_bind_as_the_orm_takes_it(org):
    ranked = openkap.patients.selectors._RANKED[(1, False)]
    with CaptureQueriesContext(connection) as captured:
        assert ranked.read(organization_id=org.id, offset=0, limit=25, term0=5) == list(
            ranked.build(organization_id=org.id, offset=0, limit=25, term0=5))
    assert len(captured) == 2
    with pytest.raises(ValueError, match="Negative"):  # a shape out of range: the ORM refuses it, as before
        ranked.read(organization_id=org.id, offset=-1, limit=25, term0="a")


def test_a_lookup_that_does_not_escape_a_like_pattern_is_refused_when_compiled():
    for lookup in ("exact", "regex"):
        read = CompiledRows(Patient, lambda name, lookup=lookup: Patient.objects.filter(
            **{f"legal_family_name__{lookup}": name}).values_list("id"), likes=("name",))
        with pytest.raises(ValueError, match="name"):
            read.read(name="x")
        COMPILED_READS.remove(read)


def test_compiled_rows_come_from_values_list_only():
    read = CompiledRows(Patient, lambda name: Patient.objects.filter(legal_family_name__startswith=name),
                        likes=("name",))
    with pytest.raises(ValueError, match="values_list"):
        read.read(name="x")
    COMPILED_READS.remove(read)


def test_a_read_keeps_a_bounded_number_of_plans(org):
    read = CompiledRows(Patient, lambda limit: Patient.objects.filter(organization_id=0).values_list("id")[:limit],
                        shapes=("limit",))
    for limit in range(1, MAX_PLANS + 10):
        assert read.read(limit=limit) == []
    assert len(read._plans) == MAX_PLANS
    COMPILED_READS.remove(read)


# The chart's Appointments tab (ADR 0119; a values_list read among them: the attendance counts).
APPOINTMENT_READS = {f"openkap.scheduling.selectors.{name}" for name in ("_UPCOMING", "_PAST_FIRST_PAGE", "_COUNTS")}


def test_each_appointments_tab_read_gives_what_its_queryset_gives(demo_clinic):
    org = demo_clinic.report.organization
    booked = list(Appointment.objects.filter(organization=org).order_by("start"))
    assert len({a.status for a in booked}) >= 3, "the demo's past is settled: completed, no-shows, cancellations"
    patients = sorted({a.patient_id for a in booked})[:8]
    patients += [Patient.objects.filter(organization=org).exclude(id__in=patients).values_list("id", flat=True)[0], 0]
    now = timezone.now()
    # Now (in two zones), an appointment's own end (upcoming until it has ended), a year either way.
    instants = [now, now.astimezone(timezone.get_fixed_timezone(330)), booked[len(booked) // 2].end,
                now - timedelta(days=365), now + timedelta(days=365)]
    seen = dict.fromkeys(APPOINTMENT_READS, 0)
    for name in APPOINTMENT_READS:
        for patient_id in patients:
            for organization_id in (org.id, org.id + 1000):
                for at in instants:
                    seen[name] += _same(READS[name], patient_id=patient_id, organization_id=organization_id, now=at)
    assert all(seen.values()), seen


FEED_READ = "openkap.scheduling.services.feeds._PATIENT_FEED"


def test_a_patients_calendar_feed_read_gives_what_its_queryset_gives(demo_clinic):
    org = demo_clinic.report.organization
    patient, other = Patient.objects.filter(organization=org)[:2]
    staff = User.objects.filter(memberships__organization=org).first()
    now = timezone.now()
    for n, (created, revoked) in enumerate([(now - timedelta(days=3), now - timedelta(days=2)),
                                            (now - timedelta(days=1), None), (now, None)]):
        CalendarFeed.objects.create(organization=org, patient=patient, token_hash=f"h{n}".ljust(64, "0"),
                                    prefix=f"p{n}", created_by=staff, created_at=created, revoked_at=revoked)
    read = READS[FEED_READ]
    rows = sum(_same(read, patient_id=pid, organization_id=oid)
               for pid in (patient.id, other.id, 0) for oid in (org.id, org.id + 1000))
    assert rows == 1  # the newest active one, in its own organisation only
    assert read.first(patient_id=patient.id, organization_id=org.id).created_at == now
