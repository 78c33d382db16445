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
    # The session record PDF is made by the task worker (ADR 0060): asking (POST, the
    # task only queued here), the page that polls, the download of the ready copy, and
    # the worker's rendering (run in this process as `openkap db_worker` would).
    override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend",
                                         "QUEUES": ["default"]}}).enable()
    record = f"/dosing/sessions/{held.id}/record"
    pages = [
        ("floor: patient list", therapist, "/patients/"),
        ("treatment plan", therapist, f"/patients/{planned.patient_id}/pathway/plan/"),
        ("record: ask (POST)", nurse, f"POST {record}/prepare/"),
        ("record: worker", nurse, f"TASK {held.id}"),
        ("record: status page", nurse, f"{record}/"),
        ("record: status poll", nurse, f"POLL {record}/?known=ready"),
        ("record: download", nurse, f"{record}.pdf"),
        ("session page", nurse, f"/dosing/sessions/{held.id}/"),
        ("pathway worklist", therapist, "/pathway/"),
        ("Today", therapist, "/"),
        ("dosing board", nurse, f"/dosing/board/{held.site_id}/"),
    ]
    from openkap.dosing.models import RecordDocument
    from openkap.dosing.tasks import prepare_record_document

    def request(client, url: str) -> int:
        if url.startswith("POST "):
            return client.post(url[5:]).status_code
        if url.startswith("TASK "):  # the worker makes the copy again, as after a change
            document = RecordDocument.objects.get(session_id=int(url[5:]))
            RecordDocument.objects.filter(pk=document.pk).update(status=RecordDocument.Status.QUEUED)
            assert prepare_record_document.call(document.pk) == "ready"
            return 200
        if url.startswith("POLL "):
            return client.get(url[5:], HTTP_HX_REQUEST="true").status_code
        return client.get(url).status_code

    def measure(client, url: str) -> tuple[float, float]:
        start, wall = _cpu(), time.perf_counter()
        status = request(client, url)
        assert status in (200, 204, 302), (url, status)
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
