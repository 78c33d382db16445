"""The chart and its five tabs, as HTML, for ten patients of the database bench/pages.py
seeded: written to a directory, or compared with one written before.

    .venv/bin/python bench/chart_html.py [--db wt_pages_bench | --database sqlite] --out DIR
    .venv/bin/python bench/chart_html.py [...] --compare DIR

A change made for speed must not change what a page shows: write the pages with the
code before it (PYTHONPATH=<its src>), then compare with the code after. The pages run
through Django's test client with the production settings, as bench/pages_cpu.py runs
them, signed in as the demo nurse. CSRF tokens (a new mask per response) are replaced
by a placeholder; anything else that differs fails, with the first differing line.
The ten patients are picked to cover what the header and the overview show: an open
safety task, no-shows and late cancellations, portal access, heights, several weights,
and patients with none of these. Writes what the pages write (audit rows).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages as bench_pages  # bench/pages.py: the database, its keys, the pages
import pages_cpu  # the in-process set-up and the signed-in client

TABS = ["", "appointments/", "measures/", "pathway/", "medicine-sessions/", "outcomes/"]
CSRF = [
    re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+(")'),
    re.compile(r'("X-CSRFToken": ")[^"]+(")'),
]


def _patients() -> list[int]:
    """Ten patients of the demo organisation, each kind of header fact represented."""
    from django.db.models import Count, Q

    from openkap.patients.models import Patient
    from openkap.scheduling.models import Appointment
    from openkap.tasks.models import Task

    org = Patient.objects.filter(organization__slug="demo")
    picks: list[int] = []

    def add(ids: Any, n: int) -> None:
        for pid in ids:
            if len(picks) >= 10 or n == 0:
                return
            if pid not in picks:
                picks.append(pid)
                n -= 1

    by_id = org.order_by("id").values_list("id", flat=True)
    add(Task.objects.filter(patient__in=org, kind="safety_flag", resolved_at=None)
        .order_by("patient_id").values_list("patient_id", flat=True), 1)
    add(Appointment.objects.filter(patient__in=org, status="no_show").order_by("patient_id")
        .values_list("patient_id", flat=True), 1)
    add(Appointment.objects.filter(patient__in=org, status="cancelled", cancelled_by_patient=True)
        .order_by("patient_id").values_list("patient_id", flat=True), 1)
    add(by_id.filter(user__isnull=False), 1)
    add(by_id.filter(portal_invitations__isnull=False), 1)
    add(by_id.filter(heights__isnull=False), 1)
    add(org.annotate(n=Count("weights")).filter(n__gt=1).order_by("id").values_list("id", flat=True), 1)
    add(by_id.filter(~Q(preferred_name="")), 1)
    add(by_id, 10)
    return picks


def pages() -> dict[str, tuple[int, str]]:
    client = pages_cpu._client(bench_pages.NURSE)
    out = {}
    for pid in _patients():
        for tab in TABS:
            path = f"/patients/{pid}/{tab}"
            response = client.get(path)
            html = response.content.decode()
            for pattern in CSRF:
                html = pattern.sub(r"\1CSRF\2", html)
            out[path] = (response.status_code, html)
    return out


def _file(path: str) -> str:
    return path.strip("/").replace("/", "_") + ".html"


def main() -> None:
    args = pages_cpu.snapshot_args(__doc__, "pages")
    pages_cpu.write_or_compare(args, lambda _at: {path: f"{status}\n{html}" for path, (status, html) in pages().items()},
                               _file, "pages")


if __name__ == "__main__":
    main()
