"""``openkap ledger verify``: recompute every site's hash chain and every lot's balance
from the stored entries and name the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from openkap.accounts.models import Organization, Site
from openkap.ledger.chain import Problem
from openkap.ledger.models import LedgerEntry
from openkap.ledger.selectors import chain_check


class Command(BaseCommand):
    help = "Controlled-substance ledger maintenance. Subcommands: verify."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="verify")
        verify = sub.add_parser("verify", help="Recompute hash chains and balances; exit 1 on the first broken link.")
        verify.add_argument("--site", type=int, help="Only this site id.")
        verify.add_argument("--organization", help="Only this organisation (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        site = organization = None
        if options.get("site") is not None:
            site = Site.objects.filter(id=options["site"]).first()
            if site is None:
                raise CommandError(f"There is no site {options['site']}.")
        if options.get("organization"):
            organization = Organization.objects.filter(slug=options["organization"]).first()
            if organization is None:
                raise CommandError(f"There is no organisation {options['organization']!r}.")
        result = chain_check(site=site, organization_id=organization.id if organization else None)
        if result.ok:
            self.stdout.write(self.style.SUCCESS(
                f"Ledger intact: {result.entries_checked} entries in {result.sites} site(s), "
                f"{result.lots} lot(s); every hash and balance recomputes."
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
    return f"MISMATCH at {where}: {problem.what}"
