"""The cohort outcome report against a raw-SQL floor, on SQLite or PostgreSQL.

    .venv/bin/python bench/outcomes.py --backend sqlite --patients 10000
    .venv/bin/python bench/outcomes.py --backend postgres --patients 1000000 \
        [--server postgres://postgres@127.0.0.1:5432]

Builds its own database (a temporary SQLite file, or wt_outcomes_bench on the
server, dropped afterwards), migrates it and bulk-loads a synthetic clinic: N patients,
each with an episode, 6 held dosing sessions a week apart and 10 PHQ-9 scores
(baseline, one before each later session, endpoint 14-31 days after the last session,
two follow-ups): rows go in with COPY on PostgreSQL and executemany on SQLite, never
the ORM one row at a time. Then, each the median of --repeat runs in the same process:

- floor: one SQL statement over the same rows computing the baseline and endpoint
  means (window functions pick each patient's latest score in each window);
- report: ``openkap.outcomes.selectors.build_report`` (everything the page shows,
  including the 2,000-resample bootstrap, Kaplan-Meier, bands and demographics).

Prints both times, their ratio, the CPU of this process for each (on SQLite that
includes the database's work, on PostgreSQL only the client's), the report's peak RSS
growth and the load average.

Measured after ADR 0082 (shared 2-core machine, zone America/New_York, median of 3;
before/after alternating on one prebuilt database, the figures and the A/B method in
ADR 0082): PostgreSQL 10,000 patients floor 0.12-0.29 s, report 0.45-0.70 s, ratio
2.4-3.6, report CPU 0.19-0.21 s (load 7); SQLite 10,000 patients floor 0.55-0.57 s,
report 1.17-1.23 s, ratio 2.1-2.2, report CPU 0.42-0.46 s against the floor's 0.20 s
(load 11). Before (main at 022421d, same runs): ratios 9.3-9.7 and 4.9-5.1.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

DB_NAME = "wt_outcomes_bench"
SESSIONS = 6
D0 = date(2025, 1, 6)


def _admin_sql(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-zone", default="America/New_York", help="the clinic's zone (default %(default)s)")
    parser.add_argument("--profile", action="store_true", help="print where the last report run spent its time")
    parser.add_argument("--server", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", metavar="URL",
                        help="time against this database, built and kept by an earlier run with --keep: an A/B of "
                             "two versions of the code (PYTHONPATH=<tree>/src) on the same rows, alternating")
    parser.add_argument("--warm-up", action="store_true",
                        help="before measuring RSS, run a report on a cohort filtered to nobody (imports, statsmodels; "
                             "it still reads every session), so that the RSS growth is the report's data, not code")
    parser.add_argument("--keep", metavar="URL", help="build into this (empty) database and keep it")
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "true")
    os.environ["DJANGO_SETTINGS_MODULE"] = "openkap.settings"
    if args.database or args.keep:
        os.environ["DATABASE_URL"] = args.database or args.keep
        _run(args)
        return
    tmp = None
    if args.backend == "postgres":
        _admin_sql(args.server, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        _admin_sql(args.server, f"CREATE DATABASE {DB_NAME}")
        os.environ["DATABASE_URL"] = f"{args.server}/{DB_NAME}"
    else:
        tmp = tempfile.NamedTemporaryFile(suffix=".sqlite3", delete=False)  # noqa: SIM115 - removed below
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp.name}"
    try:
        _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if args.backend == "postgres":
            _admin_sql(args.server, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        elif tmp is not None:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(tmp.name + suffix):
                    os.unlink(tmp.name + suffix)


def _rows(model, values: dict, connection) -> tuple:  # type: ignore[no-untyped-def]
    """A full row in column order: given values, else the field's default."""
    from django.db.models import JSONField

    out = []
    for field in model._meta.concrete_fields:
        value = values[field.attname] if field.attname in values else (
            field.get_default() if field.has_default() or not field.null else None)
        if isinstance(field, JSONField):
            value = json.dumps(value)
        elif connection.vendor == "sqlite" and value is not None:
            value = field.get_db_prep_value(value, connection, prepared=False)
        out.append(value)
    return tuple(out)


def _load(model, rows, connection) -> None:  # type: ignore[no-untyped-def]
    columns = [f.column for f in model._meta.concrete_fields]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f'COPY {table} ({", ".join(columns)}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            batch: list[tuple] = []
            for row in rows:
                batch.append(row)
                if len(batch) == 20_000:
                    cursor.executemany(f'INSERT INTO {table} ({", ".join(columns)}) VALUES ({marks})', batch)  # noqa: S608 - model metadata
                    batch = []
            if batch:
                cursor.executemany(f'INSERT INTO {table} ({", ".join(columns)}) VALUES ({marks})', batch)  # noqa: S608 - model metadata


def _build(n: int) -> int:
    from django.db import connection, transaction

    from openkap.accounts.models import Organization, Site, User
    from openkap.dosing.models import DosingSession
    from openkap.measures.models import MeasureResponse
    from openkap.pathway.models import Episode
    from openkap.patients.models import Patient

    org = Organization.objects.create(name="Bench clinic", slug="bench")
    site = Site.objects.create(organization=org, name="Main", address_line1="1 Main St", city="Albany", state="NY",
                               postal_code="12207", dea_registration="AB1234563")
    user = User.objects.create(email="bench@bench.org", full_name="Bench")
    now = datetime.now(UTC)
    rng = random.Random(1)

    def at(day: date, hour: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)

    with transaction.atomic():
        _load(Patient, (_rows(Patient, {
            "id": i, "organization_id": org.id, "mrn": f"B{i:09d}", "legal_given_name": f"G{i}",
            "legal_family_name": f"F{i}", "date_of_birth": date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
            "sex_at_birth": "female" if i % 2 else "male", "search_name": f"g{i} f{i}", "created_at": now,
            "updated_at": now}, connection) for i in range(1, n + 1)), connection)
        _load(Episode, (_rows(Episode, {"id": i, "organization_id": org.id, "patient_id": i, "state": "active",
                                        "opened_at": now, "opened_by_id": user.id}, connection)
                        for i in range(1, n + 1)), connection)

        def start(i: int) -> date:
            return D0 + timedelta(days=i % 300)

        _load(DosingSession, (_rows(DosingSession, {
            "id": (i - 1) * SESSIONS + k + 1, "organization_id": org.id, "patient_id": i, "episode_id": i,
            "site_id": site.id, "status": "discharged", "scheduled_start": at(start(i) + timedelta(days=7 * k), 10),
            "started_at": at(start(i) + timedelta(days=7 * k), 10),
            "administration_started_at": at(start(i) + timedelta(days=7 * k), 10),
            "created_by_id": user.id, "created_at": now}, connection)
            for i in range(1, n + 1) for k in range(SESSIONS)), connection)

        def scores(i: int):  # type: ignore[no-untyped-def]
            b = rng.randint(10, 27)
            last = start(i) + timedelta(days=7 * (SESSIONS - 1))
            days = [start(i) - timedelta(days=2)] + [start(i) + timedelta(days=7 * k - 1) for k in range(1, 5)]
            days += [last + timedelta(days=rng.randint(14, 31)), last + timedelta(days=50), last + timedelta(days=80),
                     last + timedelta(days=110), last + timedelta(days=140)]
            totals = [b] + [max(0, b - rng.randint(0, 3 * k)) for k in range(1, 10)]
            return zip(days, totals, strict=True)

        def responses():  # type: ignore[no-untyped-def]
            rid = 0
            for i in range(1, n + 1):
                for day, total in scores(i):
                    rid += 1
                    yield _rows(MeasureResponse, {
                        "id": rid, "organization_id": org.id, "patient_id": i, "episode_id": i, "instrument_id": "phq9",
                        "instrument_version": "bench", "occasion": "ad_hoc", "answers": {"q9": min(3, total // 9)},
                        "result": {}, "is_scored": True, "total": float(total), "band": "", "completed_at": at(day, 9),
                        "submitted_at": at(day, 9), "via": "staff"}, connection)

        _load(MeasureResponse, responses(), connection)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return org.id


FLOOR = """
WITH s AS (
  SELECT patient_id, MIN(administration_started_at) AS f, MAX(administration_started_at) AS l
  FROM dosing_dosingsession WHERE organization_id = %s AND status = 'discharged' GROUP BY patient_id
), r AS (
  SELECT m.patient_id, m.total, m.completed_at,
    CASE WHEN m.completed_at >= {f_minus_30} AND m.completed_at < {f_plus_1} THEN 'b'
         WHEN m.completed_at >= {l_plus_14} AND m.completed_at < {l_plus_32} THEN 'e' END AS k
  FROM measures_measureresponse m JOIN s ON s.patient_id = m.patient_id
  WHERE m.organization_id = %s AND m.instrument_id = 'phq9' AND m.is_scored
), ranked AS (
  SELECT k, total, ROW_NUMBER() OVER (PARTITION BY patient_id, k ORDER BY completed_at DESC) AS rn
  FROM r WHERE k IS NOT NULL
)
SELECT k, COUNT(*), AVG(total) FROM ranked WHERE rn = 1 GROUP BY k ORDER BY k
"""


def _floor_sql(vendor: str) -> str:
    if vendor == "postgresql":
        # Day arithmetic on the start of the clinic-local day would be exact; the bench data
        # sit at 09:00/10:00 UTC, far from any day boundary, so intervals give the same rows.
        return FLOOR.format(f_minus_30="date_trunc('day', s.f) - interval '30 days'",
                            f_plus_1="date_trunc('day', s.f) + interval '1 day'",
                            l_plus_14="date_trunc('day', s.l) + interval '14 days'",
                            l_plus_32="date_trunc('day', s.l) + interval '32 days'")
    return FLOOR.format(f_minus_30="datetime(date(s.f), '-30 days')", f_plus_1="datetime(date(s.f), '+1 day')",
                        l_plus_14="datetime(date(s.l), '+14 days')", l_plus_32="datetime(date(s.l), '+32 days')")


def _run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    from openkap.accounts.models import Organization
    from openkap.outcomes.cohort import CohortFilters
    from openkap.outcomes.selectors import build_report
    from openkap.patients.models import Patient

    t0 = time.perf_counter()
    if args.database:
        org_id = Organization.objects.get(slug="bench").id
        args.patients = Patient.objects.filter(organization_id=org_id).count()
    else:
        call_command("migrate", verbosity=0)
        org_id = _build(args.patients)
    load_s = time.perf_counter() - t0
    org = Organization.objects.get(id=org_id)
    sql = _floor_sql(connection.vendor)

    def floor():  # type: ignore[no-untyped-def]
        with connection.cursor() as cursor:
            cursor.execute(sql, [org_id, org_id])
            return cursor.fetchall()

    floor_times, report_times, floor_cpu, report_cpu = [], [], [], []
    floor_rows = None
    report = None
    if args.warm_up:
        import statsmodels.api  # noqa: F401 - the experience section imports it on first use

        with override_settings(TIME_ZONE=args.time_zone):
            build_report(org, CohortFilters(date_from=date(2100, 1, 1)), as_of=date(2027, 1, 1)).to_dict(suppress=False)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The clinic's zone (--time-zone): the bench's times (09:00 and 10:00 UTC) fall on the
    # same calendar day in any zone from UTC-9 to UTC+13, so the floor's UTC days match.
    with override_settings(TIME_ZONE=args.time_zone):
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            floor_rows = floor()
            floor_times.append(time.perf_counter() - t)
            floor_cpu.append(time.process_time() - c)
            profiler = cProfile.Profile() if args.profile else None
            t, c = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            report = build_report(org, CohortFilters(), as_of=date(2027, 1, 1))
            report.summary.stat("cohens_d")  # the statistics are computed when first read
            report_times.append(time.perf_counter() - t)
            report_cpu.append(time.process_time() - c)
            if profiler:
                profiler.disable()
    if args.profile and profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert report is not None
    assert floor_rows is not None
    f, r = statistics.median(floor_times), statistics.median(report_times)
    means = {k: (n, round(float(m), 3)) for k, n, m in floor_rows}
    out = report.to_dict(suppress=False)
    print(f"backend {connection.vendor}, zone {args.time_zone}, {args.patients:,} patients, "
          f"{args.patients * 10:,} scores, {args.patients * SESSIONS:,} sessions; load {load_s:.1f} s")
    print(f"floor (one SQL statement): median {f:.3f} s of {args.repeat}: baseline n={means['b'][0]} "
          f"mean {means['b'][1]}, endpoint n={means['e'][0]} mean {means['e'][1]}")
    print(f"report (build_report):     median {r:.3f} s of {args.repeat}: baseline mean {out['baseline_mean']}, "
          f"endpoint mean {out['endpoint_mean']}, n analysed {out['n_analysed']}")
    print(f"ratio report / floor: {r / f:.2f}")
    # CPU of this process: on SQLite the database's work too, on PostgreSQL only the client's.
    print(f"CPU in this process (median): floor {statistics.median(floor_cpu):.3f} s, "
          f"report {statistics.median(report_cpu):.3f} s")
    print(f"peak RSS growth during the runs: {(rss_after - rss_before) / 1024:.0f} MiB "
          f"(process peak {rss_after / 1024:.0f} MiB)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
