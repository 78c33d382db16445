"""Issue 13, finding 6c: the audit log gets a hash chain (sealed in batches),
``openkap audit verify`` and signed checkpoints. The database owner deleting the
tail with the triggers disabled is named by verify."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from openkap.audit.integrity import seal_pending
from openkap.audit.models import AuditAction, AuditEvent, AuditSeal
from openkap.audit.services import audit_record

pytestmark = pytest.mark.usefixtures("no_seal_delay")


@pytest.fixture
def no_seal_delay(settings):
    settings.AUDIT_SEAL_DELAY_SECONDS = 0


def _events(n: int, start: int = 0) -> list[AuditEvent]:
    return [audit_record(by=None, action=AuditAction.VIEW, object_type="patient", object_id=start + i,
                         actor_email="a@test.org", detail={"n": start + i}) for i in range(n)]


def _verify(*args: str) -> tuple[bool, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=err)
    except CommandError:
        return False, err.getvalue()
    return True, out.getvalue()


def _as_owner_without_triggers() -> None:
    """What the database owner can do: switch the append-only triggers off."""
    with connection.cursor() as cursor:
        for table in ("audit_auditevent", "audit_auditseal"):
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_update_delete")
            else:
                cursor.execute(f"DROP TRIGGER {table}_no_update")
                cursor.execute(f"DROP TRIGGER {table}_no_delete")


def test_an_intact_log_verifies_and_unsealed_events_are_counted(db, tmp_path):
    _events(5)
    seal_pending()
    _events(2, start=5)
    call_command("audit", "checkpoint", "--out", str(tmp_path), stdout=io.StringIO())
    ok, out = _verify("--checkpoint-dir", str(tmp_path))
    assert ok, out
    assert "7 events in 2 seal(s)" in out
    assert "matches the checkpoint" in out


def test_sealing_twice_adds_nothing_and_seals_chain_to_each_other(db):
    _events(3)
    first = seal_pending()
    assert seal_pending() == []
    _events(3, start=3)
    second = seal_pending()
    assert second[0].prev_hash == first[0].seal_hash
    assert [s.number for s in AuditSeal.objects.order_by("number")] == [1, 2]


def test_tail_deleted_with_its_seal_is_named_against_the_checkpoint(db, tmp_path):
    kept = _events(5)
    seal_pending()
    tail = _events(4, start=5)
    call_command("audit", "checkpoint", "--out", str(tmp_path), stdout=io.StringIO())
    _as_owner_without_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id >= %s", [tail[0].id])
        cursor.execute("DELETE FROM audit_auditseal WHERE number = 2")
    ok, _ = _verify("--no-checkpoint")
    assert ok  # the remaining chain is consistent: only the checkpoint can tell
    ok, err = _verify("--checkpoint-dir", str(tmp_path))
    assert not ok
    assert "names seal #2" in err
    assert f"events up to id {tail[-1].id}" in err
    assert f"seals end at #1 (events up to id {kept[-1].id})" in err
    assert "only 0 remain" in err


def test_tail_events_deleted_under_their_seal_are_named_by_id(db):
    events = _events(6)
    seal_pending()
    _as_owner_without_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id >= %s", [events[4].id])
    ok, err = _verify("--no-checkpoint")
    assert not ok
    assert f"2 audit event(s) missing, ids {events[4].id}-{events[5].id}" in err


def test_an_altered_event_is_found(db):
    events = _events(3)
    seal_pending()
    _as_owner_without_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_email = 'someone@else.org' WHERE id = %s", [events[1].id])
    ok, err = _verify("--no-checkpoint")
    assert not ok
    assert "was altered" in err


def test_events_still_in_open_transactions_are_not_sealed_early(db, settings):
    settings.AUDIT_SEAL_DELAY_SECONDS = 3600
    _events(2)
    assert seal_pending() == []


def test_seals_are_append_only(db):
    from django.db import DatabaseError, transaction

    _events(1)
    seal = seal_pending()[0]
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditSeal.objects.filter(id=seal.id).delete()
