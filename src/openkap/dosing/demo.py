"""Demo medicine sessions, recorded through the same services as in the clinic.

- The protocol library: every shipped example, approved by the prescriber; the IM
  protocol has a second version waiting as a draft (a clinic policy change).
- Three patients new to the clinic's series, walked through the pathway, had their
  first sessions this week at Brooklyn (IM with nausea and an acknowledged blood
  pressure alarm; esketamine twice, one REMS form submitted and one still due; IV
  with a slowed infusion), each dose written to the ledger as it was given and each
  discharge completing its appointment.
- Today at Brooklyn: an IM session in monitoring with an open alarm and the next
  vitals overdue, an esketamine session waiting for the prescriber's order, and one
  IM and one esketamine patient booked this morning (08:30 and 09:00) and not yet
  checked in (the browser test runs their sessions end to end).

Every session is booked first, through the scheduling service (which creates its
record): on the hour or the half hour, in a free medicine room, with a free nurse
monitoring. Today's stories take the latest round time that leaves them room to have
happened; before the clinic's morning has gone that far (early in the day) the
patient is simply booked for later today. Every recorded time is a late entry of up
to a week, as the services allow. Idempotent: nothing is added once the organisation
has a protocol library.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F
from django.utils import timezone

from openkap.accounts.authz import Actor, build_actor
from openkap.accounts.models import Site, User
from openkap.accounts.selectors import DEMO_PASSWORD
from openkap.core.authz import Role
from openkap.core.protocols import example_ids
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.demo import DemoContext
from openkap.dosing import services, session_facts
from openkap.dosing.inventory import lot_choices
from openkap.dosing.models import DoseOrder, DosingSession, ProtocolVersion
from openkap.measures import services as measures
from openkap.measures.models import MeasureAssignment, Occasion
from openkap.pathway import services as pathway
from openkap.pathway.models import ConsentDocument, Episode
from openkap.pathway.selectors import consent_status
from openkap.patients.models import CareTeamMember, Patient
from openkap.patients.services import weight_record
from openkap.scheduling import demo as scheduling_demo

PROTOCOL_FOR = {
    Route.INTRAMUSCULAR: "im-ketamine",
    Route.INTRANASAL_ESKETAMINE: "intranasal-esketamine-spravato",
    Route.IV_INFUSION: "iv-ketamine-infusion",
}
# Which lot strength the nurse reaches for by route (volumes in each product's band).
STRENGTH_FOR = {Route.INTRAMUSCULAR: Decimal(50), Route.INTRANASAL_ESKETAMINE: Decimal(28),
                Route.IV_INFUSION: Decimal(10)}
ESCORTS = [("Ana", "sister"), ("Marcus", "partner"), ("Priya", "friend"), ("Tom", "husband"), ("Lena", "wife"),
           ("Sam", "friend"), ("Jo", "mother")]
INTENTIONS = [
    "To meet the sadness about my brother without running from it.",
    "To feel at home in my body again.",
    "To find out what I am so afraid of when people get close.",
    "To let go of the story that I am too much for everyone.",
    "To rest, and to trust that I am allowed to.",
    "To see my life from a little further away.",
    "To listen to what the tiredness is telling me.",
]


def seed(context: DemoContext) -> None:
    org = context.organization
    if ProtocolVersion.objects.filter(organization=org).exists():
        return
    staff = context.staff
    cast = _Cast(
        nurse=build_actor(staff[Role.NURSE], org, user_agent="seed-demo"),
        prescriber=build_actor(staff[Role.PRESCRIBER], org, user_agent="seed-demo"),
        therapist=build_actor(staff[Role.THERAPIST], org, user_agent="seed-demo"),
        admin=build_actor(staff[Role.ADMIN], org, user_agent="seed-demo"),
        monitors=context.nurses,
    )
    _library(cast)
    site = context.sites[0]
    rng = random.Random(context.rng.random())
    fresh = list(
        Patient.objects.filter(organization=org, user__isnull=True, episodes__isnull=True)
        .order_by("id")[:7]
    )
    if len(fresh) < 7:
        return
    # Today's stories that must have begun by now are booked before this morning's arrivals.
    plan = [
        (Route.INTRAMUSCULAR, _past_im), (Route.INTRANASAL_ESKETAMINE, _past_esketamine),
        (Route.IV_INFUSION, _past_iv), (Route.INTRAMUSCULAR, _today_in_monitoring),
        (Route.INTRANASAL_ESKETAMINE, _today_waiting_for_order), (Route.INTRAMUSCULAR, _arriving),
        (Route.INTRANASAL_ESKETAMINE, _arriving),
    ]
    for n, (patient, (route, story)) in enumerate(zip(fresh, plan, strict=True)):
        episode = _ready_episode(patient, route, n, cast, rng)
        story(patient, episode, route, n, site, cast, rng)


class _Cast:
    def __init__(self, *, nurse: Actor, prescriber: Actor, therapist: Actor, admin: Actor,
                 monitors: list[User]) -> None:
        self.nurse, self.prescriber, self.therapist, self.admin = nurse, prescriber, therapist, admin
        self.monitors = monitors  # any of them may monitor a session


def _library(cast: _Cast) -> None:
    for example in example_ids():
        draft = services.protocol_example_import(by=cast.admin, example_id=example)
        services.protocol_approve(by=cast.prescriber, version_id=draft.id, password=DEMO_PASSWORD)
    im = session_facts.protocol_in_use(cast.admin.organization.id, "im-ketamine")
    assert im is not None
    services.protocol_revise(
        by=cast.admin, version_id=im.id, content=im.content.replace('"min_interval_days": 7', '"min_interval_days": 10'),
        change_reason="Clinic policy from next month: at least 10 days between IM sessions (medical director).",
    )


# --- getting a patient ready, through the pathway's services --------------------------------


def _ready_episode(patient: Patient, route: Route, n: int, cast: _Cast, rng: random.Random) -> Episode:
    org = patient.organization
    for actor, role in ((cast.therapist, Role.THERAPIST), (cast.prescriber, Role.PRESCRIBER)):
        CareTeamMember.objects.get_or_create(organization=org, patient=patient, user=actor.user, role=role,
                                             ended_at__isnull=True)
    t, p = cast.therapist, cast.prescriber
    weight_record(by=t, patient_id=patient.id, value=str(rng.randint(58, 96)) + ".4", unit="kg",
                  measured_on=timezone.localdate() - timedelta(days=9))
    episode = pathway.episode_open(by=t, patient_id=patient.id)
    pathway.intake_save(by=t, patient_id=patient.id, complete=True, data={
        "presenting_problems": "Recurrent depression despite three antidepressant trials; exhausted, withdrawn.",
        "diagnoses": [{"code": "F33.1", "description": "Major depressive disorder, recurrent, moderate"}],
        "psychiatric_history": "Outpatient care for ten years; no hospitalisations; no suicide attempts.",
        "medical_history": rng.choice(["None significant.", "Well-controlled asthma.", "Migraine without aura."]),
        "current_medications": rng.choice(["Sertraline 100 mg daily.", "Bupropion XL 300 mg daily.", "Escitalopram 20 mg daily."]),
        "substance_use": "Alcohol 1–2 drinks a week; no other substances.",
        "prior_psychedelic_use": "None.",
        "pregnancy_status": "not_pregnant" if patient.sex_at_birth == "female" else "not_applicable",
        "systolic_bp": rng.randint(114, 132), "diastolic_bp": rng.randint(70, 82), "intended_route": route.value,
    })
    pathway.episode_transition(by=t, episode_id=episode.id, name="start_screening")
    for instrument_id, answers in (
        ("phq9", {f"q{i}": v for i, v in enumerate([2, 2, 1, 2, 2, 1, 2, 1, 0], 1)}),
        ("gad7", {f"q{i}": rng.choice((1, 2)) for i in range(1, 8)}),
        ("cssrs-recent", {"q1": 0, "q2": 0, "q6": 0}),
    ):
        measures.response_enter(by=t, patient_id=patient.id, instrument_id=instrument_id, answers=answers,
                                occasion="baseline", completed_at=timezone.now() - timedelta(days=16))
    from openkap.core.pathway import CHECKLIST

    pathway.checklist_record(by=t, patient_id=patient.id, answers={item.id: False for item in CHECKLIST.items})
    pathway.episode_transition(by=t, episode_id=episode.id, name="request_eligibility")
    pathway.eligibility_sign(by=p, patient_id=patient.id, outcome="eligible", password=DEMO_PASSWORD,
                             reasons="Recurrent depression with an inadequate response to three treatments; "
                                     "medically stable; no contraindication.")
    pathway.episode_transition(by=t, episode_id=episode.id, name="confirm_eligibility")
    pathway.plan_sign(
        by=p, patient_id=patient.id, password=DEMO_PASSWORD, indication="Treatment-resistant depression",
        route=route.value, protocol_id=PROTOCOL_FOR[route], dose_level="psycholytic", dosing_sessions_planned=6,
        measure_schedule={"before_dosing": ["phq9", "gad7", "cssrs-slv"], "after_integration": ["phq9", "gad7"]},
        goals="PHQ-9 below 10; back to work and friends.",
    )
    pathway.episode_transition(by=t, episode_id=episode.id, name="start_preparation")
    pathway.preparation_session_record(by=t, patient_id=patient.id, held_on=timezone.localdate() - timedelta(days=10),
                                       notes="What to expect, music and eyeshades, grounding; intentions written.")
    pathway.intention_add(by=t, patient_id=patient.id, text=INTENTIONS[n % len(INTENTIONS)])
    pathway.safety_plan_save(by=t, patient_id=patient.id, sections={
        "coping_plan": "Breathe out slowly, hold the blanket, remember it passes.",
        "warning_signs": "Not sleeping, cancelling plans.",
        "coping_strategies": "Walk, shower, call my sister.",
        "people_and_places": "My sister; the park.",
        "professionals_and_crisis_lines": "Therapist; 988; 911.",
        "means_safety": "No firearms at home; medicines kept by my partner.",
    })
    name, relationship = ESCORTS[n % len(ESCORTS)]
    pathway.escort_arrange(by=t, patient_id=patient.id, name=f"{name} {patient.legal_family_name}",
                           phone=f"(555) 014-{3100 + 17 * n}", relationship=relationship)
    pathway.pre_session_instructions_set(
        by=t, patient_id=patient.id, fasting="Nothing to eat for 2 hours before; clear fluids until 1 hour before.",
        medications_to_hold="None.", what_to_bring="Comfortable clothes, eyeshades, your journal.",
    )
    if not ConsentDocument.objects.filter(organization=org, route=route).exists():
        pathway.consent_document_publish(by=cast.admin, route=route, title=f"Consent: {ROUTE_LABELS[route]}",
                                         text=f"Consent to ketamine-assisted psychotherapy by {ROUTE_LABELS[route]}. " * 8)
    status = consent_status(episode, route)
    assert status.document is not None
    pathway.consent_sign_in_clinic(by=t, patient_id=patient.id, typed_name=patient.legal_name,
                                   document_sha256=status.text_sha256)
    pathway.episode_transition(by=t, episode_id=episode.id, name="start_series")
    return Episode.objects.get(pk=episode.pk)


def _session(patient: Patient, episode: Episode, site: Site, starts: list[datetime], cast: _Cast) -> DosingSession:
    """Booked at the first of ``starts`` with a medicine room and a nurse free and, a
    day before it, the before-dosing questionnaires."""
    appointment = scheduling_demo.book_dosing(cast.admin, patient, starts, site=site, monitors=cast.monitors)
    session = appointment.dosing_session
    assert session is not None
    start = session.scheduled_start
    measures.sync_schedule(episode, by=None)
    for a in MeasureAssignment.objects.filter(episode=episode, occasion=Occasion.BEFORE_DOSING,
                                              occasion_key=f"dosing:{session.id}", completed_at__isnull=True):
        answers = {
            "phq9": {f"q{i}": v for i, v in enumerate([1, 2, 1, 2, 1, 1, 1, 0, 0], 1)},
            "gad7": {f"q{i}": 1 for i in range(1, 8)},
            "cssrs-slv": {"q1": 0, "q2": 0, "q6": 0},
        }.get(a.instrument_id)
        if answers is not None:
            measures.response_enter(by=cast.nurse, patient_id=patient.id, instrument_id=a.instrument_id,
                                    answers=answers, assignment_id=a.id,
                                    completed_at=min(start - timedelta(hours=20), timezone.now()))
    return session


def _on(days_ago: int, preferred: time) -> list[datetime]:
    """A past day's round times, from ``preferred`` on, then the earlier ones."""
    times = scheduling_demo.half_hours(timezone.localdate() - timedelta(days=days_ago), time(8, 30), time(15, 0))
    later = [t for t in times if timezone.localtime(t).time() >= preferred]
    return later + [t for t in times if t not in later]


def _begun_by(minutes: int) -> list[datetime]:
    """Today's round times at least ``minutes`` ago, latest first (none early in the day)."""
    latest = timezone.now() - timedelta(minutes=minutes)
    return [t for t in reversed(scheduling_demo.half_hours(timezone.localdate())) if t <= latest]


def _this_morning(first: time) -> list[datetime]:
    return scheduling_demo.half_hours(timezone.localdate(), first)


def _checklist(session: DosingSession, cast: _Cast, n: int, at: datetime, **vitals: int) -> None:
    episode = session.episode
    arrangements = episode.arrangements
    protocol = session.protocol_version.protocol  # type: ignore[union-attr]
    services.checklist_complete(by=cast.nurse, session_id=session.id, at=at, data={
        "fasting_confirmed": True, "fasting_note": "Last meal 4 hours ago, water 90 minutes ago.",
        "escort_name": arrangements.escort_name, "escort_phone": arrangements.escort_phone,
        "escort_relationship": arrangements.escort_relationship,
        "systolic": vitals.get("systolic", 124), "diastolic": vitals.get("diastolic", 78),
        "heart_rate": vitals.get("heart_rate", 72), "spo2": 98, "respiratory_rate": 14,
        "pregnancy_status": "not_pregnant" if session_facts.pregnancy_relevant(session.patient) else "not_applicable",
        "new_medications": "None since the last visit.", "cns_active_medications": [],
        "suicide_risk_reviewed": True, "intention": INTENTIONS[n % len(INTENTIONS)],
        "items": {item.code: True for item in protocol.pre_dose_checklist},
    })


def _lot(session: DosingSession, route: Route) -> int:
    version = session.protocol_version
    assert version is not None
    usable = [c for c in lot_choices(version.protocol, session.site) if c.usable]
    preferred = [c for c in usable if c.lot.product.strength_mg_per_unit == STRENGTH_FOR[route]]
    return (preferred or usable)[0].lot.id


def _to_administration(session: DosingSession, route: Route, n: int, start: datetime, cast: _Cast,
                       **order: Any) -> datetime:
    """Check-in at ``start``; the checklist, order, preparation and check follow. Returns
    when the dose may be given."""
    services.session_check_in(by=cast.nurse, session_id=session.id, at=start)
    session.refresh_from_db()
    _checklist(session, cast, n, start + timedelta(minutes=6))
    services.dose_order_sign(by=cast.prescriber, session_id=session.id, password=DEMO_PASSWORD,
                             at=start + timedelta(minutes=10), **order)
    # Demo only: the story's prescriber signed at the time of the order, not at seeding.
    DoseOrder.objects.filter(session=session).update(signed_at=F("ordered_at"))
    prep = services.dose_prepare(by=cast.nurse, session_id=session.id, lot_id=_lot(session, route),
                                 at=start + timedelta(minutes=13))
    services.dose_verify(
        by=cast.prescriber, session_id=session.id, drug_confirmed=True, concentration_seen=prep.concentration,
        amount_seen=prep.amount, dose_mg_seen=prep.order.dose_mg, date_of_birth_seen=session.patient.date_of_birth,
        at=start + timedelta(minutes=15),
    )
    return start + timedelta(minutes=18)


# A typical course after the dose: minutes -> (systolic, diastolic, heart rate, SpO2, RR).
COURSE = {
    5: (134, 84, 82, 98, 15), 15: (142, 88, 86, 97, 15), 20: (143, 88, 85, 97, 15), 30: (146, 90, 84, 97, 14),
    40: (148, 92, 82, 97, 14), 45: (144, 90, 80, 98, 14), 60: (138, 86, 78, 98, 14), 80: (132, 84, 76, 98, 14),
    90: (130, 82, 75, 98, 14), 100: (128, 80, 74, 98, 14), 120: (126, 80, 72, 98, 14),
}


def _vitals(session: DosingSession, cast: _Cast, dose_at: datetime, minutes: list[int], *,
            until: datetime | None = None, bump: dict[int, tuple[int, int, int, int, int]] | None = None) -> None:
    for m in minutes:
        at = dose_at + timedelta(minutes=m)
        if until is not None and at > until:
            break
        sys_, dia, hr, spo2, rr = (bump or {}).get(m) or COURSE.get(m) or COURSE[min(COURSE, key=lambda k: abs(k - m))]
        services.vitals_record(by=cast.nurse, session_id=session.id, systolic=sys_, diastolic=dia, heart_rate=hr,
                               spo2=spo2, respiratory_rate=rr, at=at)


def _discharge(session: DosingSession, cast: _Cast, at: datetime) -> None:
    services.vitals_record(by=cast.nurse, session_id=session.id, systolic=124, diastolic=78, heart_rate=70,
                           spo2=98, respiratory_rate=14, at=at - timedelta(minutes=3), note="Before discharge")
    arrangements = session.episode.arrangements
    services.session_discharge(
        by=cast.nurse, session_id=session.id, password=DEMO_PASSWORD, alert_and_oriented=True, ambulating=True,
        nausea_controlled=True, escort_present=True, escort_name=arrangements.escort_name,
        escort_phone=arrangements.escort_phone, at=at,
    )


def _observe(session: DosingSession, cast: _Cast, at: datetime, moaas: int, cadss: int) -> None:
    services.observation_record(by=cast.nurse, session_id=session.id, at=at, moaas=moaas, respiration_normal=True,
                                cadss_answers={f"q{i}": cadss if i <= 3 else max(0, cadss - 1) for i in range(1, 7)})


# --- the stories ------------------------------------------------------------------------------


def _past_im(patient: Patient, episode: Episode, route: Route, n: int, site: Site, cast: _Cast,
             rng: random.Random) -> None:
    session = _session(patient, episode, site, _on(6, time(9, 30)), cast)
    start = session.scheduled_start
    dose_at = _to_administration(session, route, n, start, cast, dose_mg_per_kg="0.6")
    services.administration_record(by=cast.nurse, session_id=session.id, kind="given", at=dose_at)
    _vitals(session, cast, dose_at, [5, 15], bump={15: (182, 104, 96, 97, 16)})
    alarm = session.alarms.filter(acknowledged_at__isnull=True).first()
    assert alarm is not None
    services.alarm_acknowledge(by=cast.nurse, alarm_id=alarm.id, action="prescriber_notified",
                               note="Asymptomatic; rechecked after 5 minutes at 168/98; prescriber reviewed, observe.")
    services.adverse_event_record(
        by=cast.nurse, session_id=session.id, code="nausea", severity="mild", outcome="resolved", serious=False,
        onset_at=dose_at + timedelta(minutes=25), action_taken="Ondansetron given; resolved within 20 minutes.",
        antiemetic_drug="Ondansetron ODT", antiemetic_dose="4 mg", antiemetic_at=dose_at + timedelta(minutes=27),
    )
    _observe(session, cast, dose_at + timedelta(minutes=40), moaas=4, cadss=2)
    _vitals(session, cast, dose_at, [30, 45, 60, 90, 120])
    _observe(session, cast, dose_at + timedelta(minutes=120), moaas=5, cadss=0)
    _discharge(session, cast, dose_at + timedelta(minutes=135))


def _past_esketamine(patient: Patient, episode: Episode, route: Route, n: int, site: Site, cast: _Cast,
                     rng: random.Random) -> None:
    for days_ago, submitted in ((5, True), (2, False)):
        session = _session(patient, episode, site, _on(days_ago, time(10, 0)), cast)
        start = session.scheduled_start
        dose_at = _to_administration(session, route, n, start, cast)
        for k in range(2):
            services.administration_record(by=cast.nurse, session_id=session.id, kind="device",
                                           at=dose_at + timedelta(minutes=5 * k))
        _vitals(session, cast, dose_at, [20, 40, 60, 90, 120])
        _observe(session, cast, dose_at + timedelta(minutes=41), moaas=4, cadss=3)
        _observe(session, cast, dose_at + timedelta(minutes=110), moaas=5, cadss=0)
        _discharge(session, cast, dose_at + timedelta(minutes=130))
        data = {"rems_patient_id": f"SPR-{40211 + patient.id}", "setting_rems_id": "HCS-778102"}
        services.rems_form_update(by=cast.nurse, session_id=session.id, data=data)
        if submitted:
            services.rems_form_submit(by=cast.nurse, session_id=session.id,
                                      submission_reference=f"REMS-{timezone.localdate(start):%y%m%d}-0{n}")


def _past_iv(patient: Patient, episode: Episode, route: Route, n: int, site: Site, cast: _Cast,
             rng: random.Random) -> None:
    session = _session(patient, episode, site, _on(4, time(13, 0)), cast)
    start = session.scheduled_start
    dose_at = _to_administration(session, route, n, start, cast)
    record = services.administration_record
    record(by=cast.nurse, session_id=session.id, kind="infusion_start", at=dose_at)
    _vitals(session, cast, dose_at, [0, 10])
    record(by=cast.nurse, session_id=session.id, kind="rate_change", rate_ml_per_h="120",
           reason="Dizzy and anxious; slowed after talking it through.", at=dose_at + timedelta(minutes=12))
    services.adverse_event_record(by=cast.nurse, session_id=session.id, code="anxiety_agitation", severity="mild",
                                  outcome="resolved", serious=False, onset_at=dose_at + timedelta(minutes=11),
                                  action_taken="Reassurance and grounding by the therapist; rate reduced.")
    _vitals(session, cast, dose_at, [20, 30, 40])
    record(by=cast.nurse, session_id=session.id, kind="complete", at=dose_at + timedelta(minutes=46))
    _observe(session, cast, dose_at + timedelta(minutes=47), moaas=4, cadss=2)
    _vitals(session, cast, dose_at, [60, 80, 100])
    _discharge(session, cast, dose_at + timedelta(minutes=46 + 65))


def _begun(patient: Patient, episode: Episode, route: Route, n: int, site: Site, cast: _Cast,
           minutes: int) -> DosingSession | None:
    """Today's session that began at least ``minutes`` ago; early in the day, before
    there was time, the patient is booked to arrive later instead (None)."""
    starts = _begun_by(minutes)
    if not starts:
        _arriving(patient, episode, route, n, site, cast)
        return None
    return _session(patient, episode, site, starts, cast)


def _today_in_monitoring(patient: Patient, episode: Episode, route: Route, n: int, site: Site, cast: _Cast,
                         rng: random.Random) -> None:
    # Dosed an hour ago or more: the +30 check was taken and the +45 is late.
    session = _begun(patient, episode, route, n, site, cast, 70)
    if session is None:
        return
    now = timezone.now()
    dose_at = _to_administration(session, route, n, session.scheduled_start, cast)
    services.administration_record(by=cast.nurse, session_id=session.id, kind="given", at=min(dose_at, now))
    # The +30 minute blood pressure is high and its alarm is still open; the +45 check is late.
    _vitals(session, cast, dose_at, [5, 15, 30], until=now, bump={30: (184, 106, 98, 97, 16)})


def _today_waiting_for_order(patient: Patient, episode: Episode, route: Route, n: int, site: Site,
                             cast: _Cast, rng: random.Random) -> None:
    session = _begun(patient, episode, route, n, site, cast, 10)
    if session is None:
        return
    start = session.scheduled_start
    services.session_check_in(by=cast.nurse, session_id=session.id, at=start)
    session.refresh_from_db()
    _checklist(session, cast, n, min(start + timedelta(minutes=8), timezone.now()), systolic=132, diastolic=84)


def _arriving(patient: Patient, episode: Episode, route: Route, n: int, site: Site, cast: _Cast,
              rng: random.Random | None = None) -> None:
    """Booked for this morning, IM first, and not yet checked in (or, early in the day,
    due later)."""
    _session(patient, episode, site, _this_morning(time(8, 30) if route == Route.INTRAMUSCULAR else time(9, 0)), cast)
