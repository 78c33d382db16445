"""``openkap audit seal|verify|checkpoint``: the audit log's hash chain
(openkap.audit.integrity, docs/adr/0012-tamper-evidence.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from openkap import checkpoints
from openkap.audit import integrity


class Command(BaseCommand):
    help = "Audit log integrity. Subcommands: seal, verify, checkpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="seal|verify|checkpoint")
        sub.add_parser("seal", help="Seal the events written since the last seal (run every few minutes).")
        verify = sub.add_parser("verify", help="Recompute every seal; exit 1 naming what is missing or altered.")
        verify.add_argument("--checkpoint-dir", type=Path,
                            help="Compare with the newest checkpoint here (default OPENKAP_CHECKPOINT_DIR).")
        verify.add_argument("--no-checkpoint", action="store_true", help="Check the seals only.")
        checkpoint = sub.add_parser("checkpoint", help="Seal, then write a signed checkpoint of the last seal.")
        checkpoint.add_argument("--out", type=Path, help="Folder (default OPENKAP_CHECKPOINT_DIR).")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "seal":
            made = integrity.seal_pending()
            self.stdout.write(f"{sum(s.event_count for s in made)} event(s) sealed in {len(made)} seal(s).")
            return
        if action == "checkpoint":
            if not checkpoints.configured():
                raise CommandError(checkpoints.MISSING_KEY)
            integrity.seal_pending()
            path = checkpoints.write("audit", integrity.checkpoint_payload(), out=options.get("out"))
            self.stdout.write(f"Checkpoint written: {path}")
            return
        latest = checkpoints.for_verify(self, "audit", options)
        result = integrity.verify(checkpoint=latest[1] if latest else None)
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(self.style.ERROR(f"AUDIT LOG: {problem}"))
            raise CommandError("Audit verification failed.", returncode=1)
        self.stdout.write(self.style.SUCCESS(
            f"Audit log intact: {result.events_checked} events in {result.seals} seal(s) recompute; "
            f"{result.unsealed} newer event(s) not sealed yet."
        ))
        if latest:
            self.stdout.write(f"The last seal matches the checkpoint {latest[0]} of {latest[1]['created_at']}.")
        elif not options.get("no_checkpoint"):
            self.stdout.write(self.style.WARNING(
                "No checkpoint found: seals removed from the end would not be noticed. "
                "Run `openkap audit checkpoint` regularly."
            ))
