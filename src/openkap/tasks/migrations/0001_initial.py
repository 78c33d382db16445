"""The task inbox moves from the measures app to its own: the state only. The tables
(measures_task, measures_taskassignee) stay as they are, rows and all, on SQLite and
PostgreSQL alike; measures/0003 drops the models from the measures state."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # The tables were made by the measures app; this migration only takes them over.
        ('measures', '0002_measureresponse_append_only'),
        ('accounts', '0003_recovery_codes_hmac'),
        ('patients', '0004_heightmeasurement'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name='Task',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('kind', models.CharField(max_length=40)),
                    ('priority', models.CharField(choices=[('routine', 'Routine'), ('urgent', 'Urgent'), ('emergency', 'Emergency')], default='routine', max_length=10)),
                    ('title', models.CharField(max_length=200)),
                    ('detail', models.TextField(blank=True)),
                    ('data', models.JSONField(blank=True, default=dict)),
                    ('subject_type', models.CharField(blank=True, max_length=64)),
                    ('subject_id', models.CharField(blank=True, max_length=64)),
                    ('assigned_role', models.CharField(blank=True, help_text='Everyone with this role may take it', max_length=20)),
                    ('due_at', models.DateTimeField(blank=True, null=True)),
                    ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('resolved_at', models.DateTimeField(blank=True, null=True)),
                    ('resolution_note', models.TextField(blank=True)),
                    ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                    ('patient', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tasks', to='patients.patient')),
                    ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'db_table': 'measures_task',
                },
            ),
            migrations.CreateModel(
                name='TaskAssignee',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                    ('task', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='assignees', to='tasks.task')),
                    ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'db_table': 'measures_taskassignee',
                },
            ),
            migrations.AddIndex(
                model_name='task',
                index=models.Index(fields=['organization', 'resolved_at', 'priority'], name='task_org_open'),
            ),
            migrations.AddIndex(
                model_name='task',
                index=models.Index(fields=['organization', 'patient', 'kind', 'resolved_at'], name='task_org_patient'),
            ),
            migrations.AddIndex(
                model_name='task',
                index=models.Index(fields=['organization', 'subject_type', 'subject_id'], name='task_org_subject'),
            ),
            migrations.AddConstraint(
                model_name='taskassignee',
                constraint=models.UniqueConstraint(fields=('task', 'user'), name='task_assignee_unique'),
            ),
        ]),
    ]
