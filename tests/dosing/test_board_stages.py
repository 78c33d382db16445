"""The board reads what a session's stage depends on (checklist, order, preparation and its
check) with the sessions (ADR 0098); the session page reads them its own way. Both must
give the same stage at every step, including after a voided preparation and a cancelled
order."""

from __future__ import annotations

import pytest

from openkap.dosing import selectors, services
from tests.conftest import PASSWORD
from tests.dosing.conftest import CHECKLIST

VERIFY = {"drug_confirmed": True, "concentration_seen": "50", "amount_seen": "0.68", "dose_mg_seen": "34"}


def _stages(session, actor) -> tuple[str, str]:
    rows = [r for r in selectors.board(by=actor, site_id=session.site_id).rows if r.session.id == session.id]
    page = selectors.session_view(by=actor, session_id=session.id).stage
    return (rows[0].stage if rows else "not on the board"), page


@pytest.mark.django_db
def test_the_board_shows_the_session_pages_stage_at_every_step(im_session, nurse_actor, second_nurse_actor,
                                                              prescriber_actor, stock, patient):
    s = im_session
    seen = []

    def look(expected: str) -> None:
        board, page = _stages(s, nurse_actor)
        seen.append(board)
        assert board == page == expected

    services.session_check_in(by=nurse_actor, session_id=s.id)
    look("checklist")
    services.checklist_complete(by=nurse_actor, session_id=s.id, data=CHECKLIST)
    look("order")
    services.dose_order_sign(by=prescriber_actor, session_id=s.id, password=PASSWORD)
    look("prepare")
    services.dose_prepare(by=nurse_actor, session_id=s.id, lot_id=stock["50"].id)
    look("verify")
    services.preparation_void(by=nurse_actor, session_id=s.id, reason="Drawn from the wrong vial.")
    look("prepare")
    services.dose_prepare(by=nurse_actor, session_id=s.id, lot_id=stock["50"].id)
    look("verify")
    services.dose_verify(by=second_nurse_actor, session_id=s.id, date_of_birth_seen=patient.date_of_birth, **VERIFY)
    look("administer")
    services.administration_record(by=nurse_actor, session_id=s.id, kind="given")
    look("monitor")
    assert seen == ["checklist", "order", "prepare", "verify", "prepare", "verify", "administer", "monitor"]
