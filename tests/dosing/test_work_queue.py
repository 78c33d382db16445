"""Hand-offs raise work (issue 21.3): each waiting step is in the right person's queue
(Today page, count in the navigation), names the patient, links to the exact step,
and disappears when the step is done."""

from __future__ import annotations

import pytest
from django.urls import reverse

from openkap.audit.models import AuditEvent
from openkap.dosing import services
from openkap.pathway import services as pathway
from openkap.patients.models import CareTeamMember
from openkap.web.workqueue import work_count, work_items
from tests.conftest import PASSWORD
from tests.dosing.conftest import to_order
from tests.pathway.helpers import PLAN, walk


def _kinds(by) -> list[tuple[str, int, str]]:
    return [(i.kind, i.patient.id, i.url) for i in work_items(by)]


def test_eligibility_then_plan_wait_for_the_care_team_prescriber(
    patient, therapist, prescriber, admin, org, as_actor
):
    p, t, a = as_actor(prescriber, org), as_actor(therapist, org), as_actor(admin, org)
    episode = walk(patient, therapist=therapist, prescriber=prescriber, admin=admin, org=org,
                   as_actor=as_actor, to="eligibility")
    assert _kinds(p) == [("eligibility", patient.id, reverse("pathway:eligibility", args=[patient.id]))]
    assert work_count(p) == 1
    assert _kinds(t) == []
    assert _kinds(a) == []
    assert AuditEvent.objects.filter(object_type="work_queue", actor_id=prescriber.id).exists()

    pathway.eligibility_sign(by=p, patient_id=patient.id, outcome="eligible", reasons="TRD, no contraindication.",
                             password=PASSWORD)
    assert _kinds(p) == []  # decided: gone, although the episode has not moved yet
    pathway.episode_transition(by=t, episode_id=episode.id, name="confirm_eligibility")
    assert _kinds(p) == [("plan", patient.id, reverse("pathway:plan", args=[patient.id]))]
    pathway.plan_sign(by=p, patient_id=patient.id, password=PASSWORD, **PLAN)
    assert _kinds(p) == []
    assert work_count(p) == 0


def test_without_a_prescriber_on_the_team_the_admin_is_asked_to_add_one(
    patient, therapist, prescriber, admin, org, as_actor
):
    walk(patient, therapist=therapist, prescriber=prescriber, admin=admin, org=org, as_actor=as_actor,
         to="eligibility")
    CareTeamMember.objects.filter(patient=patient, user=prescriber).delete()
    [item] = work_items(as_actor(admin, org))
    assert item.url == reverse("patients:chart", args=[patient.id])
    assert "no prescriber is on the care team" in item.title
    # A prescriber off the team may change care teams but not open this chart: not theirs to do.
    assert work_items(as_actor(prescriber, org)) == []


def test_order_then_verification_wait_for_the_right_people(
    im_session, nurse_actor, second_nurse_actor, prescriber_actor, therapist_actor, stock, client_for, prescriber,
    second_nurse,
):
    session_url = reverse("dosing:session", args=[im_session.id])
    assert _kinds(prescriber_actor) == []  # booked, not checked in: nothing to order yet
    session = to_order(im_session, nurse_actor)
    assert _kinds(prescriber_actor) == [("order", session.patient_id, session_url + "#order")]
    assert _kinds(nurse_actor) == []
    assert _kinds(therapist_actor) == []
    # The board card carries the Order button for the prescriber, and the nav shows the count.
    board = client_for(prescriber).get(reverse("dosing:board", args=[session.site_id])).content.decode()
    assert f'href="{session_url}#order"' in board
    today = client_for(prescriber).get("/").content.decode()
    assert "the dose order is waiting for you" in today
    assert 'data-testid="nav-count"' in today

    services.dose_order_sign(by=prescriber_actor, session_id=session.id, password=PASSWORD)
    assert _kinds(prescriber_actor) == []
    prep = services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=stock["50"].id)
    # A second clinician checks: not the nurse who drew it up.
    assert _kinds(nurse_actor) == []
    assert _kinds(second_nurse_actor) == [("verify", session.patient_id, session_url + "#verify")]
    assert _kinds(prescriber_actor) == [("verify", session.patient_id, session_url + "#verify")]
    services.dose_verify(
        by=second_nurse_actor, session_id=session.id, drug_confirmed=True, concentration_seen=prep.concentration,
        amount_seen=prep.amount, dose_mg_seen=prep.order.dose_mg, date_of_birth_seen=session.patient.date_of_birth,
    )
    assert _kinds(second_nurse_actor) == []
    assert _kinds(prescriber_actor) == []


@pytest.mark.parametrize("kind", ["rems_monitoring_form", "integration_due"])
def test_tasks_raised_by_other_apps_link_to_their_step(kind, patient, therapist, org, as_actor, client_for):
    from openkap.tasks.services import task_create

    task = task_create(
        by=as_actor(therapist, org), organization=org, kind=kind, patient=patient, title="Work",
        subject_type="dosing_session", subject_id=7, assignee_ids=[therapist.id],
    )
    page = client_for(therapist).get(reverse("tasks:detail", args=[task.id])).content.decode()
    expected = reverse("dosing:rems", args=[7]) if kind == "rems_monitoring_form" else \
        reverse("pathway:integration", args=[patient.id])
    assert f'href="{expected}"' in page
