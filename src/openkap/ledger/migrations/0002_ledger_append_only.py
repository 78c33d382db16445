from django.db import migrations

from openkap.dbtriggers import append_only


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [append_only("ledger_ledgerentry"), append_only("ledger_inventoryrecord")]
