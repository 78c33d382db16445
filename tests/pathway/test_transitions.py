"""Episode transitions through the service: every transition of the core's table, refused
with its reasons (nothing changed) or recorded with who, when and why; access checks."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from openkap.accounts.authz import Denied
from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.pathway import TRANSITIONS, State, unmet_requirements
from openkap.pathway import services
from openkap.pathway.models import Episode, EpisodeTransition
from openkap.pathway.selectors import dosing_booking_unmet, episode_snapshot


def _episode_at(patient, therapist, state: State) -> Episode:
    # A bare episode in ``state``: no records, so every requirement is unmet.
    return Episode.objects.create(organization=patient.organization, patient=patient, opened_by=therapist, state=state)


@pytest.mark.parametrize("t", TRANSITIONS, ids=lambda t: f"{t.source}-{t.name}")
def test_every_transition_through_the_service_without_records(t, patient, therapist, by_therapist):
    episode = _episode_at(patient, therapist, t.source)
    expected = unmet_requirements(episode_snapshot(episode), t.name, reason="why")
    if expected:
        with pytest.raises(ValidationError) as exc:
            services.episode_transition(by=by_therapist, episode_id=episode.id, name=t.name, reason="why")
        assert exc.value.messages == expected
        episode.refresh_from_db()
        assert episode.state == t.source
        assert not EpisodeTransition.objects.exists()
        assert not AuditEvent.objects.filter(object_type="episode", action=AuditAction.UPDATE).exists()
    else:
        moved = services.episode_transition(by=by_therapist, episode_id=episode.id, name=t.name, reason="why")
        assert moved.state == t.target
        record = EpisodeTransition.objects.get()
        assert (record.from_state, record.to_state, record.by_id, record.reason) == (t.source, t.target, by_therapist.user.id, "why")


@pytest.mark.parametrize(
    ("state", "name", "messages"),
    [
        (State.INTAKE, "start_screening", ["Intake form not completed."]),
        (State.SCREENING, "request_eligibility", [
            "Baseline PHQ-9 not completed.", "Baseline GAD-7 not completed.",
            "Baseline C-SSRS screener not completed.",
            "Contraindication checklist not completed (15 questions unanswered).",
        ]),
        (State.PLANNED, "start_preparation", [
            "Treatment plan not signed by a prescriber.", "Treatment plan has no route.",
            "Treatment plan has no protocol.",
        ]),
        (State.INTAKE, "confirm_eligibility", [
            "The episode is at intake; 'confirm eligibility' is not possible from there.",
        ]),
        (State.ACTIVE, "rescreen", ["Write the reason for this change."]),
        (State.SCREENING, "no_such_thing", [
            "The episode is at screening; 'no such thing' is not possible from there.",
        ]),
    ],
)
def test_refusal_lists_the_reasons_in_plain_language(state, name, messages, patient, therapist, by_therapist):
    episode = _episode_at(patient, therapist, state)
    with pytest.raises(ValidationError) as exc:
        services.episode_transition(by=by_therapist, episode_id=episode.id, name=name)
    assert exc.value.messages == messages
    episode.refresh_from_db()
    assert episode.state == state


def test_walk_records_who_when_and_why_and_reaches_ready_to_book(walk_to, therapist):
    episode = walk_to("ready")
    assert episode.state == State.PREPARATION
    assert dosing_booking_unmet(episode) == []
    names = list(episode.transitions.values_list("name", "by_id"))
    assert names == [("start_screening", therapist.id), ("request_eligibility", therapist.id),
                     ("confirm_eligibility", therapist.id), ("start_preparation", therapist.id)]
    assert all(t.at is not None for t in episode.transitions.all())
    audited = AuditEvent.objects.filter(object_type="episode", action=AuditAction.UPDATE, object_id=str(episode.id))
    assert [e.detail["transition"] for e in audited.order_by("occurred_at", "id")] == [n for n, _ in names]


def test_going_back_needs_a_reason_and_voids_the_eligibility_decision(walk_to, by_therapist):
    episode = walk_to("ready")
    with pytest.raises(ValidationError, match="Write the reason"):
        services.episode_transition(by=by_therapist, episode_id=episode.id, name="rescreen", reason="  ")
    services.episode_transition(by=by_therapist, episode_id=episode.id, name="rescreen",
                                reason="Hospitalised for a manic episode; re-screen.")
    episode.refresh_from_db()
    assert episode.state == State.SCREENING
    snapshot = episode_snapshot(episode)
    assert snapshot.eligibility_outcome is None  # a new decision is needed after re-screening
    event = AuditEvent.objects.filter(object_type="episode").latest("id")
    assert event.reason == "Hospitalised for a manic episode; re-screen."


def test_discontinue_closes_the_episode(walk_to, by_therapist):
    episode = walk_to("planned")
    services.episode_transition(by=by_therapist, episode_id=episode.id, name="discontinue", reason="Moved away.")
    episode.refresh_from_db()
    assert episode.state == State.DISCONTINUED
    assert episode.closed_at is not None
    with pytest.raises(ValidationError, match="not possible from there"):
        services.episode_transition(by=by_therapist, episode_id=episode.id, name="rescreen", reason="x")


def test_start_series_refused_without_consent_then_allowed(walk_to, by_therapist, by_prescriber, org):
    from openkap.pathway.models import ConsentSignature

    episode = walk_to("ready")
    ConsentSignature.objects.filter(episode=episode).delete()
    with pytest.raises(ValidationError) as exc:
        services.episode_transition(by=by_therapist, episode_id=episode.id, name="start_series")
    assert exc.value.messages == ["Consent not signed."]
    assert dosing_booking_unmet(episode) == ["Consent not signed."]


def test_another_organisation_gets_404(patient, therapist, outsider, other_org, as_actor):
    episode = _episode_at(patient, therapist, State.INTAKE)
    with pytest.raises(Http404):
        services.episode_transition(by=as_actor(outsider, other_org), episode_id=episode.id, name="discontinue", reason="x")


@pytest.mark.parametrize("who", ["nurse", "admin", "researcher"])
def test_roles_without_the_permission_get_403(who, patient, therapist, request, org, as_actor):
    episode = _episode_at(patient, therapist, State.INTAKE)
    user = request.getfixturevalue(who)
    with pytest.raises(Denied):
        services.episode_transition(by=as_actor(user, org), episode_id=episode.id, name="discontinue", reason="x")
    assert Episode.objects.get(pk=episode.pk).state == State.INTAKE


def test_therapist_outside_the_care_team_gets_403(unassigned_patient, therapist, by_therapist):
    episode = _episode_at(unassigned_patient, therapist, State.INTAKE)
    with pytest.raises(Denied):
        services.episode_transition(by=by_therapist, episode_id=episode.id, name="discontinue", reason="x")


def test_only_one_open_episode(patient, by_therapist):
    services.episode_open(by=by_therapist, patient_id=patient.id)
    with pytest.raises(ValidationError, match="already has an open episode"):
        services.episode_open(by=by_therapist, patient_id=patient.id)


def test_snapshot_fills_every_fact_from_the_records(walk_to, by_therapist, held_dosing):
    from openkap.core.pathway import EligibilityOutcome, EpisodeSnapshot
    from openkap.core.routes import Route
    from tests.pathway.helpers import ROUTE

    episode = walk_to("ready")
    services.episode_transition(by=by_therapist, episode_id=episode.id, name="start_series")
    held_dosing(episode, days_ago=2)
    episode.refresh_from_db()
    route = Route(ROUTE)
    assert episode_snapshot(episode) == EpisodeSnapshot(
        state=State.ACTIVE,
        intake_completed=True,
        intended_route=route,
        baseline_measures_completed=frozenset({"phq9", "gad7", "cssrs-recent"}),
        plan_baseline_measures=frozenset({"phq9", "gad7", "cssrs-recent"}),
        contraindication_answers=episode_snapshot(episode).contraindication_answers,
        justified_relative_contraindications=frozenset(),
        eligibility_outcome=EligibilityOutcome.ELIGIBLE,
        eligibility_reasons_written=True,
        eligibility_conditions_written=False,
        eligibility_signed_by_prescriber=True,
        plan_signed_by_prescriber=True,
        plan_route=route,
        plan_protocol_id="intranasal-esketamine-spravato",
        consent_current_version="v1",
        consent_signed_version="v1",
        consent_withdrawn=False,
        preparation_sessions_held=1,
        intentions_recorded=True,
        safety_plan_recorded=True,
        escort_arranged=True,
        dosing_sessions_held=1,
        dosing_sessions_without_integration=1,
        reassessment_measures_completed=frozenset(),
        reassessment_signed_by_prescriber=False,
    )
    assert len(episode_snapshot(episode).contraindication_answers) == 15
