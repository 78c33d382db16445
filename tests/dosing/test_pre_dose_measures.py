"""Issue 21.6: the measures scheduled before a dosing session are checked in the pre-dose
checklist; the dose goes ahead without them only with a written reason, which the
record keeps, and they stop being overdue."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from openkap.dosing import services
from openkap.dosing.models import PreDoseChecklist
from openkap.measures.models import MeasureAssignment
from tests.dosing.conftest import CHECKLIST, book, screen

pytestmark = pytest.mark.django_db


@pytest.fixture
def unscreened(ready, library, stock, patient, site, room, nurse, nurse_actor):
    """Checked in; a PHQ-9 screen entered by itself, not as the session's pre-dose PHQ-9."""
    session = book(patient, ready, site, room, nurse, with_screen=False)
    screen(patient, nurse_actor)
    services.session_check_in(by=nurse_actor, session_id=session.id)
    return session


def _pre_dose(session):
    return MeasureAssignment.objects.filter(occasion="before_dosing", occasion_key=f"dosing:{session.id}")


def test_the_checklist_names_the_missing_pre_dose_measures(unscreened, nurse_actor):
    missing = sorted(_pre_dose(unscreened).values_list("instrument_id", flat=True))
    assert missing  # the plan schedules pre-dose measures for this session
    with pytest.raises(ValidationError) as exc:
        services.checklist_complete(by=nurse_actor, session_id=unscreened.id, data=CHECKLIST)
    message = exc.value.message_dict["pre_dose_measures_note"][0]
    assert message.startswith("Pre-dose measures not completed: PHQ-9")
    assert "write why the dose goes ahead" in message
    assert not PreDoseChecklist.objects.filter(session=unscreened).exists()
    assert all(a.is_open for a in _pre_dose(unscreened))


def test_a_written_reason_lets_the_dose_go_ahead_and_closes_them(unscreened, nurse_actor, nurse):
    reason = "Patient completed a paper PHQ-9 in the waiting room; scanned to the chart."
    checklist = services.checklist_complete(by=nurse_actor, session_id=unscreened.id,
                                            data={**CHECKLIST, "pre_dose_measures_note": reason})
    assert checklist.pre_dose_measures_note == reason
    assert set(checklist.pre_dose_measures_missing) == set(_pre_dose(unscreened).values_list("instrument_id", flat=True))
    for a in _pre_dose(unscreened):
        assert not a.is_open
        assert (a.cancelled_by, a.cancel_reason) == (nurse, f"Dosed without it: {reason}"[:200])


def test_completed_pre_dose_measures_need_no_reason(esk_session, nurse_actor):
    # The fixture's screen is the session's scheduled pre-dose PHQ-9.
    services.session_check_in(by=nurse_actor, session_id=esk_session.id)
    open_ones = [a for a in _pre_dose(esk_session) if a.is_open]
    assert open_ones == []
    checklist = services.checklist_complete(by=nurse_actor, session_id=esk_session.id, data=CHECKLIST)
    assert (checklist.pre_dose_measures_missing, checklist.pre_dose_measures_note) == ([], "")


def test_the_session_page_lists_them_and_the_record_keeps_the_reason(unscreened, nurse, nurse_actor, client_for):
    client = client_for(nurse)
    page = client.get(reverse("dosing:session", args=[unscreened.id])).content.decode()
    assert "Pre-dose measures" in page
    assert "Not completed yet: <strong>PHQ-9</strong>" in page
    services.checklist_complete(by=nurse_actor, session_id=unscreened.id,
                                data={**CHECKLIST, "pre_dose_measures_note": "Declined today; clinician interview instead."})
    page = client.get(reverse("dosing:session", args=[unscreened.id])).content.decode()
    assert "Pre-dose measures not done" in page
    assert "Declined today; clinician interview instead." in page
