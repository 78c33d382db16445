from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.fieldcrypto import ENCRYPTED_COLUMNS, rotate_token

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field (psychotherapy notes, MFA secrets) under the first key "
        "of OPENKAP_FIELD_KEYS, after which the older keys can be removed "
        "(docs/adr/0005-field-encryption.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for label, field, object_type in ENCRYPTED_COLUMNS:
            done = self._rotate(apps.get_model(label), field)
            audit_record(by=None, action=AuditAction.UPDATE, object_type=object_type,
                         actor_email="rotate-field-keys", detail={"field": field, "re_encrypted": done})
            self.stdout.write(f"{done} {label} {field} value(s) re-encrypted under the first key.")

    @staticmethod
    def _rotate(model: Any, field: str) -> int:
        done = 0
        last_id = 0
        while True:
            with transaction.atomic():
                # Empty means "no value" (e.g. a user without MFA), not a token.
                batch = list(
                    model.objects.select_for_update()
                    .filter(id__gt=last_id)
                    .exclude(**{field: ""})
                    .order_by("id")
                    .only("id", field)[:BATCH]
                )
                if not batch:
                    return done
                for row in batch:
                    setattr(row, field, rotate_token(getattr(row, field)))
                model.objects.bulk_update(batch, [field])
                last_id = batch[-1].id
                done += len(batch)
