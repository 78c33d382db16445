"""Word-start search keys of patient names (core.name_search) and prefix indexes for
name and MRN searches. A prefix LIKE uses a btree only with the pattern operator class
on PostgreSQL and only with the NOCASE collation on SQLite (its LIKE ignores ASCII
case), so the two indexes are made per database here rather than in Meta."""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {
    "postgresql": [
        "CREATE INDEX IF NOT EXISTS patient_name_key_prefix ON patients_patientnamekey "
        "(organization_id, key varchar_pattern_ops)",
        # The MRN search is istartswith: Django writes UPPER("mrn"::text) LIKE UPPER(...).
        "CREATE INDEX IF NOT EXISTS patient_org_mrn_prefix ON patients_patient "
        "(organization_id, (UPPER(mrn::text)) text_pattern_ops)",
    ],
    "sqlite": [
        "CREATE INDEX IF NOT EXISTS patient_name_key_prefix ON patients_patientnamekey "
        "(organization_id, key COLLATE NOCASE)",
        "CREATE INDEX IF NOT EXISTS patient_org_mrn_prefix ON patients_patient (organization_id, mrn COLLATE NOCASE)",
    ],
}


def create_indexes(apps, schema_editor):
    for sql in INDEXES.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql)


def drop_indexes(apps, schema_editor):
    for name in ("patient_name_key_prefix", "patient_org_mrn_prefix"):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_recovery_codes_hmac'),
        ('patients', '0005_patient_preferred_language'),
    ]

    operations = [
        migrations.CreateModel(
            name='PatientNameKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=320)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='name_keys', to='patients.patient')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('patient', 'key'), name='patient_name_key_unique')],
            },
        ),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
