"""The administration writes its ledger entry inside the dosing transaction (with the
event that points at it): that transaction commits without waiting for the disk, and
``administration_record`` returns only after the flush (ADR 0107). PostgreSQL only,
``transaction=True`` (the flush follows the outermost COMMIT)."""

from __future__ import annotations

import pytest

from openkap.dosing.models import AdministrationEvent
from openkap.ledger.models import LedgerEntry
from tests.dosing.conftest import run_to_monitoring
from tests.ledger.test_durability import flushes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("durable_commits")]


def test_the_administration_returns_after_its_ledger_entry_is_on_disk(
        im_session, nurse_actor, second_nurse_actor, prescriber_actor, stock):
    with flushes(site_id=im_session.site_id) as seen:
        run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                          prescriber_actor=prescriber_actor, lot=stock["50"])
    entry = LedgerEntry.objects.get(dosing_session=im_session, kind="administration")
    assert AdministrationEvent.objects.get(session=im_session, kind="given").ledger_entry_id == entry.id
    assert len(seen) == 1  # only the administration writes the ledger
    (flush,) = seen
    assert not flush["in_transaction"]
    assert flush["head_free_at"] == entry.sequence
    assert flush["covered"]
