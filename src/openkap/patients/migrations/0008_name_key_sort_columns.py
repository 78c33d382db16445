"""The list's order on each name search key (lower-cased family and given names), filled
for the patients already registered, and the keys' prefix index widened to carry the
patient and those columns: a name search then sorts, pages and counts its matches from
the index alone instead of reading every matching patient (ADR 0091)."""

from django.db import migrations, models

from openkap.core.name_search import word_start_suffixes

CHUNK = 2000

INDEXES = {
    "postgresql": (
        "CREATE INDEX patient_name_key_prefix ON patients_patientnamekey "
        "(organization_id, key varchar_pattern_ops) INCLUDE (patient_id, sort_family, sort_given)",
        "CREATE INDEX patient_name_key_prefix ON patients_patientnamekey (organization_id, key varchar_pattern_ops)",
    ),
    "sqlite": (
        "CREATE INDEX patient_name_key_prefix ON patients_patientnamekey "
        "(organization_id, key COLLATE NOCASE, patient_id, sort_family, sort_given)",
        "CREATE INDEX patient_name_key_prefix ON patients_patientnamekey (organization_id, key COLLATE NOCASE)",
    ),
}


def fill(apps, schema_editor):
    """Each chunk's keys written again with their sort names (two statements a chunk, not
    one UPDATE a patient); the keys themselves are what 0007 wrote from search_name."""
    Patient = apps.get_model("patients", "Patient")
    PatientNameKey = apps.get_model("patients", "PatientNameKey")
    last = 0
    while True:
        chunk = list(Patient.objects.filter(id__gt=last).order_by("id").values_list(
            "id", "organization_id", "search_name", "legal_family_name", "legal_given_name")[:CHUNK])
        if not chunk:
            return
        PatientNameKey.objects.filter(patient_id__in=[row[0] for row in chunk]).delete()
        # Python's lower(), as the patient services write them (not the database's LOWER).
        PatientNameKey.objects.bulk_create([
            PatientNameKey(organization_id=org, patient_id=pid, key=key,
                           sort_family=family.lower(), sort_given=given.lower())
            for pid, org, name, family, given in chunk for key in word_start_suffixes(name)
        ], batch_size=1000)
        last = chunk[-1][0]


def _index(which):
    def run(apps, schema_editor):
        sql = INDEXES.get(schema_editor.connection.vendor)
        if sql is not None:
            if schema_editor.connection.vendor == "postgresql":
                # The refilled keys' foreign keys are checked now, not at commit: PostgreSQL
                # builds no index on a table with checks still pending.
                schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            schema_editor.execute("DROP INDEX IF EXISTS patient_name_key_prefix")
            schema_editor.execute(sql[which])
    return run


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_fill_patient_name_keys")]

    operations = [
        migrations.AddField(
            model_name="patientnamekey", name="sort_family",
            field=models.CharField(default="", max_length=100), preserve_default=False,
        ),
        migrations.AddField(
            model_name="patientnamekey", name="sort_given",
            field=models.CharField(default="", max_length=100), preserve_default=False,
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(_index(0), _index(1)),
    ]
