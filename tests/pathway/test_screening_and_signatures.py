"""Intake, checklist, and the prescriber's signed eligibility decision and plan."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from openkap.accounts.authz import Denied
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import record_refusal
from openkap.core.pathway import CHECKLIST
from openkap.core.pathway.plan import DEFAULT_MEASURE_SCHEDULE
from openkap.measures.models import MeasurePlanEntry
from openkap.pathway import services
from openkap.pathway.models import (
    ContraindicationAnswer,
    EligibilityDecision,
    Intake,
    TreatmentPlan,
)
from openkap.pathway.selectors import episode_snapshot
from openkap.patients.models import WeightMeasurement
from tests.conftest import PASSWORD
from tests.pathway.helpers import INTAKE, PLAN

# --- intake -------------------------------------------------------------------------------


def test_intake_completes_and_records_the_weight_in_kg(patient, by_therapist):
    episode = services.episode_open(by=by_therapist, patient_id=patient.id)
    intake = services.intake_save(
        by=by_therapist, patient_id=patient.id, data=INTAKE | {"weight_value": "150", "weight_unit": "lb"},
        complete=True,
    )
    assert intake.completed_at is not None
    assert intake.weight.weight_kg == Decimal("68.04")
    assert WeightMeasurement.objects.filter(patient=patient).count() == 1
    assert episode_snapshot(episode).intake_completed
    assert AuditEvent.objects.filter(object_type="intake", patient_id=patient.id).exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"diagnoses": [{"code": "332.1", "description": "x"}]}, "diagnoses", "not an ICD-10-CM code"),
        ({"diagnoses": [{"code": "F33.1", "description": ""}]}, "diagnoses", "add a description"),
        ({"diagnoses": [{"code": "F33.1", "description": "a"}, {"code": "f331", "description": "b"}]},
         "diagnoses", "listed twice"),
        ({"systolic_bp": 300}, "systolic_bp", "not plausible"),
        ({"systolic_bp": 80, "diastolic_bp": 90}, "diastolic_bp", "below the systolic"),
        ({"systolic_bp": None}, "systolic_bp", "Enter both"),
        ({"pregnancy_status": "maybe"}, "pregnancy_status", "listed options"),
        ({"intended_route": "rectal"}, "intended_route", "listed routes"),
        ({"weight_value": "1000"}, "weight_value", "not a plausible weight"),
    ],
)
def test_intake_bad_input_refused_and_nothing_saved(patient, by_therapist, change, field, message):
    services.episode_open(by=by_therapist, patient_id=patient.id)
    with pytest.raises(ValidationError) as exc:
        services.intake_save(by=by_therapist, patient_id=patient.id, data=INTAKE | change)
    assert message in " ".join(exc.value.message_dict[field])
    assert not Intake.objects.exists()
    assert not WeightMeasurement.objects.exists()


def test_intake_draft_then_completion_lists_what_is_missing(patient, by_therapist):
    services.episode_open(by=by_therapist, patient_id=patient.id)
    services.intake_save(by=by_therapist, patient_id=patient.id, data={"presenting_problems": "Low mood"})
    with pytest.raises(ValidationError) as exc:
        services.intake_save(by=by_therapist, patient_id=patient.id, data={"presenting_problems": "Low mood"},
                             complete=True)
    assert {"diagnoses", "systolic_bp", "weight_value", "pregnancy_status", "substance_use"} <= set(exc.value.message_dict)
    assert Intake.objects.get().completed_at is None


def test_intake_without_an_open_episode_is_refused(patient, by_therapist):
    with pytest.raises(ValidationError, match="no open episode"):
        services.intake_save(by=by_therapist, patient_id=patient.id, data=INTAKE)


def test_intake_unknown_field_refused(patient, by_therapist):
    services.episode_open(by=by_therapist, patient_id=patient.id)
    with pytest.raises(ValidationError, match="Unknown field"):
        services.intake_save(by=by_therapist, patient_id=patient.id, data={"shoe_size": "9"})


def test_intake_cross_organisation_and_role(patient, outsider, other_org, researcher, org, as_actor, by_therapist):
    from django.http import Http404

    services.episode_open(by=by_therapist, patient_id=patient.id)
    with pytest.raises(Http404):
        services.intake_save(by=as_actor(outsider, other_org), patient_id=patient.id, data=INTAKE)
    with pytest.raises(Denied):
        services.intake_save(by=as_actor(researcher, org), patient_id=patient.id, data=INTAKE)


# --- checklist ------------------------------------------------------------------------------


def test_checklist_answers_are_recorded_and_audited(walk_to, patient, by_therapist):
    walk_to("screening")
    services.checklist_record(by=by_therapist, patient_id=patient.id, answers={"mania": False, "pregnancy": None},
                              notes={"mania": "Denies; no history."})
    answer = ContraindicationAnswer.objects.get()
    assert (answer.item_id, answer.present, answer.note, answer.checklist_version) == (
        "mania", False, "Denies; no history.", CHECKLIST.version)
    event = AuditEvent.objects.filter(object_type="contraindication_checklist").latest("id")
    assert event.detail == {"items": ["mania"]}


def test_checklist_unknown_item_and_non_boolean_refused(walk_to, patient, by_therapist):
    walk_to("screening")
    with pytest.raises(ValidationError) as exc:
        services.checklist_record(by=by_therapist, patient_id=patient.id, answers={"gout": True, "mania": "no"})
    assert set(exc.value.message_dict) == {"gout", "mania"}
    assert not ContraindicationAnswer.objects.exists()


def test_checklist_cannot_contradict_a_pregnancy_recorded_at_intake(walk_to, patient, by_therapist):
    walk_to("screening")
    services.intake_save(by=by_therapist, patient_id=patient.id, data=INTAKE | {"pregnancy_status": "pregnant"})
    with pytest.raises(ValidationError) as exc:
        services.checklist_record(by=by_therapist, patient_id=patient.id, answers={"pregnancy": False})
    assert "records 'Pregnant'" in exc.value.message_dict["pregnancy"][0]


# --- eligibility ----------------------------------------------------------------------------


def _answers(**present: bool) -> dict[str, bool]:
    return {item.id: False for item in CHECKLIST.items} | present


def test_wrong_password_refuses_the_signature_and_is_audited(walk_to, patient, by_prescriber):
    walk_to("eligibility")
    with pytest.raises(ValidationError) as exc:
        services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="eligible",
                                  reasons="ok", password="wrong password")
    assert exc.value.message_dict["password"] == ["That is not your password."]
    assert not EligibilityDecision.objects.exists()
    record_refusal(exc.value)  # what a page or the API does: already recorded, not twice
    failed = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert failed.detail["why"] == "signature_reauthentication"
    assert failed.actor_id == by_prescriber.user.id


@override_settings(LOGIN_MAX_FAILURES_PER_ACCOUNT=3)
def test_repeated_wrong_passwords_lock_signing(walk_to, patient, by_prescriber):
    walk_to("eligibility")
    for _ in range(3):
        with pytest.raises(ValidationError) as exc:
            services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="eligible",
                                      reasons="ok", password="nope")
        record_refusal(exc.value)
    with pytest.raises(ValidationError, match="Too many wrong passwords"):
        services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="eligible",
                                  reasons="ok", password=PASSWORD)


def test_a_therapist_cannot_sign(walk_to, patient, by_therapist):
    walk_to("eligibility")
    with pytest.raises(Denied):
        services.eligibility_sign(by=by_therapist, patient_id=patient.id, outcome="eligible",
                                  reasons="ok", password=PASSWORD)
    assert not AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).exists()


def test_absolute_contraindication_blocks_eligible_but_not_a_refusal(walk_to, patient, by_therapist, by_prescriber):
    walk_to("eligibility")
    services.checklist_record(by=by_therapist, patient_id=patient.id,
                              answers=_answers(intracerebral_haemorrhage=True))
    with pytest.raises(ValidationError) as exc:
        services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="eligible",
                                  reasons="ok", password=PASSWORD)
    assert "Absolute contraindication: History of intracerebral haemorrhage." in exc.value.message_dict["outcome"][0]
    decision = services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="not_eligible",
                                         reasons="Prior intracerebral haemorrhage.", password=PASSWORD)
    assert decision.findings["absolute"] == ["intracerebral_haemorrhage"]


def test_relative_contraindication_needs_a_justification(walk_to, patient, by_therapist, by_prescriber):
    walk_to("eligibility")
    services.checklist_record(by=by_therapist, patient_id=patient.id, answers=_answers(cns_depressants=True))
    with pytest.raises(ValidationError) as exc:
        services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="eligible_with_conditions",
                                  reasons="TRD", password=PASSWORD)
    assert set(exc.value.message_dict) == {"justification_cns_depressants", "conditions"}
    decision = services.eligibility_sign(
        by=by_prescriber, patient_id=patient.id, outcome="eligible_with_conditions", reasons="TRD",
        conditions="No lorazepam within 12 hours of a session.",
        justifications={"cns_depressants": "Lorazepam as needed only; held before sessions."},
        password=PASSWORD,
    )
    assert decision.signer_name == "Dr. Pat Prescriber"
    assert decision.signer_credentials == "MD-1 (NY) NPI 1234567893"
    snapshot = episode_snapshot(decision.episode)
    assert snapshot.justified_relative_contraindications == {"cns_depressants"}
    assert snapshot.eligibility_conditions_written


def test_eligibility_is_signed_only_at_the_eligibility_state(walk_to, patient, by_prescriber):
    walk_to("screening")
    with pytest.raises(ValidationError, match="decision has been requested"):
        services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="not_eligible",
                                  reasons="x", password=PASSWORD)


# --- plan -----------------------------------------------------------------------------------


def test_plan_versions_keep_the_old_and_set_the_measure_schedule(walk_to, patient, by_prescriber):
    episode = walk_to("planned")
    first = TreatmentPlan.objects.get()
    assert first.version == 1
    assert set(MeasurePlanEntry.objects.filter(episode=episode, occasion="before_dosing")
               .values_list("instrument_id", flat=True)) == {"phq9"}
    with pytest.raises(ValidationError) as exc:
        services.plan_sign(by=by_prescriber, patient_id=patient.id, password=PASSWORD, **PLAN)
    assert "change_reason" in exc.value.message_dict
    second = services.plan_sign(
        by=by_prescriber, patient_id=patient.id, password=PASSWORD,
        **PLAN | {"dosing_sessions_planned": 8, "change_reason": "Partial response: two more sessions."},
    )
    assert second.version == 2
    assert list(TreatmentPlan.objects.order_by("version").values_list("version", "dosing_sessions_planned")) == [
        (1, 6), (2, 8)]


def _eligible(walk_to, patient, by_prescriber):
    episode = walk_to("eligibility")
    services.eligibility_sign(by=by_prescriber, patient_id=patient.id, outcome="eligible",
                              reasons="TRD, no contraindication.", password=PASSWORD)
    services.episode_transition(by=by_prescriber, episode_id=episode.id, name="confirm_eligibility")
    return episode


def _scheduled(episode, occasion: str) -> list[str]:
    return sorted(MeasurePlanEntry.objects.filter(episode=episode, occasion=occasion)
                  .values_list("instrument_id", flat=True))


def test_a_plan_signed_without_measures_keeps_the_clinic_default_then_the_version_in_force(
        walk_to, patient, by_prescriber):
    """A first plan that names no measures must not take the pre-dose PHQ-9, GAD-7 and
    C-SSRS off the schedule (found by the whole-day browser walk)."""
    episode = _eligible(walk_to, patient, by_prescriber)
    plan = {k: v for k, v in PLAN.items() if k != "measure_schedule"}
    first = services.plan_sign(by=by_prescriber, patient_id=patient.id, password=PASSWORD, **plan)
    assert first.measure_schedule["before_dosing"] == ["phq9", "gad7", "cssrs-slv"]
    assert _scheduled(episode, "before_dosing") == ["cssrs-slv", "gad7", "phq9"]
    assert _scheduled(episode, "follow_up") == ["gad7", "phq9"]
    services.plan_sign(by=by_prescriber, patient_id=patient.id, password=PASSWORD,
                       **PLAN | {"change_reason": "Pre-dose PHQ-9 only."})
    third = services.plan_sign(by=by_prescriber, patient_id=patient.id, password=PASSWORD,
                               **plan | {"change_reason": "Eight sessions.", "dosing_sessions_planned": 8})
    assert third.measure_schedule["before_dosing"] == ["phq9"]  # the version in force, not the default
    assert _scheduled(episode, "before_dosing") == ["phq9"]


def test_the_first_plan_form_starts_with_the_default_measures_ticked(
        walk_to, patient, by_prescriber, prescriber, client_for):
    _eligible(walk_to, patient, by_prescriber)
    page = client_for(prescriber).get(f"/patients/{patient.id}/pathway/plan/").content.decode()
    for phase, ids in DEFAULT_MEASURE_SCHEDULE.as_dict().items():
        for instrument in ids:
            assert re.search(rf'name="measures_{phase}" value="{instrument}"[^>]*checked', page), (phase, instrument)
    assert not re.search(r'name="measures_before_dosing" value="madrs"[^>]*checked', page)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"protocol_id": "im-ketamine"}, "protocol_id"),  # an IM protocol for an intranasal plan
        ({"protocol_id": "made-up"}, "protocol_id"),
        ({"route": "rectal"}, "route"),
        ({"dose_level": "heroic"}, "dose_level"),
        ({"dosing_sessions_planned": 0}, "dosing_sessions_planned"),
        ({"integration_cadence_days": 60}, "integration_cadence_days"),
        ({"measure_schedule": {"baseline": ["gout"]}}, "measure_schedule"),
        ({"goals": " "}, "goals"),
    ],
)
def test_plan_bad_input_refused(walk_to, patient, by_prescriber, change, field):
    walk_to("planned")
    with pytest.raises(ValidationError) as exc:
        services.plan_sign(by=by_prescriber, patient_id=patient.id, password=PASSWORD,
                           **PLAN | {"change_reason": "x"} | change)
    assert field in exc.value.message_dict
    assert TreatmentPlan.objects.count() == 1


def test_plan_before_eligibility_is_refused(walk_to, patient, by_prescriber):
    walk_to("eligibility")
    with pytest.raises(ValidationError, match="follows a confirmed eligibility decision"):
        services.plan_sign(by=by_prescriber, patient_id=patient.id, password=PASSWORD, **PLAN)
