"""Preparation records, consent documents and signatures, withdrawal and re-consent."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.accounts.authz import Denied
from openkap.core.pathway.plan import SAFETY_PLAN_SECTIONS
from openkap.pathway import services
from openkap.pathway.models import ConsentDocument, ConsentSignature, SafetyPlan
from openkap.pathway.selectors import (
    dosing_booking_unmet,
    episode_snapshot,
    pre_session_instructions,
)
from tests.pathway.helpers import CONSENT_TEXT, ROUTE, SAFETY_PLAN


def test_preparation_session_in_the_future_is_refused(walk_to, patient, by_therapist):
    walk_to("planned")
    with pytest.raises(ValidationError) as exc:
        services.preparation_session_record(
            by=by_therapist, patient_id=patient.id, held_on=timezone.localdate() + timedelta(days=1))
    assert "future" in exc.value.message_dict["held_on"][0]


def test_preparation_session_with_someone_not_a_therapist_is_refused(walk_to, patient, by_therapist, nurse):
    walk_to("planned")
    with pytest.raises(ValidationError) as exc:
        services.preparation_session_record(by=by_therapist, patient_id=patient.id,
                                            held_on=timezone.localdate(), therapist_id=nurse.id)
    assert "therapist" in exc.value.message_dict


def test_safety_plan_counts_only_when_complete_and_keeps_versions(walk_to, patient, by_therapist):
    episode = walk_to("planned")
    services.safety_plan_save(by=by_therapist, patient_id=patient.id,
                              sections={"warning_signs": "Not sleeping."})
    assert not episode_snapshot(episode).safety_plan_recorded
    services.safety_plan_save(by=by_therapist, patient_id=patient.id, sections=SAFETY_PLAN)
    assert episode_snapshot(episode).safety_plan_recorded
    assert SafetyPlan.objects.filter(episode=episode).count() == 2
    assert set(SAFETY_PLAN) == set(SAFETY_PLAN_SECTIONS)


@pytest.mark.parametrize("phone", ["", "call me", "12345", "+1 (555) 010-77x8", "5" * 40])
def test_escort_needs_a_phone_number(walk_to, patient, by_therapist, phone):
    walk_to("planned")
    with pytest.raises(ValidationError) as exc:
        services.escort_arrange(by=by_therapist, patient_id=patient.id, name="Ana", phone=phone)
    assert "phone" in exc.value.message_dict


def test_pre_session_instructions_for_reminders(walk_to):
    episode = walk_to("ready")
    text = pre_session_instructions(episode).as_text()
    assert "Fasting: Nothing to eat for 2 hours before." in text
    assert "Your escort home: Ana Lindqvist, (555) 010-7788." in text


def test_nurse_may_record_preparation_but_not_transitions(walk_to, patient, nurse, org, as_actor):
    walk_to("planned")
    by_nurse = as_actor(nurse, org)
    services.escort_arrange(by=by_nurse, patient_id=patient.id, name="Ana", phone="555 010 7788")
    with pytest.raises(Denied):
        services.episode_transition(by=by_nurse, episode_id=patient.episodes.get().id, name="start_preparation")


# --- consent ---------------------------------------------------------------------------------


def test_consent_documents_are_versioned_and_hashed(admin, org, as_actor):
    by_admin = as_actor(admin, org)
    v1 = services.consent_document_publish(by=by_admin, route=ROUTE, title="Consent", text=CONSENT_TEXT)
    v2 = services.consent_document_publish(by=by_admin, route=ROUTE, title="Consent",
                                           text=CONSENT_TEXT.replace("\n", "\r\n") + " Updated.")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.sha256 == hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()
    with pytest.raises(ValidationError, match="same as the version in force"):
        services.consent_document_publish(by=by_admin, route=ROUTE, title="Consent", text=v2.text)


def test_only_admins_publish_consent_documents(by_therapist):
    with pytest.raises(Denied):
        services.consent_document_publish(by=by_therapist, route=ROUTE, title="Consent", text=CONSENT_TEXT)


def test_consent_signature_records_name_time_and_hash(walk_to):
    episode = walk_to("ready")
    signature = ConsentSignature.objects.get(episode=episode)
    assert signature.typed_name == "Maya Lindqvist"
    assert signature.document_sha256 == signature.document.sha256
    assert signature.channel == "clinic"


@pytest.mark.parametrize(("name", "sha_ok", "field"), [
    ("Maya Smith", True, "typed_name"),
    ("Maya Lindqvist", False, "document_sha256"),
])
def test_consent_signature_refused_on_wrong_name_or_stale_document(walk_to, patient, by_therapist, name, sha_ok, field):
    episode = walk_to("ready")
    ConsentSignature.objects.filter(episode=episode).delete()
    document = ConsentDocument.objects.get()
    with pytest.raises(ValidationError) as exc:
        services.consent_sign_in_clinic(by=by_therapist, patient_id=patient.id, typed_name=name,
                                        document_sha256=document.sha256 if sha_ok else "0" * 64)
    assert field in exc.value.message_dict
    assert not ConsentSignature.objects.exists()


def test_new_version_requires_re_consent_before_dosing(walk_to, patient, admin, org, as_actor, by_therapist):
    episode = walk_to("ready")
    new = services.consent_document_publish(by=as_actor(admin, org), route=ROUTE, title="Consent",
                                            text=CONSENT_TEXT + " Revised monitoring times.")
    assert dosing_booking_unmet(episode) == [
        "Consent signed on version v1; the patient must sign the current version v2."]
    services.consent_sign_in_clinic(by=by_therapist, patient_id=patient.id, typed_name=" maya  LINDQVIST ",
                                    document_sha256=new.sha256)
    assert dosing_booking_unmet(episode) == []


def test_withdrawal_blocks_dosing_until_signed_again(walk_to, patient, by_therapist):
    episode = walk_to("ready")
    services.consent_withdraw(by=by_therapist, patient_id=patient.id, reason="Wants to think it over.")
    assert dosing_booking_unmet(episode) == ["The patient has withdrawn consent."]
    with pytest.raises(ValidationError, match="no signed consent to withdraw"):
        services.consent_withdraw(by=by_therapist, patient_id=patient.id, reason="again")
    document = ConsentDocument.objects.get()
    services.consent_sign_in_clinic(by=by_therapist, patient_id=patient.id, typed_name="Maya Lindqvist",
                                    document_sha256=document.sha256)
    assert dosing_booking_unmet(episode) == []


def test_a_route_change_needs_consent_for_the_new_route(walk_to, patient, by_prescriber):
    from tests.conftest import PASSWORD
    from tests.pathway.helpers import PLAN

    episode = walk_to("ready")
    services.plan_sign(by=by_prescriber, patient_id=patient.id, password=PASSWORD,
                       **PLAN | {"route": "intramuscular", "protocol_id": "im-ketamine",
                                 "change_reason": "Nasal congestion: IM instead."})
    assert dosing_booking_unmet(episode) == ["No consent document is in force for this route."]
