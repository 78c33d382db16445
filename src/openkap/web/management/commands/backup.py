from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from openkap import backup


class Command(BaseCommand):
    help = "Write a timestamped backup of the database (pg_dump -Fc, or SQLite's online backup), optionally encrypted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="Folder (default $OPENKAP_VAR_DIR/backups).")
        parser.add_argument("--encrypt", action="store_true", help="Encrypt with OPENKAP_BACKUP_KEY.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = backup.create(out=options["out"] or settings.VAR_DIR / "backups", encrypt=options["encrypt"])
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backup written: {path} ({path.stat().st_size:,} bytes)")
