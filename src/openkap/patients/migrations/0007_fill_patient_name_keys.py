"""Write the name search keys of the patients registered before 0006 (the patient
services write them from then on)."""

from django.db import migrations

from openkap.core.name_search import word_start_suffixes

CHUNK = 2000


def fill(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    PatientNameKey = apps.get_model("patients", "PatientNameKey")
    last = 0
    while True:
        chunk = list(
            Patient.objects.filter(id__gt=last).order_by("id").values_list("id", "organization_id", "search_name")[:CHUNK]
        )
        if not chunk:
            return
        PatientNameKey.objects.bulk_create(
            [PatientNameKey(organization_id=org, patient_id=pid, key=key)
             for pid, org, name in chunk for key in word_start_suffixes(name)],
            ignore_conflicts=True,
        )
        last = chunk[-1][0]


class Migration(migrations.Migration):
    dependencies = [("patients", "0006_patient_name_key")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
