"""A clinic ready for medicine sessions: an approved protocol library, a stocked site,
and patients whose episodes pass every pathway guard, walked there through the services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from openkap.core.protocols import example_ids
from openkap.dosing import services
from openkap.dosing.models import DosingSession
from openkap.ledger import services as ledger
from openkap.ledger.models import Lot
from openkap.pathway import services as pathway
from openkap.pathway.models import ConsentDocument
from tests.conftest import PASSWORD
from tests.pathway.helpers import CONSENT_TEXT, walk

EXPIRY_DAYS = 365


@pytest.fixture(autouse=True)
def _earlier_today_exists(daytime_clinic):
    """Sessions here are charted earlier today (tests/conftest.py ``daytime_clinic``)."""


@pytest.fixture
def nurse_actor(nurse, org, as_actor):
    return as_actor(nurse, org)


@pytest.fixture
def prescriber_actor(prescriber, org, as_actor):
    return as_actor(prescriber, org)


@pytest.fixture
def second_nurse(org):
    from openkap.core.authz import Role
    from tests.conftest import make_user

    return make_user("nurse2@test.org", "Nia Second", org, Role.NURSE)


@pytest.fixture
def second_nurse_actor(second_nurse, org, as_actor):
    return as_actor(second_nurse, org)


@pytest.fixture
def library(prescriber_actor):
    """Every shipped example protocol, imported and approved by the prescriber."""
    versions = {}
    for example in example_ids():
        draft = services.protocol_example_import(by=prescriber_actor, example_id=example)
        versions[example] = services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD)
    return versions


@pytest.fixture
def stock(admin, org, site, as_actor):
    """The site's formulary with one lot each: 10, 50 and 100 mg/mL vials and Spravato devices."""
    by = as_actor(admin, org)
    supplier = ledger.supplier_create(by=by, name="Hudson Pharma", address="1 Depot Rd, Albany NY",
                                      dea_number="PH1234563")
    lots = {}
    for key, name, form, strength, size, ndc in (
        ("10", "Ketamine 10 mg/mL, 20 mL vial", "vial", 10, 20, "42023-113-10"),
        ("50", "Ketamine 50 mg/mL, 10 mL vial", "vial", 50, 10, "0409-2053-10"),
        ("100", "Ketamine 100 mg/mL, 5 mL vial", "vial", 100, 5, "0409-2051-05"),
        ("device", "Spravato 28 mg device, kit of 3", "nasal_device", 28, 3, "50458-028-03"),
    ):
        product = ledger.product_create(by=by, site_id=site.id, name=name, form=form,
                                        strength_mg_per_unit=Decimal(strength), package_size=Decimal(size), ndc=ndc)
        entry = ledger.lot_receive(by=by, site_id=site.id, product_id=product.id, lot_number=f"L-{key}",
                                   expires_on=timezone.localdate() + timedelta(days=EXPIRY_DAYS),
                                   supplier_id=supplier.id, invoice_number=f"INV-{key}", containers=2)
        lots[key] = Lot.objects.get(pk=entry.lot_id)
    return lots


def switch_to_route(patient, *, prescriber, admin, therapist, org, as_actor, route: str, protocol_id: str) -> None:
    """A new plan version on another route, with that route's consent signed."""
    p, t = as_actor(prescriber, org), as_actor(therapist, org)
    pathway.plan_sign(
        by=p, patient_id=patient.id, password=PASSWORD, indication="Treatment-resistant depression",
        route=route, protocol_id=protocol_id, dose_level="psycholytic", dosing_sessions_planned=6,
        goals="PHQ-9 below 10.", change_reason="Route changed after discussion.",
    )
    document = ConsentDocument.objects.filter(organization=org, route=route).first() or \
        pathway.consent_document_publish(by=as_actor(admin, org), route=route, title="Consent", text=CONSENT_TEXT)
    pathway.consent_sign_in_clinic(by=t, patient_id=patient.id, typed_name=patient.legal_name,
                                   document_sha256=document.sha256)


@pytest.fixture
def ready(patient, therapist, prescriber, admin, org, as_actor):
    """The patient's episode passes every guard of a first (esketamine) dosing session."""
    return walk(patient, therapist=therapist, prescriber=prescriber, admin=admin, org=org, as_actor=as_actor)


PHQ9_NO_FLAG = {"q1": 1, "q2": 2, "q3": 1, "q4": 2, "q5": 1, "q6": 1, "q7": 0, "q8": 1, "q9": 0}


def screen(patient, by, *, hours_ago: float = 5, answers=None, session=None):
    """The patient's PHQ-9 before the session (the suicide-risk screen the checklist
    reviews), as the session's scheduled pre-dose PHQ-9 when ``session`` has one."""
    from openkap.measures import services as measures
    from openkap.measures.models import MeasureAssignment

    assignment = None if session is None else MeasureAssignment.objects.filter(
        episode_id=session.episode_id, occasion="before_dosing", occasion_key=f"dosing:{session.id}",
        instrument_id="phq9", completed_at__isnull=True,
    ).first()
    return measures.response_enter(
        by=by, patient_id=patient.id, instrument_id="phq9", answers=answers or PHQ9_NO_FLAG,
        completed_at=timezone.now() - timedelta(hours=hours_ago), occasion="before_dosing",
        assignment_id=assignment.id if assignment else None,
    )


def book(patient, episode, site, room, by_user, *, minutes_ago: int = 30, with_screen: bool = True) -> DosingSession:
    """A dosing session (booked earlier today, as the booking service would: with its
    pre-dose measures scheduled) and, unless told not, its pre-dose PHQ-9 done."""
    from openkap.accounts.authz import build_actor
    from openkap.measures import services as measures

    start = timezone.now() - timedelta(minutes=minutes_ago)
    session = DosingSession.objects.create(
        organization=patient.organization, patient=patient, episode=episode, site=site, room=room,
        scheduled_start=start, created_by=by_user, created_at=start - timedelta(days=7),
    )
    measures.sync_schedule(episode, by=None)
    if with_screen:
        screen(patient, build_actor(by_user, patient.organization), session=session)
    return session


@pytest.fixture
def esk_session(ready, library, stock, patient, site, room, nurse):
    return book(patient, ready, site, room, nurse)


@pytest.fixture
def im_session(ready, library, stock, patient, site, room, nurse, prescriber, admin, therapist, org, as_actor):
    switch_to_route(patient, prescriber=prescriber, admin=admin, therapist=therapist, org=org, as_actor=as_actor,
                    route="intramuscular", protocol_id="im-ketamine")
    return book(patient, ready, site, room, nurse)


CHECKLIST = {
    "fasting_confirmed": True, "escort_name": "Ana Lindqvist", "escort_phone": "(555) 010-7788",
    "escort_relationship": "Sister", "systolic": 128, "diastolic": 80, "heart_rate": 72, "spo2": 98,
    "respiratory_rate": 14, "pregnancy_status": "not_pregnant", "new_medications": "None",
    "cns_active_medications": [], "suicide_risk_reviewed": True, "intention": "To be kind to myself.",
    "items": {"nasal-steroid-decongestant": True, "rems-enrolled": True, "iv-access": True},
}


def to_order(session, nurse_actor, *, minutes_ago: int = 0) -> DosingSession:
    """Check in and complete the checklist (``minutes_ago`` back, for late-entry flows)."""
    at = timezone.now() - timedelta(minutes=minutes_ago) if minutes_ago else None
    if at is not None and timezone.localdate(at) != timezone.localdate(session.scheduled_start):
        session.scheduled_start = at
        session.save(update_fields=["scheduled_start"])
    services.session_check_in(by=nurse_actor, session_id=session.id, at=at)
    services.checklist_complete(by=nurse_actor, session_id=session.id, data=CHECKLIST,
                                at=at + timedelta(minutes=2) if at else None)
    session.refresh_from_db()
    return session


@pytest.fixture
def im_ordering(im_session, nurse_actor):
    return to_order(im_session, nurse_actor)


@pytest.fixture
def esk_ordering(esk_session, nurse_actor):
    return to_order(esk_session, nurse_actor)


def ago(minutes: float):
    return timezone.now() - timedelta(minutes=minutes)


def run_to_monitoring(session, *, nurse_actor, verifier_actor, prescriber_actor, lot, start_minutes_ago=180,
                      **order) -> DosingSession:
    """Check-in ``start_minutes_ago`` back, then checklist, order, preparation, verification
    and the whole administration (every device, or the injection) a few minutes apart."""
    session = to_order(session, nurse_actor, minutes_ago=start_minutes_ago)
    t = start_minutes_ago - 5
    services.dose_order_sign(by=prescriber_actor, session_id=session.id, password=PASSWORD, at=ago(t), **order)
    prep = services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=lot.id, at=ago(t - 2))
    services.dose_verify(
        by=verifier_actor, session_id=session.id, drug_confirmed=True, concentration_seen=prep.concentration,
        amount_seen=prep.amount, dose_mg_seen=prep.order.dose_mg,
        date_of_birth_seen=session.patient.date_of_birth, at=ago(t - 3),
    )
    if prep.units and prep.unit_name == "device":
        for n in range(prep.units):
            services.administration_record(by=nurse_actor, session_id=session.id, kind="device",
                                           at=ago(t - 5 - 5 * n))
    else:
        services.administration_record(by=nurse_actor, session_id=session.id, kind="given", at=ago(t - 5))
    session.refresh_from_db()
    return session


NORMAL = {"systolic": 126, "diastolic": 80, "heart_rate": 74, "spo2": 98, "respiratory_rate": 14}
# Most tests record a few vitals, not the protocol's whole schedule; the reason the
# missed-checks rule asks for is given here (tests/dosing/test_missed_vitals.py tests the rule).
MISSED_REASON = "Test session: only the readings this test needs were taken."
DISCHARGE = {"alert_and_oriented": True, "ambulating": True, "nausea_controlled": True, "escort_present": True,
             "escort_name": "Ana Lindqvist", "escort_phone": "(555) 010-7788", "missed_vitals_reason": MISSED_REASON}


@pytest.fixture
def therapist_actor(therapist, org, as_actor):
    return as_actor(therapist, org)
