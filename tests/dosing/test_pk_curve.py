"""The order form's predicted curve reads the patient's medication list (issue 19.3)."""

from datetime import timedelta

from django.utils import timezone

from openkap.dosing import services
from openkap.patients.models import Patient
from tests.dosing.conftest import CHECKLIST


def _order_page(session, patient, medications, prescriber, client_for):
    Patient.objects.filter(id=patient.id).update(current_medications=medications)
    return client_for(prescriber).get(f"/dosing/sessions/{session.id}/").content.decode()


def test_order_form_curve_is_drawn_with_the_listed_inducer_and_names_it(
    im_session, patient, nurse_actor, prescriber, client_for
):
    t0 = timezone.now() - timedelta(minutes=30)
    services.session_check_in(by=nurse_actor, session_id=im_session.id, at=t0)
    services.checklist_complete(by=nurse_actor, session_id=im_session.id, data=CHECKLIST,
                                at=t0 + timedelta(minutes=5))
    html = _order_page(im_session, patient, "Rifampin 600 mg daily", prescriber, client_for)
    assert "Sign the order" in html
    assert "Predicted for this order." in html
    assert "with rifampicin (CYP3A/2B6 inducer)" in html
    assert "\u201cRifampin 600 mg daily\u201d" in html
    # Clarithromycin was studied by mouth only: the IM curve is not drawn "with" it.
    html = _order_page(im_session, patient, "Clarithromycin 500 mg bid", prescriber, client_for)
    assert "with clarithromycin" not in html
    assert "by mouth only" in html
