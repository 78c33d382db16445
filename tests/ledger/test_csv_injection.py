"""Issue 13, finding 4: a patient's address reached the ledger reports' CSV verbatim."""

import csv
import io

from django.urls import reverse

from openkap.ledger import services

ATTACK = "=HYPERLINK(\"http://evil.example\",\"x\")"


def test_a_hostile_patient_address_is_neutralised_in_the_administration_report(
    nurse, client_for, lot, session, nurse_actor
):
    patient = session.patient
    patient.address = ATTACK
    patient.save()
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="20")
    url = reverse("ledger:report_administrations", args=[lot.site_id])
    body = client_for(nurse).get(url, {"format": "csv"}).content.decode()
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert "'" + ATTACK in cells
    assert ATTACK not in cells
