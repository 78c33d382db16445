"""The dosing session pages, the ledger's site pages, the calendar, the portal home and the
API's answers behind them, on the database bench/pages.py seeded, at a fixed clock:
written to a directory, or compared with one written before.

    .venv/bin/python bench/pages_html.py [--db wt_pages_bench | --database sqlite] --out DIR
    .venv/bin/python bench/pages_html.py [...] --compare DIR

A change made for speed must not change what a page shows: write the pages with the code
before it (PYTHONPATH=<its src>), then compare with the code after. The clock is fixed at
the minute the pages were written (a session's minutes since the dose, what is due), and
CSRF tokens are masked (bench/board_html.py). As the demo nurse (who sees every patient)
and the demo prescriber (their care team): every dosing session of the demo organisation
(page and API), every site's ledger page (with and without empty lots; API lots and
reconciliation), the calendar (day by rooms and by people, a week, on the bench's busy day
and today), the patient's portal home, and patient searches (the bench's names, dates of
birth and MRNs; short and odd terms with LIKE's wildcards and quotes, several pages and one
past the end, whole and as htmx's partial). Writes what the pages write (audit rows, tokens).
"""

from __future__ import annotations

import hashlib
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import board_html  # the CSRF mask
import pages as bench_pages  # bench/pages.py: the users
import pages_cpu  # the in-process set-up and the signed-in client

USERS = ["nurse@demo.openkap.org", "prescriber@demo.openkap.org"]


def _paths() -> tuple[list[str], list[str]]:
    """The staff pages and the API addresses (the same for every user)."""
    from django.urls import reverse
    from django.utils import timezone

    from openkap.accounts.models import Site
    from openkap.dosing.models import DosingSession

    sites = list(Site.objects.filter(organization__slug="demo").order_by("id").values_list("id", flat=True))
    sessions = list(DosingSession.objects.filter(organization__slug="demo").order_by("id")
                    .values_list("id", "scheduled_start"))
    days = sorted({timezone.localdate(), *(timezone.localtime(at).date() for _id, at in sessions[-3:])})
    pages = [reverse("dosing:session", args=[s]) for s, _at in sessions]
    pages += [reverse("ledger:site", args=[s]) + query for s in sites for query in ("", "?all=1")]
    calendar = reverse("scheduling:calendar")
    pages += [f"{calendar}?date={d}&site={s}&view={view}&mode={mode}" for d in days for s in sites
              for view, mode in (("day", "rooms"), ("day", "people"), ("week", "rooms"))]
    api = [f"/api/v1/dosing/sessions/{s}" for s, _at in sessions]
    api += [f"/api/v1/ledger/sites/{s}/lots{query}" for s in sites for query in ("", "?include_empty=true")]
    api += [f"/api/v1/ledger/sites/{s}/reconciliation" for s in sites]
    return pages, api


# Searches beyond the bench's own: one or two letters, several words, what LIKE escapes.
ODD_SEARCHES = ["j", "ma", "s", "smi", "john sm", "k j", "o'", "%", "_", "a_", "\\", "mc%", "  Smi  ", "x y z w v"]


def _searches() -> list[tuple[str, dict[str, str]]]:
    """Search addresses and their headers (the same for every user)."""
    from django.urls import reverse

    from openkap.accounts.models import Organization

    plan = bench_pages.page_plan(Organization.objects.get(slug="demo"))
    base = reverse("patients:list")
    queries = [{"q": q} for name in ("search_name", "search_dob", "search_mrn") for q in
               (path.split("?q=", 1)[1].replace("+", " ") for path in plan[name][1][:24])]
    queries += [{"q": q, "page": str(n)} for q in ODD_SEARCHES for n in (1, 2, 7, 999)]
    out = [(f"{base}?{urlencode(query)}", {}) for query in queries]
    out += [(f"{base}?{urlencode({'q': q})}", {"HX-Request": "true"}) for q in ODD_SEARCHES]
    return out


def pages(anchor: datetime) -> dict[str, str]:
    from django.utils import timezone

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Organization, User
    from openkap.accounts.services import api_token_create

    org = Organization.objects.get(slug="demo")
    staff, api = _paths()
    out: dict[str, str] = {}
    real_now = timezone.now
    timezone.now = lambda: anchor  # type: ignore[misc]
    try:
        for email in USERS:
            client = pages_cpu._client(email)
            _token, raw = api_token_create(by=build_actor(User.objects.get(email=email), org), name="pages_html")
            user = email.split("@")[0]
            for path in staff:
                page = client.get(path)
                out[f"{user} {path}"] = f"{page.status_code}\n{board_html._mask(page.content.decode())}"
            for path, headers in _searches():
                page = client.get(path, headers=headers)
                out[f"{user} {path} {sorted(headers)}"] = f"{page.status_code}\n{board_html._mask(page.content.decode())}"
            for path in api:
                answer = client.get(path, headers={"Authorization": f"Bearer {raw}"})
                out[f"{user} {path}"] = f"{answer.status_code}\n{answer.content.decode()}"
        portal = pages_cpu._client(bench_pages.PATIENT).get("/")
        out["patient /"] = f"{portal.status_code}\n{board_html._mask(portal.content.decode())}"
    finally:
        timezone.now = real_now  # type: ignore[misc]
    return out


def _file(key: str) -> str:
    # The digest tells apart keys that differ only in punctuation ("?q=%" and "?q=_").
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]  # noqa: S324 - a file name, not security
    return "".join(c if c.isalnum() else "_" for c in key)[:150] + f"_{digest}.txt"


def main() -> None:
    args = pages_cpu.snapshot_args(__doc__, "pages")
    pages_cpu.write_or_compare(args, pages, _file, "pages", clocked=True)


if __name__ == "__main__":
    main()
