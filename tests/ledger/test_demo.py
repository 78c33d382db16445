from openkap.demo import seed_demo
from openkap.ledger.models import InventoryRecord, LedgerEntry
from openkap.ledger.selectors import chain_check, open_discrepancies


def test_demo_ledger_is_realistic_verifies_and_is_idempotent(db):
    seed_demo(patients=30)
    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert kinds == {"receipt", "administration", "waste", "transfer_out", "transfer_in", "destruction", "loss",
                     "count", "adjustment", "correction"}
    assert InventoryRecord.objects.filter(kind="initial").count() == 2
    assert chain_check().ok
    entries = LedgerEntry.objects.count()
    seed_demo(patients=30)
    assert LedgerEntry.objects.count() == entries
    site = LedgerEntry.objects.first().site
    assert len(open_discrepancies(site)) == 1
