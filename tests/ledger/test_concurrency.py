"""Eight writers draw from one lot at once on PostgreSQL: no lost update, the exact
final balance, refusals exactly where the stock runs out, one unbroken chain.

Teardown: this test commits (``transaction=True``), so pytest-django empties the
tables afterwards with Django's flush. On PostgreSQL the flush is a TRUNCATE, which
the append-only row triggers do not see and which the test role may run because
it owns the tables (the reason the production role must not own them). On SQLite
the flush would be a DELETE that the triggers refuse, and SQLite has no row locks
to test anyway: the test is PostgreSQL-only."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from openkap.ledger import services
from openkap.ledger.models import LedgerEntry, LotBalance
from openkap.ledger.selectors import chain_check

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

WRITERS = 8
ATTEMPTS = 25
DOSE_MG = Decimal(10)


def test_eight_parallel_writers_never_overdraw_one_lot(nurse_actor, prescriber, lot, session):
    start = threading.Barrier(WRITERS)
    outcomes: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        try:
            start.wait()
            for _ in range(ATTEMPTS):
                try:
                    if n % 2:
                        services.ledger_waste(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, mg=DOSE_MG)
                    else:
                        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id,
                                                   mg=DOSE_MG)
                    outcome = "written"
                except ValidationError as exc:
                    outcome = "refused" if "Not enough" in " ".join(exc.messages) else f"other: {exc}"
                with lock:
                    outcomes[outcome] += 1
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # 1000 mg on hand, 200 attempts of 10 mg: exactly 100 fit.
    assert outcomes == {"written": 100, "refused": 100}
    balance = LotBalance.objects.get(lot=lot)
    assert (balance.mg, balance.units, balance.entries) == (0, 0, 101)
    sequences = list(LedgerEntry.objects.filter(site=lot.site).order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 102))
    assert chain_check().ok
