"""Responses: immutable once submitted, corrections reference what they correct, staff
entry on a patient's behalf is recorded, bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from openkap.accounts.authz import Denied
from openkap.core.instruments import presentation
from openkap.measures import licensed, selectors, services
from openkap.measures.models import MeasureResponse
from tests.measures.factories import PHQ9_NO_FLAG

pytestmark = pytest.mark.django_db

GAD7 = {f"q{n}": 1 for n in range(1, 8)}


def _enter(by, patient, instrument="phq9", answers=PHQ9_NO_FLAG, **kw):
    return services.response_enter(by=by, patient_id=patient.id, instrument_id=instrument, answers=answers, **kw)


@pytest.fixture
def response(therapist, patient, org, as_actor):
    return _enter(as_actor(therapist, org), patient)


def test_submitted_response_cannot_be_updated(response):
    response.total = 0
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        response.save()
    response.refresh_from_db()
    assert response.total == 9


def test_submitted_response_cannot_be_deleted(response):
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        MeasureResponse.objects.filter(pk=response.pk).delete()
    assert MeasureResponse.objects.filter(pk=response.pk).exists()


def test_raw_sql_update_is_refused(response):
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE measures_measureresponse SET total = 0 WHERE id = %s", [response.id])


def test_score_is_the_cores(response):
    # PHQ9_NO_FLAG: 1+2+1+2+1+1+0+1+0 = 9, "mild" (Kroenke 2001 bands).
    assert response.is_scored
    assert response.total == 9
    assert response.band == "mild"
    assert response.result["instrument"] == "phq9"
    assert response.instrument_version.startswith("PHQ-9")


def test_correction_is_a_new_response_that_references_the_original(therapist, patient, org, as_actor, response):
    by = as_actor(therapist, org)
    with pytest.raises(ValidationError) as exc:
        _enter(by, patient, answers={**PHQ9_NO_FLAG, "q1": 3}, corrects_id=response.id)
    assert "correction_reason" in exc.value.message_dict
    fixed = _enter(by, patient, answers={**PHQ9_NO_FLAG, "q1": 3}, corrects_id=response.id,
                   correction_reason="Item 1 transcribed from the paper form wrongly.")
    assert fixed.corrects_id == response.id
    assert fixed.total == 11
    response.refresh_from_db()
    assert response.total == 9  # the original is kept as it was
    assert list(selectors.current_responses(patient)) == [fixed]
    with pytest.raises(ValidationError):
        _enter(by, patient, corrects_id=response.id, correction_reason="a second correction of the same")
    again = _enter(by, patient, corrects_id=fixed.id, correction_reason="Back to the original answers.")
    assert again.corrects_id == fixed.id


def test_correction_must_be_of_the_same_instrument(therapist, patient, org, as_actor, response):
    with pytest.raises(ValidationError):
        _enter(as_actor(therapist, org), patient, "gad7", GAD7, corrects_id=response.id, correction_reason="wrong form")


def test_staff_entry_of_self_report_is_recorded_as_on_behalf(nurse, patient, org, as_actor):
    response = _enter(as_actor(nurse, org), patient)
    assert response.on_behalf is True
    assert response.entered_by == nurse
    assert response.via == "staff"


def test_clinician_rated_scale_is_the_raters_own(prescriber, patient, org, as_actor):
    # MADRS worked example of reference §6: 33, moderate.
    answers = dict(zip([f"q{n}" for n in range(1, 11)], [4, 4, 3, 4, 2, 4, 3, 4, 3, 2], strict=True))
    response = _enter(as_actor(prescriber, org), patient, "madrs", answers)
    assert response.on_behalf is False
    assert response.total == 33
    assert response.band == "moderate"
    assert response.flag_ids == ["madrs_item10"]


def test_auditc_uses_the_patients_sex(therapist, patient, org, as_actor):
    # 3 points: positive for women (>= 3), negative for men (>= 4) (reference §10).
    response = _enter(as_actor(therapist, org), patient, "auditc", {"q1": 1, "q2": 1, "q3": 1})
    assert response.sex_used == "female"
    assert response.band == "positive"


@pytest.mark.parametrize(
    ("instrument", "answers", "field"),
    [
        ("nope", {}, "instrument_id"),
        ("phq9", {**PHQ9_NO_FLAG, "q1": 4}, "answers"),
        ("phq9", {**PHQ9_NO_FLAG, "q99": 1}, "answers"),
        ("phq9", {**PHQ9_NO_FLAG, "q1": "x"}, "answers"),
        ("phq9", {**PHQ9_NO_FLAG, "q1": True}, "answers"),
    ],
)
def test_bad_input_changes_nothing(therapist, patient, org, as_actor, instrument, answers, field):
    with pytest.raises(ValidationError) as exc:
        _enter(as_actor(therapist, org), patient, instrument, answers)
    assert field in exc.value.message_dict
    assert not MeasureResponse.objects.exists()


def test_answers_in_the_future_are_refused(therapist, patient, org, as_actor):
    with pytest.raises(ValidationError):
        _enter(as_actor(therapist, org), patient, completed_at=timezone.now() + timedelta(hours=2))


def test_outside_the_care_team_is_refused(therapist, unassigned_patient, org, as_actor):
    with pytest.raises(Denied):
        _enter(as_actor(therapist, org), unassigned_patient)


def test_admin_and_researcher_cannot_enter(admin, researcher, patient, org, as_actor):
    for user in (admin, researcher):
        with pytest.raises(Denied):
            _enter(as_actor(user, org), patient)


def test_another_organisation_gets_404(outsider, other_org, patient, as_actor):
    from django.http import Http404

    with pytest.raises(Http404):
        _enter(as_actor(outsider, other_org), patient)


def test_completed_instruments_contract(therapist, patient, org, episode, as_actor):
    by = as_actor(therapist, org)
    services.sync_schedule(episode, by=None)
    assert selectors.completed_instruments(episode) == frozenset()
    _enter(by, patient, occasion="baseline")
    _enter(by, patient, "gad7", GAD7, occasion="before_dosing")
    _enter(by, patient, "cssrs-recent", {"q1": 0, "q2": 0, "q6": 0}, occasion="baseline")
    # An unscored (incomplete) baseline response does not count.
    _enter(by, patient, "pcl5", {"q1": 1}, occasion="baseline", allow_incomplete=True)
    assert selectors.completed_instruments(episode) == frozenset({"phq9", "cssrs-recent"})
    assert selectors.completed_instruments(episode, "before_dosing") == frozenset({"gad7"})
    assert selectors.planned_instruments(episode) >= {"phq9", "gad7", "cssrs-recent"}


def test_baseline_assignment_fulfilled_by_staff_counts_as_baseline(therapist, patient, org, episode, as_actor):
    from openkap.measures.models import MeasureAssignment

    services.sync_schedule(episode, by=None)
    assignment = MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="gad7")
    _enter(as_actor(therapist, org), patient, "gad7", GAD7, assignment_id=assignment.id)
    assert "gad7" in selectors.completed_instruments(episode)
    assignment.refresh_from_db()
    assert assignment.completed_at is not None
    with pytest.raises(ValidationError):
        _enter(as_actor(therapist, org), patient, "gad7", GAD7, assignment_id=assignment.id)


def test_licensed_wording_is_loaded_by_admins_and_used(admin, therapist, org, as_actor):
    with pytest.raises(Denied):
        services.licensed_wording_save(by=as_actor(therapist, org), instrument_id="madrs", texts={"q1": "x"})
    with pytest.raises(ValidationError):
        services.licensed_wording_save(by=as_actor(admin, org), instrument_id="madrs", texts={"q1": "Observed sadness ..."})
    services.licensed_wording_save(
        by=as_actor(admin, org), instrument_id="madrs", texts={"q1": "Apparent sadness: the licensed wording."},
        licence_reference="RCPsych permission 2026-01",
    )
    instrument = licensed.instrument_for(org.id, "madrs")
    assert instrument.items[0].licensed_text == "Apparent sadness: the licensed wording."
    assert presentation.item_wording(instrument.items[1]) == "Reported sadness"
    with pytest.raises(ValidationError):
        services.licensed_wording_save(by=as_actor(admin, org), instrument_id="phq9", texts={"q1": "x"})
    with pytest.raises(ValidationError):
        services.licensed_wording_save(by=as_actor(admin, org), instrument_id="madrs", texts={"q77": "x"},
                                       licence_reference="r")


def test_qids_reaches_the_portal_only_with_full_licensed_wording(admin, org, as_actor):
    assert not presentation.patient_can_complete(licensed.instrument_for(org.id, "qidssr16"))
    texts = {f"q{n}": f"QIDS item {n} licensed wording" for n in range(1, 17)}
    services.licensed_wording_save(by=as_actor(admin, org), instrument_id="qidssr16", texts=texts,
                                   licence_reference="UTSW licence")
    assert presentation.patient_can_complete(licensed.instrument_for(org.id, "qidssr16"))
    # Clinician-rated scales never do.
    assert not presentation.patient_can_complete(licensed.instrument_for(org.id, "madrs"))
