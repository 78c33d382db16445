"""An index for the cohort report's reads of one or a few instruments by patient-id range
(ADR 0093)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('measures', '0003_task_inbox_moves_to_tasks_app'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='measureresponse',
            index=models.Index(fields=['organization', 'instrument_id', 'patient'], name='measure_resp_cohort'),
        ),
    ]
