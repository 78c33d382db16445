"""The slow pages of issue 20 (treatment plan, session record PDF, worklists) on the demo
clinic, through Django's test client: CPU seconds per request, as a ratio to a floor
page (the patient list) measured in the same run, so loaded machines compare.

    PYTHONPATH=. .venv/bin/python bench/slow_pages.py [--repeats 3]
    DATABASE_URL=postgres://... PYTHONPATH=. .venv/bin/python bench/slow_pages.py

A new test database is created and the demo clinic seeded (30 patients), with the
shared curve cache in a new temporary folder. "first" is a page's first request in
this process, "again" the best of --repeats later ones; "new worker" is the first
request after this process's own caches are cleared, as another server process would
start (the shared curve cache on disk stays: it is what that process finds).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    import logging

    from django.db import connection
    from django.test.utils import setup_test_environment

    logging.disable(logging.INFO)  # the task backend logs every task
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)

    import tempfile

    from django.test import override_settings
    from tests.conftest import signed_in

    from openkap.accounts.models import User
    from openkap.demo import seed_demo
    from openkap.dosing.models import DosingSession
    from openkap.pathway.models import Episode
    from openkap.pharmacokinetics import predictions

    folder = tempfile.mkdtemp(prefix="openkap-bench-curves-")
    override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                              "pk": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                     "LOCATION": folder, "TIMEOUT": None}}).enable()
    org = seed_demo(patients=30).organization
    planned = Episode.objects.filter(organization=org, plans__isnull=False).first()
    held = DosingSession.objects.filter(organization=org, discharge__isnull=False).first()
    therapist = signed_in(User.objects.get(email="therapist@demo.openkap.org"))
    nurse = signed_in(User.objects.get(email="nurse@demo.openkap.org"))
    pages = [
        ("floor: patient list", therapist, "/patients/"),
        ("treatment plan", therapist, f"/patients/{planned.patient_id}/pathway/plan/"),
        ("session record PDF", nurse, f"/dosing/sessions/{held.id}/record.pdf"),
        ("session page", nurse, f"/dosing/sessions/{held.id}/"),
        ("pathway worklist", therapist, "/pathway/"),
        ("Today", therapist, "/"),
        ("dosing board", nurse, f"/dosing/board/{held.site_id}/"),
    ]
    def measure(client, url: str) -> tuple[float, float]:
        start, wall = _cpu(), time.perf_counter()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return _cpu() - start, time.perf_counter() - wall

    rows = []
    for name, client, url in pages:
        first = measure(client, url)
        again = min(measure(client, url) for _ in range(args.repeats))
        predictions._prediction.cache_clear()
        predictions.simulation.cache_clear()
        rows.append((name, first, again, measure(client, url)))
    floor = rows[0][2][0]
    print(f"load average {os.getloadavg()[0]:.2f}; database {connection.vendor}; CPU seconds (wall seconds)")
    print(f"{'page':<22}{'first':>17}{'again':>17}{'new worker':>17}{'again/floor':>13}")
    for name, *times in rows:
        cells = "".join(f"{cpu:>9.3f} ({wall:5.2f})" for cpu, wall in times)
        print(f"{name:<22}{cells}{times[1][0] / floor:>12.1f}x")
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    return None


if __name__ == "__main__":
    sys.exit(main())
