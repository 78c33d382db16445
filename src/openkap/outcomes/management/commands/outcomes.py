"""``openkap outcomes report``: the cohort outcome report from the command line, as
JSON (default), CSV, PDF or HTML, suppressed for sharing unless ``--unsuppressed``.
Audited as an export by the command line (no signed-in user)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.loader import render_to_string

from openkap.accounts.models import Organization, Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.routes import Route
from openkap.outcomes import exports
from openkap.outcomes.cohort import CohortFilters
from openkap.outcomes.selectors import REPORT_INSTRUMENTS, build_report


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


def organization_option(slug: str | None) -> Organization:
    """The organisation named by --organization, or the only one there is."""
    if slug:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"There is no organisation {slug!r}.")
        return organization
    organizations = list(Organization.objects.order_by("slug")[:2])
    if len(organizations) != 1:
        known = ", ".join(Organization.objects.order_by("slug").values_list("slug", flat=True)[:20])
        raise CommandError(f"Name the organisation with --organization (one of: {known or 'none yet'}).")
    return organizations[0]


class Command(BaseCommand):
    help = "Outcomes of the clinic's patients. Subcommands: report."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="report")
        report = sub.add_parser("report", help="The cohort outcome report of one instrument.")
        report.add_argument("--instrument", default="phq9", choices=REPORT_INSTRUMENTS)
        report.add_argument("--organization", help="Organisation slug (needed when there are several).")
        report.add_argument("--from", dest="date_from", type=_date, help="First dosing session on or after (YYYY-MM-DD).")
        report.add_argument("--to", dest="date_to", type=_date, help="First dosing session on or before.")
        report.add_argument("--route", choices=[r.value for r in Route])
        report.add_argument("--site", help="Site id or exact name.")
        report.add_argument("--diagnosis", default="", help="ICD-10 code or its start, e.g. F33.")
        report.add_argument("--baseline-band", default="", help="A severity band id of the instrument, e.g. severe.")
        report.add_argument("--endpoint-days", default="14-31", help="Endpoint window after the induction, e.g. 14-31.")
        report.add_argument("--format", default="json", choices=["json", "csv", "pdf", "html"])
        report.add_argument("--output", help="File to write (default: standard output; PDF needs a file).")
        report.add_argument("--unsuppressed", action="store_true",
                            help="Exact counts, for the clinic's own staff only (default: counts 1-7 as ≤7, others rounded to 5).")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_option(options.get("organization"))
        site_id = self._site(organization, options.get("site"))
        try:
            low, high = (int(x) for x in options["endpoint_days"].split("-", 1))
        except ValueError:
            raise CommandError("--endpoint-days takes two numbers of days, e.g. 14-31.") from None
        filters = CohortFilters(
            instrument=options["instrument"], date_from=options.get("date_from"), date_to=options.get("date_to"),
            site_id=site_id, route=Route(options["route"]) if options.get("route") else None,
            diagnosis=options["diagnosis"], baseline_band=options["baseline_band"],
            endpoint_from_days=low, endpoint_to_days=high,
        )
        fmt, output = options["format"], options.get("output")
        if fmt == "pdf" and not output:
            raise CommandError("A PDF needs --output FILE.")
        try:
            report = build_report(organization, filters)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        suppress = not options["unsuppressed"]
        data = report.to_dict(suppress=suppress)
        audit_record(
            by=None, organization_id=organization.id, actor_email="command line", action=AuditAction.EXPORT,
            object_type="outcomes_report", object_id=filters.instrument,
            detail={"filters": filters.as_dict(), "format": fmt, "suppressed": suppress, "via": "cli",
                    "n_enrolled": report.summary.n_enrolled},
        )
        if fmt == "json":
            content: str | bytes = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        elif fmt == "csv":
            content = "".join(exports.csv_text(exports.report_rows(data)))
        elif fmt == "html":
            content = render_to_string("outcomes/pdf/report.html", exports.render_context(data))
        else:
            content = exports.report_pdf(data)
        if output:
            path = Path(output)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            self.stderr.write(f"Wrote {path} ({data['n_analysed']} of {data['n_enrolled']} patients analysed).")
        else:
            self.stdout.write(content if isinstance(content, str) else content.decode(), ending="")

    def _site(self, organization: Organization, value: str | None) -> int | None:
        if not value:
            return None
        sites = Site.objects.filter(organization=organization)
        site = sites.filter(id=int(value)).first() if value.isdigit() else sites.filter(name=value).first()
        if site is None:
            raise CommandError(f"There is no site {value!r} in {organization.name}.")
        return site.id
