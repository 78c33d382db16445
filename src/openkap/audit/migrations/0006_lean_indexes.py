"""Drop the audit log's indexes that every audited request writes and no query needs
(ADR 0114): organization_id leads audit_org_time; action is never matched by LIKE, so its
index loses the varchar_pattern_ops copy and keeps its name short. Written out so that
SQLite's table (and its append-only triggers) is not rebuilt and PostgreSQL's action
index is renamed, not built again.
"""

from django.db import migrations, models

from openkap.vendorsql import reversible_sql

ORGANIZATION, ACTION = (
    "audit_auditevent_organization_id_4b1fe3b9",
    "audit_auditevent_action_2131bb77",
)


def statements(vendor: str) -> list[tuple[str, str]]:
    pairs = [
        (
            f"DROP INDEX {ORGANIZATION}",
            f"CREATE INDEX {ORGANIZATION} ON audit_auditevent (organization_id)",
        )
    ]
    if vendor == "postgresql":
        return [
            *pairs,
            (
                f"DROP INDEX {ACTION}_like",
                f"CREATE INDEX {ACTION}_like ON audit_auditevent (action varchar_pattern_ops)",
            ),
            (
                f"ALTER INDEX {ACTION} RENAME TO audit_action",
                f"ALTER INDEX audit_action RENAME TO {ACTION}",
            ),
        ]
    return [
        *pairs,
        (f"DROP INDEX {ACTION}", f"CREATE INDEX {ACTION} ON audit_auditevent (action)"),
        ("CREATE INDEX audit_action ON audit_auditevent (action)", "DROP INDEX audit_action"),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_audit_seal_append_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[reversible_sql(statements)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="action",
                    field=models.CharField(
                        choices=[
                            ("view", "Viewed"),
                            ("search", "Searched"),
                            ("create", "Created"),
                            ("update", "Updated"),
                            ("export", "Exported"),
                            ("login", "Logged in"),
                            ("logout", "Logged out"),
                            ("login_failed", "Login failed"),
                            ("locked_out", "Locked out"),
                            ("unlock", "Unlocked"),
                            ("mfa_enrolled", "MFA enrolled"),
                            ("mfa_failed", "MFA failed"),
                            ("mfa_recovery_used", "Recovery code used"),
                            ("password_reset", "Password reset"),
                            ("permission_denied", "Permission denied"),
                            ("refused", "Refused by a rule"),
                            ("break_glass", "Break-glass access"),
                            ("invite", "Invited"),
                            ("token_created", "API token created"),
                            ("token_revoked", "API token revoked"),
                        ],
                        max_length=32,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="organization_id",
                    field=models.BigIntegerField(null=True),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["action"], name="audit_action"),
                ),
            ],
        ),
    ]
