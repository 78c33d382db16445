"""Task and TaskAssignee leave the measures state (tasks/0001 took them over); their
tables and rows are kept."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('measures', '0002_measureresponse_append_only'),
        ('dosing', '0006_remsform_task_in_tasks_app'),
        ('tasks', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.DeleteModel(name='TaskAssignee'),
            migrations.DeleteModel(name='Task'),
        ]),
    ]
