"""``openkap ledger verify``: recompute every site's hash chain and every lot's balance
from the stored entries, pair transfers between sites, compare each site with the newest
signed checkpoint, and name what is broken. ``openkap ledger checkpoint``: write a signed
checkpoint of every site's head (docs/adr/0012-tamper-evidence.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from openkap import checkpoints
from openkap.accounts.models import Organization, Site
from openkap.ledger.chain import Problem
from openkap.ledger.models import LedgerEntry
from openkap.ledger.selectors import chain_check, ledger_checkpoint_payload
from openkap.ledger.services.statements import wait_durable


class Command(BaseCommand):
    help = "Controlled-substance ledger maintenance. Subcommands: verify, checkpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="verify|checkpoint")
        verify = sub.add_parser("verify", help="Recompute hash chains and balances; exit 1 on the first broken link.")
        verify.add_argument("--site", type=int, help="Only this site id.")
        verify.add_argument("--organization", help="Only this organisation (slug).")
        verify.add_argument("--checkpoint-dir", type=Path,
                            help="Compare with the newest checkpoint here (default OPENKAP_CHECKPOINT_DIR).")
        verify.add_argument("--no-checkpoint", action="store_true", help="Check the chains only.")
        checkpoint = sub.add_parser("checkpoint", help="Write a signed checkpoint of every site's chain head.")
        checkpoint.add_argument("--out", type=Path, help="Folder (default OPENKAP_CHECKPOINT_DIR).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "checkpoint":
            if not checkpoints.configured():
                raise CommandError(checkpoints.MISSING_KEY)
            payload = ledger_checkpoint_payload()
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                # A head may be committed and not yet on disk (ADR 0107): sign only what a
                # crash cannot take back, or verify would later call the chain cut short.
                # (Inside a caller's transaction nothing is durable before its COMMIT.)
                wait_durable()
            path = checkpoints.write("ledger", payload, out=options.get("out"))
            self.stdout.write(f"Checkpoint written: {path}")
            return
        site = organization = None
        if options.get("site") is not None:
            site = Site.objects.filter(id=options["site"]).first()
            if site is None:
                raise CommandError(f"There is no site {options['site']}.")
        if options.get("organization"):
            organization = Organization.objects.filter(slug=options["organization"]).first()
            if organization is None:
                raise CommandError(f"There is no organisation {options['organization']!r}.")
        latest = checkpoints.for_verify(self, "ledger", options)
        result = chain_check(site=site, organization_id=organization.id if organization else None,
                             checkpoint=latest[1] if latest else None)
        if result.ok:
            self.stdout.write(self.style.SUCCESS(
                f"Ledger intact: {result.entries_checked} entries in {result.sites} site(s), "
                f"{result.lots} lot(s); every hash and balance recomputes; transfers pair up."
            ))
            if latest:
                self.stdout.write(f"Every site matches the checkpoint {latest[0]} of {latest[1]['created_at']}.")
            elif not options.get("no_checkpoint"):
                self.stdout.write(self.style.WARNING(
                    "No checkpoint found: entries removed from the end together with the head would not be "
                    "noticed. Run `openkap ledger checkpoint` regularly."
                ))
            return
        for problem in result.problems:
            self.stderr.write(self.style.ERROR(_describe(problem)))
        raise CommandError(
            f"Ledger verification failed after {result.entries_checked} intact entries.", returncode=1
        )


def _describe(problem: Problem) -> str:
    site = Site.objects.filter(id=problem.site_id).first()
    where = f"site {site.name if site else '?'} (id {problem.site_id})"
    if problem.row_id is not None:
        row = LedgerEntry.objects.filter(id=problem.row_id).select_related("lot").first()
        lot = f", lot {row.lot.lot_number}" if row else ""
        return (f"BROKEN LINK at {where}: entry #{problem.sequence} (row id {problem.row_id}{lot}): "
                f"{problem.what}")
    if problem.sequence is not None:
        return f"MISSING at {where}: {problem.what}"
    return f"MISMATCH at {where}: {problem.what}"
