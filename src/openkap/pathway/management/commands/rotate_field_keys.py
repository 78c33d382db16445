from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.pathway.crypto import rotate_token
from openkap.pathway.models import PsychotherapyNote

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every psychotherapy note under the first key of OPENKAP_FIELD_KEYS, "
        "after which the older keys can be removed (docs/adr/0005-field-encryption.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = 0
        last_id = 0
        while True:
            with transaction.atomic():
                batch = list(
                    PsychotherapyNote.objects.select_for_update()
                    .filter(id__gt=last_id)
                    .order_by("id")[:BATCH]
                )
                if not batch:
                    break
                for note in batch:
                    note.body_encrypted = rotate_token(note.body_encrypted)
                PsychotherapyNote.objects.bulk_update(batch, ["body_encrypted"])
                last_id = batch[-1].id
                done += len(batch)
        audit_record(by=None, action=AuditAction.UPDATE, object_type="psychotherapy_note",
                     actor_email="rotate-field-keys", detail={"re_encrypted": done})
        self.stdout.write(f"{done} psychotherapy note(s) re-encrypted under the first key.")
