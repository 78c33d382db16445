"""Tampering with stored rows is found by ``openkap ledger verify``.

The append-only trigger is switched off inside the test's own transaction (DDL is
transactional on both PostgreSQL and SQLite), so the rollback at the end of the
test puts it back."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from openkap.ledger import services
from openkap.ledger.models import LedgerEntry

TABLE = "ledger_ledgerentry"


def disable_append_only_trigger() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks of the rows just written would block the ALTER.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_no_update_delete")
        else:
            cursor.execute(f"DROP TRIGGER {TABLE}_no_update")
            cursor.execute(f"DROP TRIGGER {TABLE}_no_delete")


def verify(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger", "verify", *args, stdout=out, stderr=err)
    except CommandError as exc:
        raise AssertionError(err.getvalue()) from exc
    return out.getvalue()


def verify_fails() -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="verification failed"):
        call_command("ledger", "verify", stdout=io.StringIO(), stderr=err)
    return err.getvalue()


@pytest.fixture
def history(nurse_actor, prescriber, lot, session):
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="40")
    services.ledger_waste(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, mg="10",
                          dosing_session_id=session.id)
    services.ledger_count(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, units="9.5")
    return list(LedgerEntry.objects.filter(lot=lot).order_by("sequence"))


def test_verify_passes_on_an_intact_ledger(history):
    assert "Ledger intact: 4 entries in 1 site(s), 1 lot(s)" in verify()


def test_changed_quantity_is_named_by_verify(history):
    administration = history[1]
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET mg = 4, units = 0.04 WHERE id = %s", [administration.id])
    err = verify_fails()
    assert f"entry #2 (row id {administration.id}, lot KX-100-A)" in err
    assert "hash mismatch" in err


def test_changed_patient_is_named_by_verify(history, unassigned_patient):
    administration = history[1]
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET patient_id = %s WHERE id = %s", [unassigned_patient.id, administration.id])
    assert f"row id {administration.id}" in verify_fails()


def test_deleted_middle_entry_is_named_by_verify(history):
    waste = history[2]
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [waste.id])
    err = verify_fails()
    assert f"entry #4 (row id {history[3].id}" in err
    assert "entry #3 is missing" in err


def test_deleted_last_entry_is_found_from_the_head(history):
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [history[-1].id])
    assert "entries are missing from the end" in verify_fails()


def test_edited_balance_is_found(history, lot):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_lotbalance SET mg = 999, units = 9.99 WHERE lot_id = %s", [lot.id])
    assert "its entries add up to 950 mg" in verify_fails()


def test_verify_can_be_limited_to_a_site(history, site):
    assert "4 entries" in verify("--site", str(site.id))
    with pytest.raises(CommandError, match="no site"):
        call_command("ledger", "verify", "--site", "999999", stdout=io.StringIO())
