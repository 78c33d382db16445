"""The monitoring board, as HTML and as API JSON, for every site of the demo organisation
on the database bench/pages.py seeded (its second site carries bench/board_day.py's busy
day), at several instants: written to a directory, or compared with one written before.

    .venv/bin/python bench/board_html.py [--db wt_pages_bench | --database sqlite] --out DIR
    .venv/bin/python bench/board_html.py [...] --compare DIR

A change made for speed must not change what the board shows: write the boards with the
code before it (PYTHONPATH=<its src>), then compare with the code after. The clock is
fixed at each instant (the minute the pages were written, then 20 s, 7 min, 45 min and
3 h later, and 30 min before), so the tiles' minutes and due times are the same in both
runs. Per site, instant and user (the demo nurse, who sees every patient and records
vitals, and the demo prescriber, who sees their care team's and orders doses): the full
page, the htmx refresh, whether a second refresh sending the first's ETag answers 304,
and the API's JSON (a token made for each run). CSRF tokens are replaced by a
placeholder. Runs through Django's test client with the production settings, as
bench/pages_cpu.py does; writes what the pages write (audit rows, the tokens).
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages as bench_pages  # bench/pages.py: the database, its keys
import pages_cpu  # the in-process set-up and the signed-in client

USERS = ["nurse@demo.openkap.org", "prescriber@demo.openkap.org"]
OFFSETS = [timedelta(0), timedelta(seconds=20), timedelta(minutes=7), timedelta(minutes=45), timedelta(hours=3),
           timedelta(minutes=-30)]
CSRF = [
    re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+(")'),
    re.compile(r'("X-CSRFToken": ")[^"]+(")'),
]


def _mask(html: str) -> str:
    for pattern in CSRF:
        html = pattern.sub(r"\1CSRF\2", html)
    return html


def boards(anchor: datetime) -> dict[str, str]:
    from django.urls import reverse
    from django.utils import timezone

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Organization, Site, User
    from openkap.accounts.services import api_token_create

    org = Organization.objects.get(slug="demo")
    sites = list(Site.objects.filter(organization=org).order_by("id").values_list("id", flat=True))
    out: dict[str, str] = {}
    real_now = timezone.now
    try:
        for email in USERS:
            client = pages_cpu._client(email)
            _token, raw = api_token_create(by=build_actor(User.objects.get(email=email), org), name="board_html")
            api = {"Authorization": f"Bearer {raw}"}
            for offset in OFFSETS:
                at = anchor + offset
                timezone.now = lambda at=at: at  # type: ignore[misc]
                for site in sites:
                    key = f"{email.split('@')[0]}_site{site}_{int(offset.total_seconds())}s"
                    url = reverse("dosing:board", args=[site])
                    page = client.get(url)
                    out[f"{key}_page"] = f"{page.status_code}\n{_mask(page.content.decode())}"
                    first = client.get(url, headers=bench_pages.REFRESH)
                    again = client.get(url, headers={**bench_pages.REFRESH, "If-None-Match": first.get("ETag", "")})
                    out[f"{key}_refresh"] = (f"{first.status_code} then {again.status_code}\n"
                                             f"{_mask(first.content.decode())}")
                    answer = client.get(f"/api/v1/dosing/sites/{site}/board", headers=api)
                    out[f"{key}_api"] = f"{answer.status_code}\n{answer.content.decode()}"
    finally:
        timezone.now = real_now  # type: ignore[misc]
    return out


def main() -> None:
    args = pages_cpu.snapshot_args(__doc__, "boards")
    pages_cpu.write_or_compare(args, boards, lambda name: f"{name}.txt", "boards", clocked=True,
                               detail=_tiles)


def _tiles(got: dict[str, str]) -> str:
    tiles = sum(text.count('class="tile') for text in got.values())
    return f" ({tiles} tiles)"


if __name__ == "__main__":
    main()
