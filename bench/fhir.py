"""FHIR Bulk Data $export of a million Observations against a raw COPY, and concurrent searches.

    .venv/bin/python bench/fhir.py [--vitals 250000] [--patients 2000] [--clients 100] [--repeat 3] \
        [--server postgres://postgres@127.0.0.1:5432] [--database openkap_fhir_bench]

Creates the database (dropped and created again: give one you own), migrates it, and
bulk-seeds one clinic with PATIENTS patients, one medicine session each, and VITALS sets
of vital signs with all four values, i.e. 4 x VITALS Observations (a blood-pressure panel,
heart rate, SpO2, respiratory rate): 1,000,000 with the default.

1. Export: an Observation $export job is started through the service and run in this
   process exactly as ``openkap db_worker`` runs it (streaming with server-side cursors
   into NDJSON). Timed against the floor, measured in the same run: ``COPY (SELECT ...)
   TO STDOUT`` of the same vitals rows joined to their patient, written to a file. The
   two alternate REPEAT times and the best of each is compared (the least disturbed run
   on a shared machine). Peak RSS is read before and after the exports (ru_maxrss): the
   growth is what an export held in memory. Also printed: the CPU each run used in this
   process and in its database backend (less moved by other work on the machine than the
   times), and ``cat`` of the plain NDJSON into a new file, the floor under a plain export.
2. Searches: the production server as bench/pages.py starts it (gunicorn, --workers sync
   workers, DEBUG off, persistent database connections, on a socket this process bound,
   checked by a per-run nonce). CLIENTS threads each send one
   ``Observation?patient=…&category=vital-signs&_count=50`` at once (a burst: its p99 is
   mostly the queue, about CLIENTS / workers requests deep); p50/p99 latency, against the
   same burst on ``/fhir/R4/metadata`` (no database) as the floor, and on ``Patient/{id}``
   (the fixed cost of any audited read). The same three are also sent one at a time
   (--sequential of each): the cost of one request without a queue.
The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _admin_sql(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vitals", type=int, default=250_000, help="vital-sign sets (4 Observations each)")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers for the searches")
    parser.add_argument("--sequential", type=int, default=50, help="requests sent one at a time, of each kind")
    parser.add_argument("--skip-export", action="store_true", help="only the searches")
    parser.add_argument("--repeat", type=int, default=3, help="export and COPY runs, alternating (best of each)")
    parser.add_argument("--server", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="openkap_fhir_bench")
    parser.add_argument("--skip-searches", action="store_true", help="time the export only")
    args = parser.parse_args()

    _admin_sql(args.server, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
    _admin_sql(args.server, f"CREATE DATABASE {args.database}")
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("DEBUG", "true")
    # The search server runs with DEBUG off, which needs explicit keys; this process shares them.
    from cryptography.fernet import Fernet

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("OPENKAP_FIELD_KEYS", Fernet.generate_key().decode())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openkap.settings")
    os.environ["OPENKAP_FHIR_EXPORT_DIR"] = tempfile.mkdtemp(prefix="fhir-bench-")
    sys.path.insert(0, str(ROOT))
    try:
        _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        _admin_sql(args.server, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        shutil.rmtree(os.environ["OPENKAP_FHIR_EXPORT_DIR"], ignore_errors=True)  # ~900 MB of files


def _run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    nurse, org, patient_ids = _seed(args)
    print(f"seeded {args.vitals:,} vital-sign sets = {4 * args.vitals:,} Observations, "
          f"{args.patients:,} patients")
    if not args.skip_export:
        _export(args, nurse, org)
    if not args.skip_searches:
        _searches(args, nurse, org, patient_ids)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _seed(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from datetime import date, timedelta

    from django.db import connection
    from django.utils import timezone

    from openkap.accounts.models import Membership, Organization, Room, Site, User
    from openkap.dosing.models import DosingSession
    from openkap.pathway.models import Episode
    from openkap.patients.models import Patient

    org = Organization.objects.create(name="Bench Clinic", slug="bench", mrn_prefix="B")
    site = Site.objects.create(organization=org, name="Main", address_line1="1 Main St", city="Albany", state="NY",
                               postal_code="12207", dea_registration="AB1234563")
    room = Room.objects.create(organization=org, site=site, name="Room 1")
    nurse = User.objects.create_user("nurse@bench.test", "bench-password", full_name="Bench Nurse")
    Membership.objects.create(organization=org, user=nurse, role="nurse")
    patients = Patient.objects.bulk_create([
        Patient(organization=org, mrn=f"B{n:08d}", legal_given_name=f"Given{n}", legal_family_name="Bench",
                date_of_birth=date(1960, 1, 1) + timedelta(days=n % 15000), sex_at_birth="female",
                search_name=f"given{n} bench")
        for n in range(args.patients)
    ], batch_size=2000)
    episodes = Episode.objects.bulk_create(
        [Episode(organization=org, patient=p, opened_by=nurse) for p in patients], batch_size=2000)
    start = timezone.now() - timedelta(days=30)
    sessions = DosingSession.objects.bulk_create([
        DosingSession(organization=org, patient=p, episode=e, site=site, room=room, status="discharged",
                      scheduled_start=start, started_at=start, created_by=nurse)
        for p, e in zip(patients, episodes, strict=True)
    ], batch_size=2000)
    first, count = sessions[0].id, len(sessions)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO dosing_vitalsigns (organization_id, session_id, taken_at, minutes_after_dose,
                   systolic, diastolic, heart_rate, spo2, respiratory_rate, note, recorded_by_id, recorded_at)
               SELECT %s, %s + (g %% %s), %s + g * interval '1 second', NULL,
                      110 + g %% 40, 70 + g %% 20, 60 + g %% 40, 94 + g %% 6, 12 + g %% 8, '', %s,
                      %s + g * interval '1 second'
               FROM generate_series(0, %s - 1) AS g""",
            [org.id, first, count, start, nurse.id, start, args.vitals],
        )
        cursor.execute("ANALYZE")
    return nurse, org, [p.id for p in patients]


def _export(args: argparse.Namespace, nurse, org) -> None:  # type: ignore[no-untyped-def]
    from django.conf import settings
    from django.db import connection

    from openkap.accounts.authz import build_actor
    from openkap.fhir import export
    from openkap.fhir.models import ExportJob

    copy_path = Path(settings.FHIR_EXPORT_DIR) / "copy.tsv"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = Path(f"/proc/{cursor.fetchone()[0]}/stat")  # the COPYs' and the export's connection

    def cpu() -> tuple[float, float]:
        """CPU seconds so far of this process (every thread) and of its database backend
        (read from /proc when the server runs on this machine; NaN otherwise): less moved by
        other work on the machine than the wall-clock times."""
        try:
            fields = backend.read_text().rsplit(")", 1)[1].split()
            database = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except OSError:
            database = float("nan")
        return time.process_time(), database

    cpu_used: dict[str, list[tuple[float, float]]] = {"copy": [], "gzip": [], "plain": []}

    def timed_cpu(kind: str, start: tuple[float, float]) -> None:
        end = cpu()
        cpu_used[kind].append((end[0] - start[0], end[1] - start[1]))

    def copy_once() -> float:
        start = cpu()
        t0 = time.perf_counter()
        with connection.cursor() as cursor, open(copy_path, "wb") as out:
            raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
            with raw.copy(
                "COPY (SELECT v.id, s.patient_id, v.taken_at, v.recorded_at, v.systolic, v.diastolic, "
                "v.heart_rate, v.spo2, v.respiratory_rate FROM dosing_vitalsigns v JOIN dosing_dosingsession s "
                "ON s.id = v.session_id WHERE v.organization_id = %s ORDER BY v.id) TO STDOUT", [org.id],
            ) as copy:
                for block in copy:
                    out.write(block)
        seconds = time.perf_counter() - t0
        timed_cpu("copy", start)
        return seconds

    by = build_actor(nurse, org, via="fhir")
    rss_before = _rss_mb()

    def export_once(compressed: bool) -> tuple[float, ExportJob, str]:
        settings.FHIR_EXPORT_GZIP = compressed
        job = export.export_start(by=by, level=ExportJob.Level.SYSTEM, types=["Observation"], since=None,
                                  request_url="bench")
        start = cpu()
        t0 = time.perf_counter()
        outcome = export.run_export.call(str(job.id))
        seconds = time.perf_counter() - t0
        timed_cpu("gzip" if compressed else "plain", start)
        job.refresh_from_db()
        return seconds, job, outcome

    # Alternating runs, best of each: on a shared machine the minimum is the least disturbed.
    # Each export twice: files kept gzip-compressed (the default) and plain (ADR 0062).
    copies: list[float] = []
    exports: dict[bool, list[float]] = {True: [], False: []}
    for n in range(args.repeat):
        copies.append(copy_once())
        for compressed in (True, False):
            seconds, job, outcome = export_once(compressed)
            exports[compressed].append(seconds)
            stored = export.stored_path(export.job_dir(job), "Observation.ndjson")
            size_mb = stored.stat().st_size / 1e6
            if n < args.repeat - 1:
                shutil.rmtree(export.job_dir(job), ignore_errors=True)
            elif compressed:
                with gzip.open(stored, "rb") as packed:  # the NDJSON's own size, read back in blocks
                    ndjson_mb = sum(len(b) for b in iter(lambda: packed.read(1 << 20), b"")) / 1e6
                gzip_mb = size_mb
            else:
                plain = stored
    rss_after = _rss_mb()
    # The floor under a plain export: the same bytes written to a new file by cat, from the
    # page cache (on this kind of virtual machine writing ~860 MB is itself several COPYs).
    cats = [_cat(plain) for _ in range(args.repeat)]
    count = job.output[0]["count"] if job.output else 0
    copy_seconds = min(copies)
    print(f"COPY floor: {args.vitals:,} rows, {copy_path.stat().st_size / 1e6:.0f} MB; best of {args.repeat} "
          f"{copy_seconds:.2f} s (all: {', '.join(f'{t:.2f}' for t in copies)})")
    for compressed, label in ((True, f"{ndjson_mb:.0f} MB NDJSON kept as {gzip_mb:.0f} MB gzip"),
                              (False, f"{ndjson_mb:.0f} MB NDJSON kept plain")):
        best = min(exports[compressed])
        print(f"$export ({outcome}): {count:,} Observations, {label}; best of {args.repeat} {best:.2f} s "
              f"(all: {', '.join(f'{t:.2f}' for t in exports[compressed])}; {count / best:,.0f} resources/s); "
              f"ratio to COPY {best / copy_seconds:.1f}x")
    print(f"cat of the plain NDJSON into a new file: best of {args.repeat} {min(cats):.2f} s "
          f"(all: {', '.join(f'{t:.2f}' for t in cats)}); ratio to COPY {min(cats) / copy_seconds:.1f}x")
    print("CPU per run (least of each; this process, every thread + its database backend): " + "; ".join(
        f"{kind} {min(p for p, _ in runs):.2f} + {min(d for _, d in runs):.2f} s" for kind, runs in cpu_used.items()))
    print(f"peak RSS: {rss_before:.0f} MB before the exports, {rss_after:.0f} MB after "
          f"(+{rss_after - rss_before:.0f} MB)")


def _cat(source: Path) -> float:
    target = source.with_name("cat.ndjson")
    t0 = time.perf_counter()
    with open(target, "wb") as out:
        subprocess.run(["cat", str(source)], stdout=out, check=True)
    seconds = time.perf_counter() - t0
    target.unlink()
    return seconds


def _searches(args: argparse.Namespace, nurse, org, patient_ids) -> None:  # type: ignore[no-untyped-def]
    import requests
    from django.db import connections
    from pages import Server  # bench/pages.py: this script's directory is on sys.path

    from openkap.accounts import services as account_services
    from openkap.accounts.authz import build_actor

    _, token = account_services.api_token_create(by=build_actor(nurse, org), name="bench")
    connections.close_all()
    env = {**os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1", "SECURE_COOKIES": "false",
           "DJANGO_SETTINGS_MODULE": "pages_settings", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    server = Server(env, args.workers)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{server.base}/fhir/R4"

    def burst(path_of) -> list[float]:  # type: ignore[no-untyped-def]
        gate = threading.Barrier(args.clients)
        times: list[float] = []
        lock = threading.Lock()

        def one(n: int) -> None:
            session = requests.Session()
            gate.wait()
            t0 = time.perf_counter()
            response = session.get(f"{base}/{path_of(n)}", headers=headers, timeout=600)
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, response.text[:200]
            with lock:
                times.append(elapsed)

        workers = [threading.Thread(target=one, args=(n,)) for n in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return sorted(times)

    def sequential(path_of) -> list[float]:  # type: ignore[no-untyped-def]
        session, times = requests.Session(), []
        for n in range(args.sequential):
            t0 = time.perf_counter()
            response = session.get(f"{base}/{path_of(n)}", headers=headers, timeout=600)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text[:200]
        return sorted(times)

    def p99(times: list[float]) -> float:
        """Nearest rank (times sorted): of 100 requests the 99th, not the slowest."""
        return times[math.ceil(len(times) * 0.99) - 1]

    def summary(times: list[float]) -> str:
        return f"p50 {statistics.median(times) * 1000:.0f} ms, p99 {p99(times) * 1000:.0f} ms"

    kinds = {
        "metadata reads (floor)": lambda n: "metadata",
        "Patient reads (audited, one row)": lambda n: f"Patient/{patient_ids[n % len(patient_ids)]}",
        f"Observation searches (~{4 * args.vitals // args.patients} vital-sign Observations a patient, 50 a page)":
            lambda n: f"Observation?patient={patient_ids[n % len(patient_ids)]}&category=vital-signs&_count=50",
    }
    try:
        server.wait_ready()
        for path_of in kinds.values():  # warm every worker (imports, the first connection)
            sequential(path_of)
        bursts = {name: burst(path_of) for name, path_of in kinds.items()}
        alone = {name: sequential(path_of) for name, path_of in kinds.items()}
    finally:
        server.stop()
    floor = bursts["metadata reads (floor)"]
    print(f"server: gunicorn {args.workers} sync workers, production settings (DEBUG off, persistent connections)")
    for name in kinds:
        ratio = "" if name.startswith("metadata") else f"; p99 ratio to the floor {p99(bursts[name]) / p99(floor):.1f}x"
        print(f"{args.clients} concurrent {name}: {summary(bursts[name])}{ratio}")
        print(f"    one at a time ({args.sequential}): {summary(alone[name])}")


if __name__ == "__main__":
    main()
