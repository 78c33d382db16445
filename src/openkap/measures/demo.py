"""Demo measures: a course of care for a handful of patients with realistic PHQ-9 and
GAD-7 series around their dosing sessions, so the Measures tab tells a story.

Most patients improve after the first sessions (some remit), one does not respond, and
one answers PHQ-9 item 9 "several days" after their last integration session, which
leaves an open urgent task. The portal patient (patient@demo.openkap.org) had an
integration session this morning, so their after-integration questionnaires are due
now. The held sessions are booked through the scheduling service at round clinic
times, as late entries, so each has its completed appointment in the calendar; upcoming
dosing sessions are left to the scheduling demo.

The pathway demo runs this one in two steps around its own: ``baselines`` before it
screens the patients, ``series`` once they are prepared and consented (a dosing
session can only be booked then). Idempotent as the pathway demo is.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from openkap.accounts.authz import build_actor
from openkap.core.authz import Role
from openkap.core.instruments import get_instrument
from openkap.demo import DemoContext
from openkap.dosing.models import DosingSession
from openkap.measures import licensed, services
from openkap.measures.models import MeasureAssignment, MeasureResponse, Occasion, Via
from openkap.pathway.models import Episode
from openkap.pathway.selectors import current_episode
from openkap.patients.models import Patient
from openkap.scheduling import demo as scheduling_demo
from openkap.scheduling import services as scheduling


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
    # Where the sessions were held: 0 Brooklyn, 1 the Hudson Valley (the ledger demo
    # writes each site's administrations for them).
    site: int = 0


STORIES = (
    Story("responder (portal)", 19, 15, 0.42, 4, last_integration_today=True),
    Story("remitter", 21, 16, 0.16, 6),
    Story("responder", 17, 13, 0.45, 6, site=1),
    Story("non-responder", 19, 14, 0.92, 6),
    Story("item 9 positive", 22, 17, 0.55, 6, item9_after_last_integration=True, days_since_last=5),
    Story("remitter, follow-up", 16, 12, 0.2, 6, days_since_last=40),
    Story("partial responder", 20, 15, 0.6, 5),
    Story("responder, integration overdue", 18, 11, 0.4, 6, days_since_last=9, last_integration_missing=True,
          site=1),
)
SESSION_GAP_DAYS = 7
INTEGRATION_AFTER_DAYS = 3


def seed(context: DemoContext) -> None:
    """Nothing here: the pathway demo runs ``baselines`` and ``series``."""


def series_days(index: int) -> list[date]:
    """The days the ``index``-th story's dosing sessions were held, a week apart."""
    story = STORIES[index]
    last = timezone.localdate() - timedelta(days=story.days_since_last)
    return [last - timedelta(days=SESSION_GAP_DAYS * k) for k in reversed(range(story.sessions_done))]


def _courses(context: DemoContext) -> list[_Course]:
    org = context.organization
    therapist = context.staff[Role.THERAPIST]
    portal = Patient.objects.filter(organization=org, user__isnull=False).order_by("id").first()
    if portal is None:
        return []
    others = list(
        Patient.objects.filter(organization=org, care_team__user=therapist, care_team__ended_at__isnull=True)
        .exclude(id=portal.id).distinct().order_by("id")[: len(STORIES) - 1]
    )
    rng = random.Random(context.rng.random())
    courses = []
    for index, patient in enumerate([portal, *others][: len(STORIES)]):
        episode = current_episode(patient)
        if episode is not None:
            courses.append(_Course(context, patient, index, episode, rng))
    return courses


def baselines(context: DemoContext) -> None:
    """Step one, on the episodes the pathway demo has just opened: the baseline
    questionnaires its screening needs."""
    if MeasureResponse.objects.filter(organization=context.organization).exists():
        return
    for course in _courses(context):
        course.baseline()


def series(context: DemoContext) -> None:
    """Step two, once the pathway demo has prepared and consented the patients: the
    held dosing sessions and the questionnaires before and after them."""
    if MeasureResponse.objects.filter(organization=context.organization, occasion=Occasion.BEFORE_DOSING).exists():
        return
    for course in _courses(context):
        course.series()


class _Course:
    def __init__(self, context: DemoContext, patient: Patient, index: int, episode: Episode,
                 rng: random.Random) -> None:
        org = context.organization
        self.context, self.patient, self.index, self.episode, self.rng = context, patient, index, episode, rng
        self.story = STORIES[index]
        self.now = timezone.now().replace(second=0, microsecond=0)
        first = timezone.make_aware(datetime.combine(series_days(index)[0], time(9, 0)))
        self.opened = first - timedelta(days=16)
        self.clinician = build_actor(context.staff[Role.THERAPIST], org, user_agent="seed-demo")
        self.check_in = build_actor(context.staff[Role.NURSE], org, user_agent="seed-demo")
        self.front_desk = build_actor(context.staff[Role.ADMIN], org, user_agent="seed-demo")
        self.via = Via.PORTAL if patient.user_id else Via.LINK

    def fill(self, assignment: MeasureAssignment, answers: dict, when: datetime) -> None:
        when = min(when, self.now - timedelta(minutes=self.rng.randint(20, 90)))
        org, patient = self.patient.organization, self.patient
        instrument = licensed.instrument_for(org.id, assignment.instrument_id)
        if instrument.rater.value == "clinician-rated":
            services.response_enter(
                by=self.check_in if assignment.occasion == Occasion.BEFORE_DOSING else self.clinician,
                patient_id=patient.id, instrument_id=instrument.id, answers=answers,
                assignment_id=assignment.id, completed_at=when,
            )
            return
        # The patient's own answers, given in the portal (or through a link) at `when`.
        services._record(
            organization=org, patient=patient, instrument=instrument, answers=answers, supplementary={},
            source=services._Source(self.via, patient.user, False, None), episode=self.episode,
            assignment=assignment, occasion=assignment.occasion, completed_at=when, allow_incomplete=False,
        )

    def baseline(self) -> None:
        services.sync_schedule(self.episode, by=None, now=self.opened)
        baseline_at = self.opened + timedelta(days=1, hours=3)
        for a in MeasureAssignment.objects.filter(episode=self.episode, occasion=Occasion.BASELINE):
            self.fill(a, _baseline_answers(a.instrument_id, self.story, self.rng),
                      baseline_at + timedelta(minutes=self.rng.randint(0, 40)))

    def _book_held_sessions(self) -> list[DosingSession]:
        """Each session booked in one of the day's blocks (08:30, 11:30, 14:30; the
        stories spread over them), then recorded as held and its appointment completed.
        The record is an outline, held and discharged without its steps: most are older
        than the week of late entries the dosing services take."""
        site = self.context.sites[self.story.site]
        sessions = []
        for day in series_days(self.index):
            blocks = scheduling_demo.half_hours(day, time(8, 30), time(14, 30))[::6]
            shift = self.index % len(blocks)
            starts = blocks[shift:] + blocks[:shift] + scheduling_demo.half_hours(day, time(8, 30), time(15, 0))
            appointment = scheduling_demo.book_dosing(
                self.front_desk, self.patient, starts, site=site, monitors=self.context.nurses,
            )
            start, session_id = appointment.start, appointment.dosing_session_id
            assert session_id is not None  # a dosing appointment opens its session (book_dosing)
            DosingSession.objects.filter(pk=session_id).update(
                status=DosingSession.Status.DISCHARGED, started_at=start,
                discharged_at=start + timedelta(hours=2, minutes=30),
            )
            scheduling.appointment_complete(by=self.front_desk, appointment_id=appointment.id)
            sessions.append(DosingSession.objects.get(pk=session_id))
        return sessions

    def series(self) -> None:
        episode, story, rng = self.episode, self.story, self.rng
        sessions = self._book_held_sessions()
        services.sync_schedule(episode, by=None, now=self.opened)
        points = 2 * len(sessions) + 1
        step = 0
        for number, session in enumerate(sessions, 1):
            step += 1
            started = session.started_at or session.scheduled_start  # held: set above
            before = started - timedelta(hours=20 + rng.randint(0, 6))
            for a in MeasureAssignment.objects.filter(episode=episode, occasion_key=f"dosing:{session.id}",
                                                      occasion=Occasion.BEFORE_DOSING):
                if a.instrument_id == "cssrs-slv":
                    self.fill(a, {"q1": 0, "q2": 0, "q6": 0}, started - timedelta(minutes=40))
                else:
                    self.fill(a, _series_answers(a.instrument_id, story, step / points, rng), before)
            integration_at = started + timedelta(days=INTEGRATION_AFTER_DAYS, hours=rng.randint(-2, 2))
            last = number == len(sessions)
            if last and story.last_integration_today:
                services.schedule_after_integration(
                    by=self.clinician, episode_id=episode.id, dosing_session_id=session.id,
                    held_at=self.now - timedelta(hours=3),
                )
                continue
            if integration_at > timezone.now() or (last and story.last_integration_missing):
                continue
            step += 1
            item9 = 1 if story.item9_after_last_integration and last else 0
            for a in services.schedule_after_integration(
                by=self.clinician, episode_id=episode.id, dosing_session_id=session.id, held_at=integration_at
            ):
                answers = _series_answers(a.instrument_id, story, step / points, rng, item9=item9)
                self.fill(a, answers, integration_at + timedelta(hours=5))
        services.sync_schedule(episode, by=None)
        for a in MeasureAssignment.objects.filter(
            episode=episode, occasion=Occasion.FOLLOW_UP, completed_at__isnull=True, due_at__lte=timezone.now()
        ):
            self.fill(a, _series_answers(a.instrument_id, story, 1.0, rng), a.due_at + timedelta(days=1))


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
