"""A writer killed with SIGKILL in the middle of an entry leaves nothing behind.

The child process records an administration and is killed after its one write
statement (entry, audit row, balance and chain head at once) and before COMMIT, while
it holds the site's chain head. PostgreSQL rolls its transaction back when the
connection drops: the lock is released, no half-written row, balance or head is left,
and the next writer continues the same chain. A writer killed after its COMMIT and before
the flush that confirms it (ADR 0107) leaves its entry, never confirmed, as one killed
after a durable COMMIT did. PostgreSQL only (row locks and a second process on the same
database; see test_concurrency for why transaction=True)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from openkap.audit.models import AuditEvent
from openkap.ledger import services
from openkap.ledger.models import LedgerEntry, LotBalance, SiteLedgerHead
from openkap.ledger.selectors import chain_check

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHILD = """
import sys, time, django
django.setup()
from django.db import connection
from openkap.accounts.authz import build_actor
from openkap.accounts.models import Organization, User
from openkap.ledger import services
from openkap.ledger.services.statements import FLUSH_SQL

user_id, org_id, session_id, lot_id = map(int, sys.argv[1:5])
by = build_actor(User.objects.get(id=user_id), Organization.objects.get(id=org_id))

stop_at = sys.argv[5]

def stop(execute, sql, params, many, context):
    if stop_at == "flush" and sql == FLUSH_SQL:
        print("committed", flush=True)  # COMMIT returned, the WAL not yet flushed for us
        time.sleep(60)
    result = execute(sql, params, many, context)
    if stop_at == "commit" and sql.startswith("WITH") and "ledger_ledgerentry" in sql:
        print("written", flush=True)  # inside the transaction, the head still locked
        time.sleep(60)
    return result

with connection.execute_wrapper(stop):
    services.ledger_administer(by=by, dosing_session_id=session_id, lot_id=lot_id, mg="10")
print("confirmed", flush=True)
"""


def _kill_writer_at(stop_at: str, said: str, nurse_actor, lot, session) -> None:
    """Run an administration in a child process and SIGKILL it once it says ``said``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DATABASE_URL": _url(connection.settings_dict)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(nurse_actor.user.id), str(nurse_actor.organization.id),
         str(session.id), str(lot.id), stop_at],
        stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == said
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_writer_killed_before_commit_leaves_the_ledger_whole(nurse_actor, lot, session):
    head_before = SiteLedgerHead.objects.get(site=lot.site)
    entries_before, audits_before = LedgerEntry.objects.count(), AuditEvent.objects.count()
    _kill_writer_at("commit", "written", nurse_actor, lot, session)

    # The next writer gets the lock (PostgreSQL aborted the dead connection's transaction).
    entry = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg=Decimal(10))
    assert entry.sequence == head_before.last_sequence + 1
    assert entry.prev_hash == head_before.last_hash
    assert LedgerEntry.objects.count() == entries_before + 1
    assert AuditEvent.objects.count() == audits_before + 1
    audited = set(AuditEvent.objects.filter(object_type="ledger_entry").values_list("object_id", flat=True))
    assert audited == {str(pk) for pk in LedgerEntry.objects.values_list("id", flat=True)}
    assert LotBalance.objects.get(lot=lot).mg == Decimal(990)
    assert chain_check().ok


def test_writer_killed_between_commit_and_flush_leaves_its_entry(nurse_actor, lot, session):
    """Its transaction committed (asynchronously) and released the head; it dies before the
    flush that would have confirmed it. The entry stays, exactly as for a writer killed
    after a durable COMMIT before answering (and the WAL writer flushes it within
    3 x wal_writer_delay); the next writer chains onto it."""
    head_before = SiteLedgerHead.objects.get(site=lot.site)
    _kill_writer_at("flush", "committed", nurse_actor, lot, session)

    orphan = LedgerEntry.objects.get(site=lot.site, sequence=head_before.last_sequence + 1)
    assert (orphan.kind, orphan.mg, orphan.prev_hash) == ("administration", Decimal(10), head_before.last_hash)
    assert AuditEvent.objects.filter(object_type="ledger_entry", object_id=str(orphan.id)).exists()
    entry = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg=Decimal(10))
    assert (entry.sequence, entry.prev_hash) == (orphan.sequence + 1, orphan.entry_hash)
    assert LotBalance.objects.get(lot=lot).mg == Decimal(980)
    assert chain_check().ok


def _url(db: dict[str, object]) -> str:
    auth = f"{db['USER']}" + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
