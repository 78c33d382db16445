from openkap.demo import seed_demo
from openkap.ledger.models import InventoryRecord, LedgerEntry
from openkap.ledger.selectors import chain_check, open_discrepancies
from tests.conftest import DEMO_PATIENTS


def test_demo_ledger_is_realistic_verifies_and_is_idempotent(demo_clinic, db):
    org = demo_clinic.report.organization
    entries = LedgerEntry.objects.filter(site__organization=org)
    kinds = set(entries.values_list("kind", flat=True))
    assert kinds == {"receipt", "administration", "waste", "transfer_out", "transfer_in", "destruction", "loss",
                     "count", "adjustment", "correction"}
    assert InventoryRecord.objects.filter(site__organization=org, kind="initial").count() == 2
    assert chain_check().ok
    count = entries.count()
    seed_demo(patients=DEMO_PATIENTS)
    assert entries.count() == count
    site = entries.first().site
    assert len(open_discrepancies(site)) == 1
