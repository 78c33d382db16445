"""The admin's history import page: upload a CSV, see every error by line, or what
was (or in a dry run would be) created."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from openkap.accounts import selectors as accounts_selectors
from openkap.accounts.authz import Actor
from openkap.accounts.models import Site
from openkap.core.authz import Perm
from openkap.core.history_import import COLUMNS, MAX_BYTES
from openkap.history import selectors as history_selectors
from openkap.history.services import ImportReport, history_import
from openkap.web.decorators import apply_errors, staff_view


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds", choices=[
        ("patients", "Patients: " + ",".join(COLUMNS["patients"])),
        ("sessions", "Dosing sessions: " + ",".join(COLUMNS["sessions"])),
        ("measures", "Questionnaires: " + ",".join(COLUMNS["measures"])),
    ], widget=forms.RadioSelect)
    file = forms.FileField(label="CSV file (UTF-8)", help_text=(
        # The whole request body is read by the NUL guard, so Django's body limit applies here.
        f"Up to {(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_BYTES) / (1024 * 1024):.1f} MB on this page; "
        f"larger files (up to {MAX_BYTES // (1024 * 1024)} MB) with the openkap import command."
    ))
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="The first site",
                                  label="Site for imported sessions")
    dry_run = forms.BooleanField(required=False, initial=True, label="Dry run: check the file, write nothing")
    skip_invalid = forms.BooleanField(required=False, label="Import the valid rows and skip the invalid ones")

    def __init__(self, *args: Any, sites: QuerySet[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["site"]).queryset = sites


@staff_view(Perm.HISTORY_IMPORT)
def import_page(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = ImportForm(request.POST if request.method == "POST" else None, request.FILES or None,
                      sites=accounts_selectors.active_sites(by=actor))
    report: ImportReport | None = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            form.add_error("file", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into parts.")
        else:
            site = form.cleaned_data["site"]
            try:
                report = history_import(
                    by=actor, kind=form.cleaned_data["kind"], data=upload.read(), filename=upload.name or "",
                    dry_run=form.cleaned_data["dry_run"], skip_invalid=form.cleaned_data["skip_invalid"],
                    site_id=site.id if site else None,
                )
            except ValidationError as exc:
                apply_errors(form, exc)
    batches = history_selectors.recent_batches(by=actor)
    status = 422 if form.errors or (report is not None and report.refused) else 200
    return TemplateResponse(request, "history/import.html", {"form": form, "report": report, "batches": batches,
                                                             "columns": COLUMNS}, status=status)
