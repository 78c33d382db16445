"""Demo care pathway: episodes at every stage, walked through the same services and
guards as in the clinic, then dated back to tell a believable story.

- The patients of the measures demo (the portal patient and seven others) are in an
  active series: screened, found eligible, planned, prepared, consented; integration
  notes follow their dosing sessions (one is overdue), one is in maintenance after a
  signed reassessment. The portal patient keeps a journal and practices.
- The next patients of the therapist's care team are at earlier stages: one at intake
  with nothing done yet (the browser test walks them to "ready to book"), one in
  screening, one awaiting the prescriber's eligibility decision (a relative
  contraindication to justify), one with a signed plan, one ready to book their first
  dosing session, one missing consent, one who must re-consent to a new version, and
  one discontinued (not eligible: an absolute contraindication).

Idempotent: nothing is added once the organisation has a consent document.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from openkap.accounts.authz import Actor, build_actor
from openkap.accounts.selectors import DEMO_PASSWORD
from openkap.core.authz import Role
from openkap.core.pathway import CHECKLIST
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.demo import DemoContext
from openkap.dosing.models import DosingSession
from openkap.measures import services as measures
from openkap.pathway import services
from openkap.pathway.models import (
    Commitment,
    CommitmentCheck,
    ConsentDocument,
    ConsentSignature,
    EligibilityDecision,
    Episode,
    EpisodeTransition,
    Intake,
    Intention,
    JournalEntry,
    SafetyPlan,
    SessionArrangements,
    TreatmentPlan,
)
from openkap.pathway.selectors import consent_status, current_episode
from openkap.patients.models import CareTeamMember, Patient

PROTOCOL_FOR = {
    Route.IV_INFUSION: "iv-ketamine-infusion",
    Route.INTRAMUSCULAR: "im-ketamine",
    Route.INTRANASAL_ESKETAMINE: "intranasal-esketamine-spravato",
    Route.INTRANASAL_RACEMIC: "intranasal-ketamine-racemic",
    Route.SUBLINGUAL: "sublingual-ketamine-lozenge",
    Route.ORAL: "oral-ketamine",
}

# Routes of the active-series patients, in the measures demo's order (portal patient first).
SERIES_ROUTES = (
    Route.INTRANASAL_ESKETAMINE, Route.IV_INFUSION, Route.SUBLINGUAL, Route.INTRANASAL_ESKETAMINE,
    Route.IV_INFUSION, Route.SUBLINGUAL, Route.INTRANASAL_RACEMIC, Route.IV_INFUSION,
)
MAINTENANCE_INDEX = 5  # "remitter, follow-up" in the measures demo: 40 days since the last session
OVERDUE_INDEX = 7  # the last session's integration is missing and overdue

PRESENTING = [
    "Depression for six years; two SSRIs and bupropion helped only partly. Low energy, withdrawn from friends.",
    "Recurrent depression since university, worse since a divorce last year; cannot concentrate at work.",
    "PTSD after a car accident three years ago, with depression; nightmares, avoids driving.",
    "Treatment-resistant depression; four adequate antidepressant trials, one course of TMS with brief benefit.",
    "Grief and depression after the death of a partner; stuck, numb, sleeping badly.",
    "Chronic depression with anxiety; harsh self-criticism, perfectionism, burnout.",
    "Depression and alcohol use that has crept up during lockdowns; wants to change both.",
    "Existential distress and low mood after a cancer diagnosis (in remission).",
]
DIAGNOSES = [
    [("F33.2", "Major depressive disorder, recurrent, severe without psychotic features")],
    [("F33.1", "Major depressive disorder, recurrent, moderate"), ("F41.1", "Generalized anxiety disorder")],
    [("F43.10", "Post-traumatic stress disorder, unspecified"), ("F32.1", "Major depressive disorder, single episode, moderate")],
    [("F33.2", "Major depressive disorder, recurrent, severe without psychotic features")],
    [("F43.21", "Adjustment disorder with depressed mood"), ("F32.1", "Major depressive disorder, single episode, moderate")],
    [("F34.1", "Dysthymic disorder"), ("F41.1", "Generalized anxiety disorder")],
    [("F33.1", "Major depressive disorder, recurrent, moderate"), ("F10.10", "Alcohol abuse, uncomplicated")],
    [("F32.1", "Major depressive disorder, single episode, moderate"), ("Z85.3", "Personal history of malignant neoplasm of breast")],
]
MEDICATIONS = ["Sertraline 150 mg daily", "Bupropion XL 300 mg daily", "Escitalopram 20 mg daily",
               "Venlafaxine XR 150 mg daily", "Lamotrigine 100 mg daily; trazodone 50 mg at night"]
INTENTIONS = [
    "Meet the sadness underneath the numbness with kindness.",
    "Understand what keeps me from reaching out to people.",
    "Let my body feel safe again.",
    "See my life from a wider view, beyond the diagnosis.",
    "Be curious about the critical voice instead of obeying it.",
]
SAFETY = {
    "coping_plan": "If it gets intense: breathe out slowly, feel my hands on the blanket, squeeze the therapist's "
                   "hand, remember it is the medicine and it will pass. I can ask to take the eyeshades off.",
    "warning_signs": "Sleeping less than five hours, cancelling plans, thinking 'what's the point'.",
    "coping_strategies": "Walk the dog, shower, call my sister, guided breathing app, write in my journal.",
    "people_and_places": "My sister; my friend from work; the coffee shop on 5th; the park by the river.",
    "professionals_and_crisis_lines": "Therapist Jordan Ellis (clinic line (555) 010-2026); "
                                      "988 Suicide & Crisis Lifeline (call or text 988); 911 in an emergency.",
    "means_safety": "No firearms at home; my partner keeps the sleeping tablets; alcohol out of the house during the series.",
}
ESCORTS = [("Ana", "sister"), ("Marcus", "partner"), ("Priya", "friend"), ("Tom", "husband"), ("Lena", "wife"),
           ("Sam", "friend"), ("Jo", "mother"), ("Chris", "partner")]
JOURNAL = [
    "After the session I slept for ten hours. Today I noticed the trees on the way to work, "
    "which I haven't done in months.",
    "Talked to my sister about Dad for the first time without crying. Something has loosened.",
    "A hard day. The old voice came back saying nothing will change. I read my intentions and went for the walk anyway.",
]
PRACTICES = ["Ten minutes of mindful walking in the morning", "Write three lines in the journal before bed",
             "Call one friend each week"]


def seed(context: DemoContext) -> None:
    org = context.organization
    if ConsentDocument.objects.filter(organization=org).exists():
        return
    staff = context.staff
    therapist, prescriber, admin = staff[Role.THERAPIST], staff[Role.PRESCRIBER], staff[Role.ADMIN]
    t = build_actor(therapist, org, user_agent="seed-demo")
    p = build_actor(prescriber, org, user_agent="seed-demo")
    portal = Patient.objects.filter(organization=org, user__isnull=False).order_by("id").first()
    if portal is None:
        return
    for user, role in ((therapist, Role.THERAPIST), (prescriber, Role.PRESCRIBER)):
        CareTeamMember.objects.get_or_create(
            organization=org, patient=portal, user=user, role=role, ended_at__isnull=True
        )
    team = list(
        Patient.objects.filter(organization=org, care_team__user=therapist, care_team__ended_at__isnull=True)
        .exclude(id=portal.id).distinct().order_by("id")
    )
    series, others = [portal, *team[: len(SERIES_ROUTES) - 1]], team[len(SERIES_ROUTES) - 1:]
    rng = random.Random(context.rng.random())

    _consent_documents(build_actor(admin, org, user_agent="seed-demo"))
    for patient in series:
        if current_episode(patient) is None:
            services.episode_open(by=t, patient_id=patient.id)
    # The measures demo writes the baseline questionnaires the screening guard needs;
    # once the patients are prepared and consented it books their held dosing sessions
    # through the scheduling service (whose guard needs all that) and writes the
    # questionnaires around them. So the episodes pass the same guards as in the clinic.
    from openkap.measures import demo as measures_demo

    measures_demo.baselines(context)
    ready = [n for n, patient in enumerate(series) if _ready_for_series(patient, n, t, p, rng)]
    measures_demo.series(context)
    for n in ready:
        _active_series(series[n], n, t, p, rng)
    for step, patient in zip(EARLIER_STAGES, others, strict=False):
        step(patient, t, p, rng, len(series) + EARLIER_STAGES.index(step))


# --- consent documents -------------------------------------------------------------------------

ROUTE_SESSION = {
    Route.IV_INFUSION: (
        "A nurse places a small cannula in a vein of your arm and the medicine runs in over about 40 minutes "
        "through a pump. Your blood pressure, heart rate and oxygen are measured before, during and after."
    ),
    Route.INTRAMUSCULAR: (
        "The medicine is given as a small injection into the muscle of your upper arm. Its effects begin within "
        "a few minutes and are strongest for about 45 minutes. Your vital signs are measured throughout."
    ),
    Route.INTRANASAL_ESKETAMINE: (
        "You give yourself esketamine (Spravato) nasal spray under direct observation, one device every five "
        "minutes. Spravato is approved by the FDA for treatment-resistant depression and is only available "
        "through a restricted programme (REMS): you must stay at the clinic for at least two hours after the "
        "dose, until a clinician decides you are ready to leave."
    ),
    Route.INTRANASAL_RACEMIC: (
        "You use a nasal spray of compounded racemic ketamine under observation, a few sprays minutes apart. "
        "How much reaches your blood varies from person to person more than with an injection."
    ),
    Route.SUBLINGUAL: (
        "You hold a ketamine lozenge (troche) between cheek and gum, without swallowing, for about 15 minutes, "
        "then spit out what is left. Effects begin after 10 to 20 minutes and are gentler than by injection."
    ),
    Route.ORAL: (
        "You swallow a measured dose of ketamine solution. Much of it is broken down by the liver before it "
        "reaches the brain, so effects begin later (30 to 60 minutes) and are milder and longer."
    ),
}

CONSENT_TEXT = """This document explains ketamine-assisted psychotherapy (KAP) at {clinic} so that you can decide whether to take part. Please read it carefully and ask us anything that is unclear. You may take it home before signing.

1. What the treatment is
KAP combines psychotherapy with one or more medicine sessions in which you receive ketamine. The medicine can loosen fixed patterns of thought and feeling for a while; the therapy before (preparation) and after (integration) helps you make use of what you experience. The medicine is one part of the treatment, not the whole of it.

2. How a medicine session works ({route})
{session}
You rest in a quiet room with eyeshades and music if you wish. A therapist stays with you; a nurse or physician monitors you. Most sessions last two to three hours including recovery. You will be discharged only when you are alert and steady, to the adult who takes you home.

3. What you may feel
Common effects during the session: feeling detached from your body or surroundings (dissociation), changes in how you see, hear or sense time, dreamlike experiences, dizziness, nausea, numbness, sleepiness, and a temporary rise in blood pressure and heart rate. Some experiences can be frightening or bring up strong emotions; your therapist will help you through them. Effects wear off within a few hours.

4. Risks
- Blood pressure: ketamine raises blood pressure for about an hour. We measure it before and during each session and will delay or stop a session if it is too high.
- Bladder: frequent, high-dose ketamine use (far above clinical doses) can damage the bladder. Tell us about any pain or urgency when passing urine.
- Misuse: ketamine is a Schedule III controlled substance and can be misused. We only give it in the clinic.
- Medicines and alcohol: benzodiazepines, opioids, sleeping tablets and alcohol increase sedation; stimulants and MAO inhibitors increase blood pressure. Tell us about every medicine and substance you take.
- Pregnancy: ketamine is not recommended in pregnancy or while breastfeeding.
- Rarely: allergic reaction, slowed breathing, confusion or agitation on waking. Staff trained to manage these are always present.

5. Safety rules
- Do not eat for 2 hours (and drink only clear fluids for 1 hour) before a session, unless we tell you otherwise.
- Do not drink alcohol for 24 hours before and after a session.
- Do not drive, operate machinery or make important decisions until the next day, after a restful sleep.
- An adult must take you home after every session. We will not discharge you without your escort.

6. Benefits and uncertainty
Many people with depression, PTSD or anxiety that has not responded to other treatment feel better after a series of sessions, some within days. Benefits are not guaranteed and may fade; we measure your progress with questionnaires and adjust or stop the treatment with you.

7. Alternatives
Other options include antidepressant medicines, psychotherapy without medicine, transcranial magnetic stimulation (TMS), electroconvulsive therapy (ECT) and esketamine (Spravato). Apart from esketamine for treatment-resistant depression, the use of ketamine for mental health conditions is off-label: it is legal and common, but not approved by the FDA for this purpose.

8. Your rights
Taking part is voluntary. You may ask questions at any time, decline a session, or withdraw your consent at any time without affecting your other care at the clinic. You can withdraw in the patient portal or by telling any member of your care team.

9. Privacy
Your records are confidential and kept according to HIPAA. Your therapist's psychotherapy notes are kept separately and are not shared without your permission.

10. In a crisis
Call or text 988 (Suicide & Crisis Lifeline), call 911, or go to the nearest emergency department. Between sessions you can reach the clinic at (555) 010-2026 during opening hours.

By typing my full legal name below, I confirm that I have read this document, that my questions have been answered, and that I agree to ketamine-assisted psychotherapy by {route_short}."""


# The demo's consent documents are dated this long ago: before any story's episode opened.
CONSENT_IN_FORCE_FOR = timedelta(days=3 * 365)


def consent_text(route: Route, clinic: str) -> str:
    return CONSENT_TEXT.format(
        clinic=clinic, route=ROUTE_LABELS[route], session=ROUTE_SESSION[route],
        route_short=ROUTE_LABELS[route].split(" (")[0].lower(),
    )


def _consent_documents(admin: Actor) -> None:
    clinic = admin.organization.name
    for route in Route:
        document = services.consent_document_publish(
            by=admin, route=route, title=f"Consent to ketamine-assisted psychotherapy: {ROUTE_LABELS[route]}",
            text=consent_text(route, clinic),
        )
        # Demo only: in force before the oldest story's episode, so no one signed it before it existed.
        ConsentDocument.objects.filter(pk=document.pk).update(published_at=timezone.now() - CONSENT_IN_FORCE_FOR)


# --- walking an episode ------------------------------------------------------------------------


def _intake(patient: Patient, n: int, route: Route, rng: random.Random, **changes: Any) -> dict[str, Any]:
    latest = patient.weights.order_by("-measured_on").first()
    weight = latest.weight_kg if latest else 70
    data: dict[str, Any] = {
        "presenting_problems": PRESENTING[n % len(PRESENTING)],
        "diagnoses": [{"code": c, "description": d} for c, d in DIAGNOSES[n % len(DIAGNOSES)]],
        "psychiatric_history": "Outpatient treatment since early twenties; no hospitalisations; no suicide attempts.",
        "medical_history": rng.choice(["Well-controlled asthma.", "Migraine without aura.", "Hypothyroidism on levothyroxine.", "None significant."]),
        "current_medications": patient.current_medications or rng.choice(MEDICATIONS),
        "substance_use": rng.choice(["Alcohol 2–3 drinks a week; no other substances.", "No alcohol; occasional cannabis in the past.", "Alcohol socially; quit smoking 2019."]),
        "prior_psychedelic_use": rng.choice(["None.", "Psilocybin once, ten years ago; a good experience.", "None; anxious about losing control."]),
        "pregnancy_status": "not_pregnant" if patient.sex_at_birth == "female" else "not_applicable",
        "systolic_bp": rng.randint(112, 134), "diastolic_bp": rng.randint(70, 84),
        "intended_route": route.value, "weight_value": str(weight), "weight_unit": "kg",
    }
    return data | changes


def _baseline(t: Actor, patient: Patient, rng: random.Random) -> None:
    """The questionnaires a new patient fills in before screening, entered at intake."""
    phq = [rng.choice((1, 2, 2, 3)) for _ in range(8)] + [0]
    measures.response_enter(by=t, patient_id=patient.id, instrument_id="phq9", occasion="baseline",
                            answers={f"q{i}": v for i, v in enumerate(phq, 1)})
    measures.response_enter(by=t, patient_id=patient.id, instrument_id="gad7", occasion="baseline",
                            answers={f"q{i}": rng.choice((1, 1, 2, 3)) for i in range(1, 8)})
    measures.response_enter(by=t, patient_id=patient.id, instrument_id="cssrs-recent", occasion="baseline",
                            answers={"q1": 0, "q2": 0, "q6": 0})


def _checklist(t: Actor, patient: Patient, present: tuple[str, ...] = (), skip: int = 0) -> None:
    items = [item.id for item in CHECKLIST.items]
    answers: dict[str, bool | None] = {i: i in present for i in items[: len(items) - skip]}
    notes = dict.fromkeys(present, "Confirmed at the screening interview.")
    services.checklist_record(by=t, patient_id=patient.id, answers=answers, notes=notes)


def _eligible(p: Actor, patient: Patient, justifications: dict[str, str] | None = None, conditions: str = "") -> None:
    services.eligibility_sign(
        by=p, patient_id=patient.id,
        outcome="eligible_with_conditions" if conditions else "eligible",
        reasons="Moderate to severe depression with an inadequate response to at least two treatments; "
                "medically stable; no absolute contraindication; motivated for psychotherapy.",
        conditions=conditions, justifications=justifications or {}, password=DEMO_PASSWORD,
    )


def _plan(p: Actor, patient: Patient, route: Route, n: int, sessions: int = 6) -> None:
    services.plan_sign(
        by=p, patient_id=patient.id, password=DEMO_PASSWORD,
        indication=DIAGNOSES[n % len(DIAGNOSES)][0][1], route=route.value, protocol_id=PROTOCOL_FOR[route],
        dose_level="psycholytic" if n % 3 else "psychedelic", dosing_sessions_planned=sessions,
        integration_cadence_days=7,
        measure_schedule={"baseline": ["pcl5", "auditc", "dast10"], "before_dosing": ["phq9", "gad7", "cssrs-slv"],
                          "after_integration": ["phq9", "gad7"], "reassessment": ["phq9", "gad7", "cssrs-recent"],
                          "follow_up": ["phq9", "gad7"]},
        goals=("PHQ-9 below 10 and sustained for three months. "
               "Return to the activities the patient values: " + ("work and climbing" if n % 2 else "family and music") + "."),
    )


def _prepare(t: Actor, patient: Patient, n: int, held_on: date, *, escort: bool = True) -> None:
    services.preparation_session_record(
        by=t, patient_id=patient.id, held_on=held_on,
        notes="Reviewed what to expect, music and eyeshades, how to ask for help; practised grounding. "
              "Wrote intentions together.",
    )
    services.intention_add(by=t, patient_id=patient.id, text=INTENTIONS[n % len(INTENTIONS)])
    services.safety_plan_save(by=t, patient_id=patient.id, sections=SAFETY)
    services.pre_session_instructions_set(
        by=t, patient_id=patient.id,
        fasting="Nothing to eat for 2 hours before; clear fluids until 1 hour before.",
        medications_to_hold="Skip your evening lorazepam the night before, if you take it. Take your other medicines as usual.",
        what_to_bring="Comfortable clothes, eyeshades if you have your own, a water bottle, your journal.",
    )
    if escort:
        name, relationship = ESCORTS[n % len(ESCORTS)]
        services.escort_arrange(by=t, patient_id=patient.id, name=f"{name} {patient.legal_family_name}",
                                phone=f"(555) 01{n % 10}-{4000 + n * 37}", relationship=relationship)


def _consent(t: Actor, patient: Patient) -> None:
    episode = current_episode(patient)
    assert episode is not None
    status = consent_status(episode)
    assert status.document is not None
    services.consent_sign_in_clinic(by=t, patient_id=patient.id, typed_name=patient.legal_name,
                                    document_sha256=status.text_sha256)


def _move(t: Actor, episode: Episode, *names: str) -> None:
    for name in names:
        services.episode_transition(by=t, episode_id=episode.id, name=name)


def _date_back(episode: Episode, opened: datetime, when: dict[str, datetime]) -> None:
    """Set the story's dates on records written just now (demo only: real records keep their times)."""
    Episode.objects.filter(pk=episode.pk).update(opened_at=opened)
    for transition in EpisodeTransition.objects.filter(episode=episode):
        if transition.name in when:
            EpisodeTransition.objects.filter(pk=transition.pk).update(at=when[transition.name])
    screened = when.get("start_screening", opened)
    Intake.objects.filter(episode=episode).update(completed_at=screened, updated_at=screened)
    decided = when.get("confirm_eligibility", screened)
    EligibilityDecision.objects.filter(episode=episode).update(signed_at=decided - timedelta(hours=2))
    planned = when.get("start_preparation", decided)
    TreatmentPlan.objects.filter(episode=episode, version=1).update(signed_at=planned - timedelta(hours=3))
    Intention.objects.filter(episode=episode).update(written_at=planned + timedelta(days=2))
    SafetyPlan.objects.filter(episode=episode).update(recorded_at=planned + timedelta(days=2))
    SessionArrangements.objects.filter(episode=episode).update(updated_at=planned + timedelta(days=2))
    ConsentSignature.objects.filter(episode=episode).update(signed_at=planned + timedelta(days=3))


# --- the active series (the measures demo's patients) -----------------------------------------------


def _ready_for_series(patient: Patient, n: int, t: Actor, p: Actor, rng: random.Random) -> bool:
    """Screened, found eligible, planned, prepared and consented: a dosing session may
    be booked. False when the episode is past intake already."""
    from openkap.measures.demo import series_days

    episode = current_episode(patient)
    if episode is None or episode.state != "intake":
        return False
    route = SERIES_ROUTES[n]
    services.intake_save(by=t, patient_id=patient.id, data=_intake(patient, n, route, rng), complete=True)
    _move(t, episode, "start_screening")
    present = ("cns_depressants",) if n == 4 else ("uncontrolled_hypertension",) if n == 2 else ()
    _checklist(t, patient, present)
    _move(t, episode, "request_eligibility")
    if n == 4:
        _eligible(p, patient, {"cns_depressants": "Lorazepam 0.5 mg as needed, rarely used; held for 24 hours before sessions."},
                  conditions="No lorazepam in the 24 hours before a session.")
    elif n == 2:
        _eligible(p, patient, {"uncontrolled_hypertension": "Home readings 135–145/85–90 on amlodipine; "
                                                            "GP adjusting. Sublingual route, lower peak."},
                  conditions="Blood pressure below 150/95 before each dose, else the session is postponed.")
    else:
        _eligible(p, patient)
    _move(t, episode, "confirm_eligibility")
    _plan(p, patient, route, n)
    _move(t, episode, "start_preparation")
    _prepare(t, patient, n, held_on=series_days(n)[0] - timedelta(days=4))
    _consent(t, patient)
    return True


def _active_series(patient: Patient, n: int, t: Actor, p: Actor, rng: random.Random) -> None:
    """The series under way with its held sessions; integration notes follow them, the
    maintenance patient has been reassessed; dated back to tell the story."""
    episode = current_episode(patient)
    assert episode is not None  # opened earlier in the story
    held = list(DosingSession.objects.filter(episode=episode, status=DosingSession.Status.DISCHARGED)
                .order_by("scheduled_start"))
    started = [s.started_at or s.scheduled_start for s in held]  # discharged: started
    first = started[0] if held else timezone.now() - timedelta(days=14)
    opened = first - timedelta(days=16)
    _move(t, episode, "start_series")
    for k, (s, start) in enumerate(zip(held, started, strict=True)):
        integrated = timezone.localtime(start + timedelta(days=3)).date()
        if integrated > timezone.localdate() or (n == OVERDUE_INDEX and k == len(held) - 1):
            continue
        services.integration_note_write(
            by=t, patient_id=patient.id, session_date=integrated, template=("dap", "soap", "ifs", "mindfulness")[k % 4],
            sections=_integration_sections(k), dosing_session_id=s.id,
        )
    when = {
        "start_screening": opened + timedelta(hours=3), "request_eligibility": opened + timedelta(days=3),
        "confirm_eligibility": opened + timedelta(days=5), "start_preparation": opened + timedelta(days=6),
        "start_series": first - timedelta(days=1),
    }
    if n == MAINTENANCE_INDEX and held:
        _move(t, episode, "end_series")
        for instrument, answers in REASSESSMENT_ANSWERS.items():
            measures.response_enter(by=t, patient_id=patient.id, instrument_id=instrument, answers=answers,
                                    occasion="reassessment")
        services.reassessment_sign(
            by=p, patient_id=patient.id, password=DEMO_PASSWORD, recommendation="maintenance",
            summary="Remission after six sessions (PHQ-9 from 16 to 3). Sleep and work restored. "
                    "Monthly maintenance sessions for three months, then review.",
        )
        _move(t, episode, "start_maintenance")
        last = started[-1]
        when |= {"end_series": last + timedelta(days=5), "start_maintenance": last + timedelta(days=8)}
    _date_back(episode, opened, when)
    if patient.user_id:
        _journal(patient, rng)
    if n in (0, 3):
        _psychotherapy_notes(t, patient, share_with=p if n == 0 else None)


# A remitted patient's answers at reassessment (the plan's baseline set, repeated).
REASSESSMENT_ANSWERS: dict[str, dict[str, int]] = {
    "phq9": {f"q{i}": int(i < 4) for i in range(1, 10)},
    "gad7": {f"q{i}": int(i < 3) for i in range(1, 8)},
    "cssrs-recent": {"q1": 0, "q2": 0, "q6": 0},
    "pcl5": {f"q{i}": int(i in (1, 4, 17)) for i in range(1, 21)},
    "auditc": {"q1": 1, "q2": 0, "q3": 0},
    "dast10": {f"q{i}": int(i == 3) for i in range(1, 11)},
}


def _integration_sections(k: int) -> dict[str, str]:
    return [
        {"data": "Describes 'floating above the room' and seeing her younger self at the kitchen table. Tearful, "
                 "then calm. Sleep better since.", "assessment": "Early softening of self-blame.",
         "plan": "Journal the image; practise the breathing; next dosing session as planned."},
        {"subjective": "Felt lighter for three days, then the heaviness returned partly.",
         "objective": "Brighter affect, more eye contact. PHQ-9 down 4 points.",
         "assessment": "Partial early response.", "plan": "Commitment: a morning walk. Continue the series."},
        {"parts": "A protector who keeps everyone at a distance; a young part afraid of being a burden.",
         "self_energy": "Could feel compassion toward the young part for a few minutes.",
         "integration": "Check in with the young part daily."},
        {"practice": "Walking meditation five mornings this week.",
         "observations": "Noticed the urge to ruminate and let it pass twice.",
         "home_practice": "Body scan before sleep."},
    ][k % 4]


def _journal(patient: Patient, rng: random.Random) -> None:
    now = timezone.now()
    episode = current_episode(patient)
    assert episode is not None  # a portal patient in a series
    assert patient.user is not None
    for days, text in zip((9, 5, 1), JOURNAL, strict=True):
        JournalEntry.objects.create(organization=patient.organization, patient=patient, episode=episode,
                                    text=text, written_at=now - timedelta(days=days, hours=rng.randint(1, 6)))
    for k, text in enumerate(PRACTICES):
        commitment = Commitment.objects.create(organization=patient.organization, patient=patient, episode=episode,
                                               text=text, created_at=now - timedelta(days=16 - 3 * k))
        for day in range(14 - 3 * k):
            if rng.random() < 0.7 - 0.15 * k:
                CommitmentCheck.objects.create(organization=patient.organization, commitment=commitment,
                                               done_on=timezone.localdate() - timedelta(days=day))
    Intention.objects.create(organization=patient.organization, episode=episode, written_by=patient.user,
                             by_patient=True, text="To forgive myself for the years I lost to this.")


def _psychotherapy_notes(t: Actor, patient: Patient, share_with: Actor | None) -> None:
    note = services.psychotherapy_note_write(
        by=t, patient_id=patient.id, session_date=timezone.localdate() - timedelta(days=6),
        text="Process notes. Spoke about her father's drinking and the role of the 'good child'. Strong "
             "countertransference: I wanted to rescue. Hypothesis: the numbness protects against anger. "
             "Explore next time, gently.",
    )
    if share_with is not None:
        services.psychotherapy_note_grant(by=t, patient_id=patient.id, note_id=note.id, user_id=share_with.user.id)


# --- earlier stages ----------------------------------------------------------------------------


def _at_intake(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    services.episode_open(by=t, patient_id=patient.id)


def _in_screening(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    episode = services.episode_open(by=t, patient_id=patient.id)
    services.intake_save(by=t, patient_id=patient.id, data=_intake(patient, n, Route.IV_INFUSION, rng), complete=True)
    _move(t, episode, "start_screening")
    measures.response_enter(by=t, patient_id=patient.id, instrument_id="phq9", occasion="baseline",
                            answers={f"q{i}": int(i in (1, 2, 4, 6)) * 2 for i in range(1, 10)})
    _checklist(t, patient, skip=5)
    _date_back(episode, timezone.now() - timedelta(days=3), {"start_screening": timezone.now() - timedelta(days=2)})


def _awaiting_eligibility(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    episode = services.episode_open(by=t, patient_id=patient.id)
    data = _intake(patient, n, Route.INTRANASAL_ESKETAMINE, rng, systolic_bp=148, diastolic_bp=94)
    services.intake_save(by=t, patient_id=patient.id, data=data, complete=True)
    _move(t, episode, "start_screening")
    _baseline(t, patient, rng)
    _checklist(t, patient, ("uncontrolled_hypertension",))
    _move(t, episode, "request_eligibility")
    opened = timezone.now() - timedelta(days=8)
    _date_back(episode, opened, {"start_screening": opened + timedelta(hours=2),
                                 "request_eligibility": timezone.now() - timedelta(days=1)})


def _screened_and_eligible(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int, route: Route) -> Episode:
    episode = services.episode_open(by=t, patient_id=patient.id)
    services.intake_save(by=t, patient_id=patient.id, data=_intake(patient, n, route, rng), complete=True)
    _move(t, episode, "start_screening")
    _baseline(t, patient, rng)
    _checklist(t, patient)
    _move(t, episode, "request_eligibility")
    _eligible(p, patient)
    _move(t, episode, "confirm_eligibility")
    _plan(p, patient, route, n)
    return episode


def _planned(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    episode = _screened_and_eligible(patient, t, p, rng, n, Route.SUBLINGUAL)
    opened = timezone.now() - timedelta(days=12)
    _date_back(episode, opened, {"start_screening": opened + timedelta(hours=2),
                                 "request_eligibility": opened + timedelta(days=4),
                                 "confirm_eligibility": timezone.now() - timedelta(days=2)})


def _prepared(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int, route: Route,
              *, consent: bool = True) -> Episode:
    episode = _screened_and_eligible(patient, t, p, rng, n, route)
    _move(t, episode, "start_preparation")
    _prepare(t, patient, n, held_on=timezone.localdate() - timedelta(days=2))
    if consent:
        _consent(t, patient)
    opened = timezone.now() - timedelta(days=20)
    _date_back(episode, opened, {"start_screening": opened + timedelta(hours=2),
                                 "request_eligibility": opened + timedelta(days=5),
                                 "confirm_eligibility": opened + timedelta(days=8),
                                 "start_preparation": opened + timedelta(days=9)})
    return episode


def _ready_to_book(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    _prepared(patient, t, p, rng, n, Route.INTRANASAL_ESKETAMINE)


def _missing_consent(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    _prepared(patient, t, p, rng, n, Route.IV_INFUSION, consent=False)


def _must_re_consent(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    """Signed the intramuscular consent v1; v2 (longer monitoring) was published since."""
    _prepared(patient, t, p, rng, n, Route.INTRAMUSCULAR)
    org = patient.organization
    document = ConsentDocument.objects.filter(organization=org).first()
    assert document is not None  # the clinic's consent documents are seeded first
    admin = build_actor(document.published_by, org, user_agent="seed-demo")
    text = consent_text(Route.INTRAMUSCULAR, org.name).replace(
        "Your vital signs are measured throughout.",
        # The time comes from the protocol when the patient signs (issue 21.7: it said 90, the protocol 120).
        "Your vital signs are measured throughout, and you stay with us for at least {{monitoring_minutes}} minutes "
        "after the injection.",
    )
    services.consent_document_publish(by=admin, route=Route.INTRAMUSCULAR,
                                      title=f"Consent to ketamine-assisted psychotherapy: {ROUTE_LABELS[Route.INTRAMUSCULAR]}",
                                      text=text)


def _not_eligible(patient: Patient, t: Actor, p: Actor, rng: random.Random, n: int) -> None:
    episode = services.episode_open(by=t, patient_id=patient.id)
    services.intake_save(by=t, patient_id=patient.id, data=_intake(patient, n, Route.IV_INFUSION, rng,
                         medical_history="Arteriovenous malformation found on MRI in 2021, under neurosurgical follow-up."),
                         complete=True)
    _move(t, episode, "start_screening")
    _baseline(t, patient, rng)
    _checklist(t, patient, ("arteriovenous_malformation",))
    _move(t, episode, "request_eligibility")
    services.eligibility_sign(by=p, patient_id=patient.id, outcome="not_eligible", password=DEMO_PASSWORD,
                              reasons="Arteriovenous malformation: ketamine's rise in blood pressure is an unacceptable "
                                      "risk. Referred back to the psychiatrist for TMS.")
    services.episode_transition(by=t, episode_id=episode.id, name="discontinue",
                                reason="Not eligible (arteriovenous malformation); referred for TMS.")
    opened = timezone.now() - timedelta(days=30)
    _date_back(episode, opened, {"start_screening": opened + timedelta(hours=2),
                                 "request_eligibility": opened + timedelta(days=6),
                                 "discontinue": opened + timedelta(days=9)})
    Episode.objects.filter(pk=episode.pk).update(closed_at=opened + timedelta(days=9))


EARLIER_STAGES = (
    _at_intake, _in_screening, _awaiting_eligibility, _planned, _ready_to_book, _missing_consent,
    _must_re_consent, _not_eligible,
)
