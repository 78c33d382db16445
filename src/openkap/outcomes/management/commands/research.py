"""``openkap research export``: the de-identified research export as a zip file, the
same files as the researcher's page and the API. Audited as an export by the command
line, with the manifest."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.outcomes.management.commands.outcomes import organization_option
from openkap.outcomes.research import K_DEFAULT, ExportOptions, audit_detail, write_export


class Command(BaseCommand):
    help = "De-identified research exports. Subcommands: export."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="export")
        export = sub.add_parser("export", help="Write the de-identified export (zip of CSV and Parquet files).")
        export.add_argument("--organization", help="Organisation slug (needed when there are several).")
        export.add_argument("--k", type=int, default=K_DEFAULT,
                            help="Smallest group sharing age band, sex, state, ZIP3 and route (2-100; default 5).")
        export.add_argument("--dates", choices=["relative", "shifted"], default="relative",
                            help="relative: days from the first dosing session (default); shifted: secret offsets.")
        export.add_argument("--output", required=True, help="The zip file to write (not overwritten).")

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"])
        if output.exists():
            raise CommandError(f"{output} exists; name a new file.")
        if not output.parent.is_dir():
            raise CommandError(f"There is no directory {output.parent}.")
        organization = organization_option(options.get("organization"))
        try:
            export = write_export(organization, ExportOptions(k=options["k"], dates=options["dates"]))
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        try:
            shutil.move(export.zip_path, output)
        finally:
            export.cleanup()
        audit_record(by=None, organization_id=organization.id, actor_email="command line",
                     action=AuditAction.EXPORT, object_type="research_export", object_id=export.zip_sha256[:16],
                     detail=audit_detail(export, "cli"))
        counts = export.manifest["k_anonymity"]
        self.stderr.write(
            f"Wrote {output}: {counts['patients_exported']} of {counts['patients_eligible']} patients "
            f"(k = {options['k']}; {counts['patients_generalised']} generalised, {counts['patients_left_out']} "
            f"left out); SHA-256 {export.zip_sha256}."
        )
