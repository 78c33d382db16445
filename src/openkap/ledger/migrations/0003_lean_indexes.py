"""Drop the indexes the ledger writes with every entry that no query needs (ADR 0114).

site_id and lot_id lead the (site, sequence) and (lot, sequence) indexes; entry_hash is
never matched by LIKE; five references most entries leave NULL are indexed where set,
which still serves `= x` and the foreign keys' checks. The database side is written out,
so that no table is rebuilt: Django would rebuild SQLite's (losing its append-only
triggers) and re-validate PostgreSQL's foreign keys.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from openkap.vendorsql import reversible_sql

TABLE = "ledger_ledgerentry"
# Names Django gave the indexes in 0001 (table, column and a hash of both).
DROPPED = {
    "ledger_ledgerentry_site_id_b8466f43": "site_id",
    "ledger_ledgerentry_lot_id_ecdc9b41": "lot_id",
}
PARTIAL = {
    "witness": "93676e0a",
    "second_witness": "a1c9dd17",
    "supplier": "4ac0ef59",
    "counterpart_lot": "0c014d0b",
    "inventory": "ebe27819",
}


def statements(vendor: str) -> list[tuple[str, str]]:
    pairs = [
        (f"DROP INDEX {name}", f"CREATE INDEX {name} ON {TABLE} ({column})")
        for name, column in DROPPED.items()
    ]
    for field, suffix in PARTIAL.items():
        old, new = f"{TABLE}_{field}_id_{suffix}", f"ledger_entry_{field}"
        pairs += [
            (f"DROP INDEX {old}", f"CREATE INDEX {old} ON {TABLE} ({field}_id)"),
            (
                f"CREATE INDEX {new} ON {TABLE} ({field}_id) WHERE {field}_id IS NOT NULL",
                f"DROP INDEX {new}",
            ),
        ]
    if vendor == "postgresql":
        # SQLite's UNIQUE stays in the table's definition, as a UniqueConstraint's would be.
        like, old, new = (
            "ledger_ledgerentry_entry_hash_fbe87067_like",
            "ledger_ledgerentry_entry_hash_key",
            "ledger_entry_unique_hash",
        )
        pairs += [
            (
                f"DROP INDEX {like}",
                f"CREATE INDEX {like} ON {TABLE} (entry_hash varchar_pattern_ops)",
            ),
            (
                f"ALTER TABLE {TABLE} RENAME CONSTRAINT {old} TO {new}",
                f"ALTER TABLE {TABLE} RENAME CONSTRAINT {new} TO {old}",
            ),
        ]
    return pairs


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_recovery_codes_hmac"),
        ("dosing", "0008_record_document"),
        ("ledger", "0002_ledger_append_only"),
        ("patients", "0008_name_key_sort_columns"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[reversible_sql(statements)],
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="counterpart_lot",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The other site's lot of a transfer",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.lot",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="entry_hash",
                    field=models.CharField(max_length=64),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="inventory",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="counts",
                        to="ledger.inventoryrecord",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="lot",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="ledger.lot",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="second_witness",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="site",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger_entries",
                        to="accounts.site",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="supplier",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.supplier",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="witness",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                *(
                    migrations.AddIndex(
                        model_name="ledgerentry",
                        index=models.Index(
                            condition=models.Q((f"{field}__isnull", False)),
                            fields=[field],
                            name=f"ledger_entry_{field}",
                        ),
                    )
                    for field in PARTIAL
                ),
                migrations.AddConstraint(
                    model_name="ledgerentry",
                    constraint=models.UniqueConstraint(
                        fields=("entry_hash",), name="ledger_entry_unique_hash"
                    ),
                ),
            ],
        ),
    ]
