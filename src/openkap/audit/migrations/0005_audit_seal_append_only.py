from django.db import migrations

from openkap.dbtriggers import append_only


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_audit_seal")]

    operations = [append_only("audit_auditseal")]
