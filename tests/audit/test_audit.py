import csv
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import audit_record


@pytest.fixture
def event(db):
    return audit_record(by=None, action=AuditAction.LOGIN, actor_email="a@test.org", object_type="user")


def test_audit_update_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_email="forged@test.org")
    assert AuditEvent.objects.get(pk=event.pk).actor_email == "a@test.org"


def test_audit_delete_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_raw_sql_update_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'view' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.LOGIN


def test_chart_read_is_audited(therapist, patient, client_for):
    client_for(therapist).get(reverse("patients:chart", args=[patient.id]))
    event = AuditEvent.objects.get(action=AuditAction.VIEW, patient_id=patient.id)
    assert event.actor_id == therapist.id
    assert event.organization_id == patient.organization_id
    assert event.ip == "127.0.0.1"


def test_admin_searches_and_exports_the_log(admin, therapist, patient, client_for):
    client_for(therapist).get(reverse("patients:chart", args=[patient.id]))
    client = client_for(admin)
    response = client.get(reverse("audit:log"), {"patient_id": patient.id, "action": "view"})
    assert response.status_code == 200
    rows = list(response.context["page"])
    assert [r.actor_email for r in rows] == [therapist.email]
    response = client.get(reverse("audit:export"), {"patient_id": patient.id})
    body = b"".join(response.streaming_content).decode()
    parsed = list(csv.DictReader(io.StringIO(body)))
    assert {r["action"] for r in parsed} == {"view"}
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT, actor_id=admin.id).exists()


def test_audit_log_shows_only_own_organisation(admin, outsider, other_org, as_actor, client_for):
    audit_record(by=as_actor(outsider, other_org), action=AuditAction.VIEW, object_type="x")
    response = client_for(admin).get(reverse("audit:log"))
    assert all(e.organization_id == admin.memberships.first().organization_id for e in response.context["page"])
    assert not any(e.actor_email == outsider.email for e in response.context["page"])


def test_permission_denied_is_audited_even_though_the_transaction_rolled_back(nurse, client_for):
    response = client_for(nurse).get(reverse("audit:log"))
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, actor_id=nurse.id).exists()


def test_audit_rows_name_the_patient_with_the_mrn_for_the_admin(admin, therapist, patient, client_for):
    # Issue 21.8: a number was all the reader got.
    client_for(therapist).get(reverse("patients:chart", args=[patient.id]))
    page = client_for(admin).get(reverse("audit:log"), {"patient_id": patient.id}).content.decode()
    assert f'<a href="{reverse("patients:chart", args=[patient.id])}">{patient.display_name}</a>' in page
    assert patient.mrn in page


def test_audit_rows_of_another_organisations_patient_stay_a_number(admin, org, patient, other_patient, as_actor,
                                                                    therapist, unassigned_patient):
    from openkap.audit.selectors import patient_labels

    labels = patient_labels(by=as_actor(admin, org), patient_ids=[patient.id, other_patient.id, None])
    assert labels == {patient.id: (patient.display_name, patient.mrn)}
    # A clinician sees only the care team's patients named (were they given the log).
    labels = patient_labels(by=as_actor(therapist, org), patient_ids=[patient.id, unassigned_patient.id])
    assert set(labels) == {patient.id}
