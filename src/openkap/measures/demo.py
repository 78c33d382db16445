"""Demo measures: a course of care for a handful of patients with realistic PHQ-9 and
GAD-7 series around their dosing sessions, so the Measures tab tells a story.

Most patients improve after the first sessions (some remit), one does not respond, and
one answers PHQ-9 item 9 "several days" after their last integration session, which
leaves an open urgent task. The portal patient (patient@demo.openkap.org) had an
integration session this morning, so their after-integration questionnaires are due
now. Upcoming dosing sessions are left to the scheduling demo, which books them
through the pathway's guards. Idempotent: nothing is added once the clinic
has any response.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from openkap.accounts.authz import build_actor
from openkap.accounts.models import Room
from openkap.core.authz import Role
from openkap.core.instruments import get_instrument
from openkap.core.pathway.episode import State
from openkap.demo import DemoContext
from openkap.dosing.models import DosingSession
from openkap.measures import services
from openkap.measures.models import MeasureAssignment, MeasureResponse, Occasion, Via
from openkap.pathway.models import Episode
from openkap.pathway.selectors import current_episode
from openkap.patients.models import CareTeamMember, Patient


@dataclass(frozen=True)
class Story:
    name: str
    phq9: int  # baseline totals
    gad7: int
    keep: float  # fraction of the baseline left at the end of the series
    sessions_done: int
    item9_after_last_integration: bool = False
    days_since_last: int = 3
    # The last integration session was this morning and its questionnaires are still to do.
    last_integration_today: bool = False
    # The last session's integration has not happened (the pathway demo shows it overdue).
    last_integration_missing: bool = False


STORIES = (
    Story("responder (portal)", 19, 15, 0.42, 4, last_integration_today=True),
    Story("remitter", 21, 16, 0.16, 6),
    Story("responder", 17, 13, 0.45, 6),
    Story("non-responder", 19, 14, 0.92, 6),
    Story("item 9 positive", 22, 17, 0.55, 6, item9_after_last_integration=True, days_since_last=5),
    Story("remitter, follow-up", 16, 12, 0.2, 6, days_since_last=40),
    Story("partial responder", 20, 15, 0.6, 5),
    Story("responder, integration overdue", 18, 11, 0.4, 6, days_since_last=9, last_integration_missing=True),
)
SESSION_GAP_DAYS = 7
INTEGRATION_AFTER_DAYS = 3


def seed(context: DemoContext) -> None:
    org = context.organization
    if MeasureResponse.objects.filter(organization=org).exists():
        return
    therapist, prescriber, nurse = (context.staff[r] for r in (Role.THERAPIST, Role.PRESCRIBER, Role.NURSE))
    portal = Patient.objects.filter(organization=org, user__isnull=False).order_by("id").first()
    if portal is None:
        return
    for user, role in ((therapist, Role.THERAPIST), (prescriber, Role.PRESCRIBER)):
        CareTeamMember.objects.get_or_create(
            organization=org, patient=portal, user=user, role=role, ended_at__isnull=True
        )
    others = list(
        Patient.objects.filter(organization=org, care_team__user=therapist, care_team__ended_at__isnull=True)
        .exclude(id=portal.id).distinct().order_by("id")[: len(STORIES) - 1]
    )
    rng = random.Random(context.rng.random())
    site = context.sites[0]
    room = Room.objects.filter(site=site, kind=Room.Kind.DOSING).order_by("name").first()
    for patient, story in zip([portal, *others], STORIES, strict=False):
        _course(patient, story, rng=rng, site=site, room=room, staff=(therapist, nurse))


def _episode(patient: Patient, opened_at: datetime, by) -> Episode:  # type: ignore[no-untyped-def]
    episode = current_episode(patient)
    if episode is None:
        episode = Episode.objects.create(
            organization=patient.organization, patient=patient, state=State.ACTIVE, opened_at=opened_at,
            opened_by=by,
        )
    return episode


def _course(patient: Patient, story: Story, *, rng: random.Random, site, room, staff) -> None:  # type: ignore[no-untyped-def]
    therapist, nurse = staff
    org = patient.organization
    now = timezone.now().replace(second=0, microsecond=0)
    last_start = now - timedelta(days=story.days_since_last)
    first_start = last_start - timedelta(days=SESSION_GAP_DAYS * (story.sessions_done - 1))
    opened = first_start - timedelta(days=16)
    episode = _episode(patient, opened, therapist)
    if not DosingSession.objects.filter(episode=episode).exists():
        starts = [
            (first_start + timedelta(days=SESSION_GAP_DAYS * k, hours=rng.choice((-2, 0, 1, 2)))).replace(minute=0)
            for k in range(story.sessions_done)
        ]
        for start in starts:
            DosingSession.objects.create(
                organization=org, patient=patient, episode=episode, site=site, room=room,
                status=DosingSession.Status.DISCHARGED, scheduled_start=start, started_at=start,
                discharged_at=start + timedelta(hours=2, minutes=30), created_by=therapist, created_at=opened,
            )
    services.sync_schedule(episode, by=None, now=opened)
    clinician = build_actor(therapist, org, user_agent="seed-demo")
    check_in = build_actor(nurse, org, user_agent="seed-demo")
    via = Via.PORTAL if patient.user_id else Via.LINK

    def fill(assignment: MeasureAssignment, answers: dict, when: datetime) -> None:
        when = min(when, now - timedelta(minutes=rng.randint(20, 90)))
        instrument = services.instrument_for(org.id, assignment.instrument_id)
        if instrument.rater.value == "clinician-rated":
            services.response_enter(
                by=check_in if assignment.occasion == Occasion.BEFORE_DOSING else clinician,
                patient_id=patient.id, instrument_id=instrument.id, answers=answers,
                assignment_id=assignment.id, completed_at=when,
            )
            return
        # The patient's own answers, given in the portal (or through a link) at `when`.
        services._record(
            organization=org, patient=patient, instrument=instrument, answers=answers, supplementary={},
            source=services._Source(via, patient.user, False, None), episode=episode,
            assignment=assignment, occasion=assignment.occasion, completed_at=when, allow_incomplete=False,
        )

    baseline_at = opened + timedelta(days=1, hours=3)
    for a in MeasureAssignment.objects.filter(episode=episode, occasion=Occasion.BASELINE):
        fill(a, _baseline_answers(a.instrument_id, story, rng), baseline_at + timedelta(minutes=rng.randint(0, 40)))
    sessions = list(
        DosingSession.objects.filter(episode=episode, status=DosingSession.Status.DISCHARGED).order_by("scheduled_start")
    )
    points = 2 * len(sessions) + 1
    step = 0
    for number, session in enumerate(sessions, 1):
        step += 1
        before = session.started_at - timedelta(hours=20 + rng.randint(0, 6))
        for a in MeasureAssignment.objects.filter(episode=episode, occasion_key=f"dosing:{session.id}",
                                                  occasion=Occasion.BEFORE_DOSING):
            if a.instrument_id == "cssrs-slv":
                fill(a, {"q1": 0, "q2": 0, "q6": 0}, session.started_at - timedelta(minutes=40))
            else:
                fill(a, _series_answers(a.instrument_id, story, step / points, rng), before)
        integration_at = session.started_at + timedelta(days=INTEGRATION_AFTER_DAYS, hours=rng.randint(-2, 2))
        last = number == len(sessions)
        if last and story.last_integration_today:
            services.schedule_after_integration(
                by=clinician, episode_id=episode.id, dosing_session_id=session.id, held_at=now - timedelta(hours=3)
            )
            continue
        if integration_at > timezone.now() or (last and story.last_integration_missing):
            continue
        step += 1
        item9 = 1 if story.item9_after_last_integration and last else 0
        for a in services.schedule_after_integration(
            by=clinician, episode_id=episode.id, dosing_session_id=session.id, held_at=integration_at
        ):
            answers = _series_answers(a.instrument_id, story, step / points, rng, item9=item9)
            fill(a, answers, integration_at + timedelta(hours=5))
    services.sync_schedule(episode, by=None)
    for a in MeasureAssignment.objects.filter(
        episode=episode, occasion=Occasion.FOLLOW_UP, completed_at__isnull=True, due_at__lte=timezone.now()
    ):
        fill(a, _series_answers(a.instrument_id, story, 1.0, rng), a.due_at + timedelta(days=1))


def _improvement(progress: float, keep: float) -> float:
    """Fraction of the baseline left: a quick drop over the first sessions, then a plateau."""
    return keep + (1 - keep) * math.exp(-4.2 * progress)


def _spread(total: int, n: int, top: int, rng: random.Random, fixed: dict[int, int] | None = None) -> list[int]:
    values = [0] * n
    fixed = fixed or {}
    for index, value in fixed.items():
        values[index] = value
    free = [i for i in range(n) if i not in fixed]
    remaining = max(0, min(total - sum(values), top * len(free)))
    while remaining:
        i = rng.choice([i for i in free if values[i] < top])
        values[i] += 1
        remaining -= 1
    return values


def _series_answers(instrument_id: str, story: Story, progress: float, rng: random.Random, item9: int = 0) -> dict:
    instrument = get_instrument(instrument_id)
    baseline = story.phq9 if instrument_id == "phq9" else story.gad7
    target = round(baseline * _improvement(progress, story.keep) + rng.choice((-1, 0, 0, 1)))
    target = max(0, min(target, 3 * len(instrument.items)))
    fixed = {8: item9} if instrument_id == "phq9" else None
    values = _spread(target, len(instrument.items), 3, rng, fixed)
    return {item.id: v for item, v in zip(instrument.items, values, strict=True)}


def _baseline_answers(instrument_id: str, story: Story, rng: random.Random) -> dict:
    instrument = get_instrument(instrument_id)
    ids = [item.id for item in instrument.items]
    if instrument_id in ("phq9", "gad7"):
        total = story.phq9 if instrument_id == "phq9" else story.gad7
        fixed = {8: 0} if instrument_id == "phq9" else None
        return dict(zip(ids, _spread(total, len(ids), 3, rng, fixed), strict=True))
    if instrument_id == "pcl5":
        # Item 16 (risky behaviour) kept low: a high answer is itself a flag.
        return dict(zip(ids, _spread(rng.randint(24, 44), len(ids), 3, rng, {15: 1}), strict=True))
    if instrument_id == "auditc":
        return {"q1": rng.choice((1, 2)), "q2": 0, "q3": rng.choice((0, 1))}
    if instrument_id == "dast10":
        return {i: (1 if i == "q3" else 0) for i in ids}  # item 3 is reverse-scored: "yes, can stop"
    if instrument_id.startswith("cssrs"):
        return {"q1": 0, "q2": 0, "q6": 0}
    return {}
