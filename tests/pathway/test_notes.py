"""Integration notes and due dates; psychotherapy notes: encrypted at rest, author and
grantees only, every read audited, key rotation, and never in the API."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.http import Http404
from django.test import override_settings
from django.utils import timezone

from openkap.accounts.authz import Denied
from openkap.api.api import api
from openkap.audit.models import AuditAction, AuditEvent
from openkap.measures.models import MeasureAssignment
from openkap.pathway import selectors, services
from openkap.pathway.models import IntegrationNote, PsychotherapyNote
from openkap.pathway.selectors import episode_snapshot, integration_due
from openkap.tasks.models import Task

SECRET = "She spoke for the first time about the night her brother died."


# --- integration ----------------------------------------------------------------------------


def _active(walk_to, by_therapist):
    episode = walk_to("ready")
    services.episode_transition(by=by_therapist, episode_id=episode.id, name="start_series")
    return episode


def test_integration_note_links_the_dosing_session_and_clears_the_due(walk_to, by_therapist, held_dosing, patient):
    episode = _active(walk_to, by_therapist)
    dosing = held_dosing(episode, days_ago=3)
    [due] = integration_due(episode)
    assert (due.due_by - due.dosed_on).days == 7
    assert not due.overdue
    assert episode_snapshot(episode).dosing_sessions_without_integration == 1
    note = services.integration_note_write(
        by=by_therapist, patient_id=patient.id, session_date=timezone.localdate(), template="ifs",
        sections={"parts": "A young part who froze.", "self_energy": "Curious, calm."},
        dosing_session_id=dosing.id,
    )
    assert note.sections == {"parts": "A young part who froze.", "self_energy": "Curious, calm."}
    assert integration_due(episode) == []
    assert episode_snapshot(episode).dosing_sessions_without_integration == 0
    # The plan's after-integration measures fall due in the measures app.
    assert MeasureAssignment.objects.filter(episode=episode, occasion="after_integration").exists()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"template": "freud"}, "template"),
    ({"sections": {"id": "x"}}, "__all__"),
    ({"sections": {"data": " "}}, "__all__"),
    ({"session_date": "2999-01-01"}, "session_date"),
])
def test_integration_note_bad_input_refused(walk_to, by_therapist, patient, kwargs, field):
    walk_to("ready")
    base = {"session_date": timezone.localdate(), "template": "dap", "sections": {"data": "Talked."}}
    with pytest.raises(ValidationError) as exc:
        services.integration_note_write(by=by_therapist, patient_id=patient.id, **base | kwargs)
    assert field in exc.value.message_dict
    assert not IntegrationNote.objects.exists()


def test_integration_note_before_the_dosing_session_is_refused(walk_to, by_therapist, held_dosing, patient):
    episode = _active(walk_to, by_therapist)
    dosing = held_dosing(episode, days_ago=1)
    with pytest.raises(ValidationError) as exc:
        services.integration_note_write(
            by=by_therapist, patient_id=patient.id, session_date=timezone.localdate() - timedelta(days=3),
            template="dap", sections={"data": "x"}, dosing_session_id=dosing.id)
    assert "integration comes after it" in exc.value.message_dict["session_date"][0]


def test_overdue_integration_raises_one_task_for_the_therapist(walk_to, by_therapist, held_dosing, therapist):
    episode = _active(walk_to, by_therapist)
    held_dosing(episode, days_ago=10)
    [due] = integration_due(episode)
    assert due.days_overdue == 3
    raised = services.integration_overdue_tasks()
    assert len(raised) == 1
    task = Task.objects.get(kind="integration_due")
    assert list(task.assignees.values_list("user_id", flat=True)) == [therapist.id]
    assert services.integration_overdue_tasks() == []
    call_command("integration_tasks")
    assert Task.objects.filter(kind="integration_due").count() == 1


def test_the_pathway_tab_shows_an_overdue_integration_without_writing_a_task(walk_to, by_therapist, held_dosing, therapist, patient, client_for):
    # A GET changes nothing: the daily integration_tasks command raises the task.
    episode = _active(walk_to, by_therapist)
    held_dosing(episode, days_ago=10)
    response = client_for(therapist).get(f"/patients/{patient.id}/pathway/")
    assert "3 days overdue" in response.content.decode()
    assert not Task.objects.filter(kind="integration_due").exists()


def test_nurse_cannot_write_integration_notes(walk_to, patient, nurse, org, as_actor):
    walk_to("ready")
    with pytest.raises(Denied):
        services.integration_note_write(by=as_actor(nurse, org), patient_id=patient.id,
                                        session_date=timezone.localdate(), template="dap", sections={"data": "x"})


# --- psychotherapy notes ----------------------------------------------------------------------


def _raw_body(note_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT body_encrypted FROM pathway_psychotherapynote WHERE id = %s", [note_id])
        return cursor.fetchone()[0]


def test_psychotherapy_note_is_encrypted_in_the_database_column(patient, by_therapist):
    note = services.psychotherapy_note_write(by=by_therapist, patient_id=patient.id,
                                             session_date=timezone.localdate(), text=SECRET)
    raw = _raw_body(note.id)
    assert SECRET not in raw
    assert "brother" not in raw
    assert raw.startswith("gAAAAA")  # a Fernet token
    _, text = selectors.psychotherapy_note_read(by=by_therapist, patient_id=patient.id, note_id=note.id)
    assert text == SECRET


def test_psychotherapy_note_visible_to_author_and_grantees_only(patient, by_therapist, by_prescriber, prescriber):
    note = services.psychotherapy_note_write(by=by_therapist, patient_id=patient.id,
                                             session_date=timezone.localdate(), text=SECRET)
    with pytest.raises(Http404):
        selectors.psychotherapy_note_read(by=by_prescriber, patient_id=patient.id, note_id=note.id)
    assert list(selectors.psychotherapy_notes_visible(by_prescriber, patient)) == []
    services.psychotherapy_note_grant(by=by_therapist, patient_id=patient.id, note_id=note.id, user_id=prescriber.id)
    _, text = selectors.psychotherapy_note_read(by=by_prescriber, patient_id=patient.id, note_id=note.id)
    assert text == SECRET
    with pytest.raises(Http404):  # only the author shares
        services.psychotherapy_note_grant(by=by_prescriber, patient_id=patient.id, note_id=note.id,
                                          user_id=prescriber.id)
    services.psychotherapy_note_revoke(by=by_therapist, patient_id=patient.id, note_id=note.id, user_id=prescriber.id)
    with pytest.raises(Http404):
        selectors.psychotherapy_note_read(by=by_prescriber, patient_id=patient.id, note_id=note.id)


def test_every_read_of_a_psychotherapy_note_is_audited(patient, by_therapist):
    note = services.psychotherapy_note_write(by=by_therapist, patient_id=patient.id,
                                             session_date=timezone.localdate(), text=SECRET)
    for _ in range(2):
        selectors.psychotherapy_note_read(by=by_therapist, patient_id=patient.id, note_id=note.id)
    reads = AuditEvent.objects.filter(action=AuditAction.VIEW, object_type="psychotherapy_note", object_id=str(note.id))
    assert reads.count() == 2
    assert all(SECRET not in str(e.detail) for e in AuditEvent.objects.all())


def test_nurses_and_other_organisations_cannot_reach_psychotherapy_notes(
    patient, by_therapist, nurse, outsider, other_org, org, as_actor
):
    note = services.psychotherapy_note_write(by=by_therapist, patient_id=patient.id,
                                             session_date=timezone.localdate(), text=SECRET)
    with pytest.raises(Denied):
        selectors.psychotherapy_note_read(by=as_actor(nurse, org), patient_id=patient.id, note_id=note.id)
    with pytest.raises(Http404):
        selectors.psychotherapy_note_read(by=as_actor(outsider, other_org), patient_id=patient.id, note_id=note.id)


def test_grant_only_to_a_therapist_or_prescriber(patient, by_therapist, nurse):
    note = services.psychotherapy_note_write(by=by_therapist, patient_id=patient.id,
                                             session_date=timezone.localdate(), text=SECRET)
    with pytest.raises(ValidationError) as exc:
        services.psychotherapy_note_grant(by=by_therapist, patient_id=patient.id, note_id=note.id, user_id=nurse.id)
    assert "user" in exc.value.message_dict


def test_psychotherapy_notes_are_not_in_the_api():
    paths = api.get_openapi_schema()["paths"]
    assert not [p for p in paths if "psychotherapy" in p]


def test_key_rotation_re_encrypts_under_the_new_key(patient, by_therapist, settings):
    note = services.psychotherapy_note_write(by=by_therapist, patient_id=patient.id,
                                             session_date=timezone.localdate(), text=SECRET)
    old_key = settings.OPENKAP_FIELD_KEYS[0]
    new_key = Fernet.generate_key().decode()
    before = _raw_body(note.id)
    with override_settings(OPENKAP_FIELD_KEYS=[new_key, old_key]):
        call_command("rotate_field_keys")
        after = _raw_body(note.id)
        assert after != before
        assert Fernet(new_key).decrypt(after.encode()).decode() == SECRET
    with override_settings(OPENKAP_FIELD_KEYS=[new_key]):
        _, text = selectors.psychotherapy_note_read(by=by_therapist, patient_id=patient.id, note_id=note.id)
        assert text == SECRET
    assert PsychotherapyNote.objects.count() == 1


def _settings_import(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "OPENKAP_FIELD_KEYS"}}
    return subprocess.run([sys.executable, "-c", "import openkap.settings"], env=clean | env,
                          capture_output=True, text=True, check=False)


def test_production_refuses_to_start_without_field_keys():
    result = _settings_import({"DEBUG": "false", "SECRET_KEY": "k" * 50})
    assert result.returncode != 0
    assert "OPENKAP_FIELD_KEYS must be set" in result.stderr


def test_production_refuses_a_malformed_field_key():
    result = _settings_import({"DEBUG": "false", "SECRET_KEY": "k" * 50, "OPENKAP_FIELD_KEYS": "not-a-key"})
    assert "entry 1 is not a Fernet key" in result.stderr


def test_development_derives_a_field_key():
    assert _settings_import({"DEBUG": "true"}).returncode == 0
    key = Fernet.generate_key().decode()
    assert _settings_import({"DEBUG": "false", "SECRET_KEY": "k" * 50, "OPENKAP_FIELD_KEYS": key}).returncode == 0
