from django.db import migrations

from openkap.dbtriggers import append_only


class Migration(migrations.Migration):
    dependencies = [("measures", "0001_initial")]

    operations = [append_only("measures_measureresponse")]
