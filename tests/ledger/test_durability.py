"""Early lock release (ADR 0107): a ledger write's transaction commits without waiting for
the WAL flush, so the site's chain head is free at once, and the caller is answered only
once the WAL is on disk past that commit.

PostgreSQL only, and ``transaction=True``: the flush runs after the outermost COMMIT,
which a test wrapped in one transaction never reaches (see test_concurrency for the
teardown). The flush is observed with Django's ``execute_wrapper``, which sees it like
every statement of the ledger."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.urls import reverse

from openkap.accounts import services as account_services
from openkap.ledger import services
from openkap.ledger.models import LedgerEntry, LotBalance, SiteLedgerHead
from openkap.ledger.selectors import chain_check
from openkap.ledger.services.statements import FLUSH_SQL, wait_durable
from tests.ledger.test_crash import _url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("durable_commits")]


def _one(sql: str, params: Any = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@contextmanager
def flushes(*, fail: bool = False, site_id: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every flush this connection runs, with what it saw: whether a transaction was open,
    the WAL insert position before it (past every commit made so far), the flushed
    position once it returned, and (``site_id``) whether another connection could lock the
    site's chain head and read its sequence before the flush. ``fail`` makes it fail."""
    seen: list[dict[str, Any]] = []

    def observe(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql != FLUSH_SQL:
            return execute(sql, params, many, context)
        record: dict[str, Any] = {"in_transaction": connection.in_atomic_block or not connection.get_autocommit()}
        cursor = context["cursor"]
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        record["before"] = cursor.fetchone()[0]
        if site_id is not None:
            with psycopg.connect(_url(connection.settings_dict)) as other:
                record["head_free_at"] = other.execute(
                    "SELECT last_sequence FROM ledger_siteledgerhead WHERE site_id = %s FOR UPDATE NOWAIT",
                    (site_id,)).fetchone()[0]
        seen.append(record)
        if fail:
            raise OperationalError("the flush failed (test)")
        result = execute(sql, params, many, context)
        cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", (record["before"],))
        record["covered"] = cursor.fetchone()[0]
        return result

    with connection.execute_wrapper(observe):
        yield seen


def test_the_lock_holder_commits_without_waiting_for_the_disk(nurse_actor, lot, session):
    """SET LOCAL: the writing transaction runs with synchronous_commit off, the next one
    with the server's setting again."""
    assert _one("SHOW synchronous_commit") == "on"
    with transaction.atomic():
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
        assert _one("SHOW synchronous_commit") == "off"
    assert _one("SHOW synchronous_commit") == "on"


def test_the_write_returns_only_once_its_commit_is_on_disk(nurse_actor, lot, session):
    head = SiteLedgerHead.objects.get(site=lot.site)
    with flushes(site_id=lot.site_id) as seen:
        entry = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    assert len(seen) == 1
    (flush,) = seen
    assert not flush["in_transaction"]  # after COMMIT: the head was already unlocked
    assert flush["head_free_at"] == head.last_sequence + 1 == entry.sequence
    assert flush["covered"]  # the WAL is on disk past the entry's commit when the service returns


def test_a_failed_flush_fails_the_write(nurse_actor, lot, session):
    """The entry is committed (as when a writer dies after COMMIT), but the caller is not
    told it was recorded."""
    with flushes(fail=True) as seen, pytest.raises(OperationalError):
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    assert len(seen) == 1
    assert LedgerEntry.objects.filter(lot=lot, kind="administration").count() == 1
    assert chain_check().ok


def test_two_entries_of_one_transaction_wait_for_one_flush(nurse_actor, admin_actor, lot, other_site):
    """A transfer writes an entry at each site; the one flush after COMMIT covers both."""
    with flushes() as seen:
        services.ledger_transfer(by=admin_actor, lot_id=lot.id, to_site_id=other_site.id, units="1")
    assert [f["covered"] for f in seen] == [True]
    assert LedgerEntry.objects.filter(kind__in=["transfer_out", "transfer_in"]).count() == 2


def test_nothing_but_ledger_entries_waits(admin_actor, site):
    with flushes() as seen:
        services.supplier_create(by=admin_actor, name="Other Pharma", address="3 Dock St, Troy NY 12180",
                                 dea_number="PO1234563")
    assert seen == []


def _api(token: str, lot: Any, session: Any) -> Any:
    return Client(raise_request_exception=False).post(
        f"/api/v1/ledger/lots/{lot.id}/administrations", data=json.dumps({"dosing_session_id": session.id, "mg": "10"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def _page(client: Any, lot: Any, session: Any) -> Any:
    return client.post(reverse("ledger:administer", args=[lot.site_id]),
                       {"dosing_session": session.id, "lot": lot.id, "amount": "10", "amount_in": "mg"})


def test_the_api_and_the_page_answer_after_the_flush(nurse, org, as_actor, client_for, lot, session):
    token = account_services.api_token_create(by=as_actor(nurse, org), name="t")[1]
    page = client_for(nurse)
    page.raise_request_exception = False
    for send in (lambda: _api(token, lot, session), lambda: _page(page, lot, session)):
        with flushes() as seen:
            response = send()
        assert response.status_code in (201, 302), response.content
        assert [f["covered"] for f in seen] == [True]
        with flushes(fail=True) as seen:
            response = send()
        assert response.status_code == 500  # committed, never confirmed
        assert len(seen) == 1
    assert LedgerEntry.objects.filter(lot=lot, kind="administration").count() == 4
    assert LotBalance.objects.get(lot=lot).mg == Decimal(960)
    assert chain_check().ok


def test_a_checkpoint_signs_only_durable_heads(nurse_actor, lot, session, tmp_path):
    """It writes nothing in the database, so nothing else would wait: a crash could take
    back a head it signed, and verify would call the shorter chain tampered with."""
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    with flushes() as seen:
        call_command("ledger", "checkpoint", "--out", str(tmp_path), stdout=io.StringIO())
    assert [(f["in_transaction"], f["covered"]) for f in seen] == [(False, True)]
    assert len(list(tmp_path.iterdir())) == 1


def test_wait_durable_flushes_an_asynchronous_commit_itself(org):
    """Not left to the WAL writer (which flushes within 3 x wal_writer_delay): a transaction
    that only takes an xid commits asynchronously too, and was past the commit when it
    returned 1 time in 100 in bench/ledger.py; the flush must be, every time."""
    rounds = 20
    covered = 0
    for _ in range(rounds):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("UPDATE accounts_organization SET name = name WHERE id = %s", [org.id])
        committed = _one("SELECT pg_current_wal_insert_lsn()::text")
        wait_durable()
        covered += _one("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [committed])
    assert covered == rounds
