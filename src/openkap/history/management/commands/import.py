"""``openkap import patients|sessions|measures FILE.csv --by EMAIL [--dry-run]
[--skip-invalid]``: the history import of the admin's page from the command line, as
the named admin (the records and the audit log say who imported them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from openkap.accounts.authz import build_actor
from openkap.accounts.models import User
from openkap.core.authz import Perm
from openkap.core.history_import import MAX_BYTES
from openkap.history.services import KINDS, history_import
from openkap.outcomes.management.commands.outcomes import organization_option


class Command(BaseCommand):
    help = "Import patients, held dosing sessions or questionnaires from another system's CSV export."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("file", help="The CSV file (UTF-8).")
        parser.add_argument("--by", required=True, help="Email of the admin doing the import.")
        parser.add_argument("--organization", help="Organisation slug (needed when there are several).")
        parser.add_argument("--site", type=int, help="Site id for imported sessions (default: the first site).")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and write nothing.")
        parser.add_argument("--skip-invalid", action="store_true", help="Import the valid rows, skip the others.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"There is no file {path}.")
        if path.stat().st_size > MAX_BYTES:
            raise CommandError(f"{path} is larger than {MAX_BYTES:,} bytes; split it into parts.")
        organization = organization_option(options.get("organization"))
        user = User.objects.filter(email__iexact=options["by"], is_active=True).first()
        if user is None:
            raise CommandError(f"There is no active user {options['by']!r}.")
        actor = build_actor(user, organization, via="cli")
        if not actor.can(Perm.HISTORY_IMPORT):
            raise CommandError(f"{user.email} may not import history in {organization.name} (an admin may).")
        try:
            report = history_import(by=actor, kind=options["kind"], data=path.read_bytes(), filename=path.name,
                                    dry_run=options["dry_run"], skip_invalid=options["skip_invalid"],
                                    site_id=options.get("site"))
        except ValidationError as exc:
            raise CommandError("; ".join(" ".join(v) for v in exc.message_dict.values())) from None
        for error in report.errors:
            self.stderr.write(f"{path.name}: {error}")
        if report.refused:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
