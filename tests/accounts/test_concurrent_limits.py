"""Limits hold when the attempts arrive at once, as from several app servers: each
counted attempt waits for the one before it (openkap.dblocks, docs/adr/0055-scale-out.md).
PostgreSQL only (concurrent transactions; transaction=True as in tests/ledger/test_concurrency.py)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection

from openkap.accounts import services
from openkap.audit.models import AuditAction, AuditEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUESSERS = 12


def test_wrong_passwords_sent_at_once_lock_the_account_at_the_limit(therapist):
    start = threading.Barrier(GUESSERS)
    answers: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        try:
            start.wait()
            result = services.login_attempt(email=therapist.email, password=f"wrong-{n}", ip=f"10.0.0.{n}",
                                            user_agent="test")
            with lock:
                answers[result.error] += 1
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    limit = settings.LOGIN_MAX_FAILURES_PER_ACCOUNT
    checked = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, detail__why="bad_credentials").count()
    # Exactly the limit's worth of passwords were checked; every later guess met the lock.
    assert checked == limit
    assert answers == {services.BAD_CREDENTIALS_MESSAGE: limit - 1, services.LOCKED_MESSAGE: GUESSERS - limit + 1}
    assert AuditEvent.objects.filter(action=AuditAction.LOCKED_OUT).count() == 1
