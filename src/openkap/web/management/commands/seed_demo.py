from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from openkap.accounts.selectors import DEMO_PASSWORD
from openkap.demo import demo_credentials, seed_demo


class Command(BaseCommand):
    help = "Create (or top up) the fictional Demo KAP Clinic. Running it twice changes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=200, help="Total patients wanted (default 200).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed for reproducible data.")

    def handle(self, *args: Any, **options: Any) -> None:
        # Demo staff share a published password and published TOTP secrets: on a real
        # server they would be open doors.
        if not (settings.DEBUG and settings.DEMO_MODE):
            raise CommandError(
                "seed-demo creates staff with a public password and published MFA secrets, so it runs "
                "only in demo mode: set DEBUG=true and OPENKAP_DEMO=true (never on a server with real patients)."
            )
        if not 0 <= options["patients"] <= 2_000_000:
            raise CommandError("--patients must be between 0 and 2,000,000.")
        report = seed_demo(patients=options["patients"], seed=options["seed"])
        self.stdout.write(
            f"{report.organization.name}: {report.created_patients} patients added, {report.total_patients} in all."
        )
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for role, email in demo_credentials():
            self.stdout.write(f"  {role:<16} {email}")
        self.stdout.write("Staff sign-in asks for a 6-digit code: in demo mode the page shows it.\n")
