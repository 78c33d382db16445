"""The cohort outcome report against a raw-SQL floor, on SQLite or PostgreSQL.

    .venv/bin/python bench/outcomes.py --backend sqlite --patients 10000
    .venv/bin/python bench/outcomes.py --backend postgres --patients 1000000 \
        [--server postgres://postgres@127.0.0.1:5432]

Builds its own database (a temporary SQLite file, or wt_outcomes_bench on the
server, dropped afterwards), migrates it and bulk-loads a synthetic clinic: N patients,
each with an episode, 6 held dosing sessions a week apart and 10 PHQ-9 scores
(baseline, one before each later session, endpoint 14-31 days after the last session,
two follow-ups), the same rows for a given N. Each table's rows come from a template
(constants once, the varying columns per row); on PostgreSQL they go in by COPY FREEZE
into the tables bared of their foreign keys, unique constraints and secondary indexes,
which are put back from their own definitions afterwards (ADR 0095); on SQLite by
executemany. Then, each the median of --repeat runs in the same process:

- floor: one SQL statement over the same rows computing the baseline and endpoint
  means (window functions pick each patient's latest score in each window);
- report: ``openkap.outcomes.selectors.build_report`` (everything the page shows,
  including the 2,000-resample bootstrap, Kaplan-Meier, bands and demographics).

Prints both times, their ratio, the CPU of this process for each (on SQLite that
includes the database's work, on PostgreSQL only the client's), the report's peak RSS
growth and the load average.

Measured (shared 2-core machine, zone America/New_York, --repeat 3 --warm-up on databases
kept by --keep; figures and method in ADR 0082 and ADR 0095): loading 1,000,000 patients
took 565 s at load 7-16 (10,000: 8-10 s without migrate, the old loader 70-74 s). With
main at 4886b0d, PostgreSQL: 10,000 patients floor 0.320 s, report 1.108 s, ratio 3.46
(load 9.6); 100,000 floor 3.355 s, report 11.380 s, ratio 3.39 (load 10); 1,000,000 floor
38.291 s, report 136.157 s, ratio 3.56, report CPU 32.4 s (load 8.4-9.8); peak RSS growth
20, 23 and 108 MiB. SQLite 10,000 patients (ADR 0082, load 11): ratio 2.1-2.2, report CPU
0.42-0.46 s.

Measured after ADR 0093 (shared 2-core machine at load 8-10, zone America/New_York;
before/after alternating on one kept database, the figures and the A/B method in
ADR 0093): PostgreSQL 10,000 patients --repeat 5 floor 0.48-0.55 s, report 1.45-1.62 s,
ratio 2.95-3.01 (before 3.04-3.40), report CPU 0.40-0.45 s; 100,000 --warm-up ratio
2.92-3.46 (before 3.47-4.16), peak RSS growth 19-21 MiB (before 95-97), the same as at
10,000 (at 1,000,000 108 MiB, above: see ADR 0093). SQLite 10,000 patients ratio 1.87-1.91, report CPU 0.83-0.84 s
against the floor's 0.38-0.44 s.

Measured after ADR 0105 (reads a chunk ahead in a thread, rows packed by PostgreSQL, pair
counts past 50,000 analysed patients; shared 2-core machine at load 7-20, before = main at
868c5e6, alternating, --repeat 3 --warm-up): PostgreSQL 1,000,000 patients floor 20.7-25.8 s,
report 60.9-79.4 s, ratio 2.80-3.11 (before 5.06), report CPU 14.5-19.1 s (before 23.9 s);
100,000 ratio 2.73-3.76 (before 3.58-6.10), CPU 1.7-1.9 s (before 2.3-2.6 s); 10,000
(--repeat 5) 3.3-4.7 (before 3.5-6.7), CPU 0.23-0.28 s (before 0.32-0.37 s). Peak RSS growth
30, 36 and 43 MiB at 10,000, 100,000 and 1,000,000 (before 21, 23-27 and 112 MiB): flat.
SQLite 10,000 report CPU 0.69-0.70 s (before 0.68-0.74 s).
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from itertools import islice

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


class _Table:
    """A table's rows from a template: every column's value is computed once (the given
    constants, else the field's default, as the ORM would store it) and only the varying
    columns are filled in per row, in column order, with values already in the database's
    form (numbers, JSON text, the text of ``connection.ops.adapt_*``; text without tabs,
    newlines or backslashes). On PostgreSQL the template is one line of COPY text."""

    def __init__(self, model, connection, varying: tuple[str, ...], constants: dict) -> None:  # type: ignore[no-untyped-def]
        from django.db.models import JSONField

        fields = model._meta.concrete_fields
        names = [f.attname for f in fields]
        if [n for n in names if n in varying] != list(varying) or set(varying) & set(constants):
            raise ValueError(f"{model.__name__}: {varying} must be columns in column order, not constants")
        self.table, self.connection = model._meta.db_table, connection
        self.columns = ", ".join(f.column for f in fields)
        self.positions = [names.index(n) for n in varying]
        self.base: list = []
        for f in fields:
            value = constants[f.attname] if f.attname in constants else (
                f.get_default() if f.has_default() or not f.null else None)
            if value is not None:
                value = json.dumps(value) if isinstance(f, JSONField) else f.get_db_prep_value(
                    value, connection, prepared=False)
            self.base.append(value)
        self.template = "\t".join("%s" if f.attname in varying else _copy_text(v).replace("%", "%%")
                                  for f, v in zip(fields, self.base, strict=True)) + "\n"

    def load(self, rows: Iterator[tuple]) -> None:
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                # FREEZE: rows written frozen and all-visible (the table was truncated in this
                # transaction), so neither the first reads nor autovacuum rewrite every page.
                with cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN (FREEZE)") as copy:
                    template = self.template
                    while block := list(islice(rows, 20_000)):
                        copy.write("".join([template % values for values in block]))
                return
            marks = ", ".join(["%s"] * len(self.base))
            sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({marks})"  # noqa: S608 - model metadata
            while block := list(islice(rows, 20_000)):
                batch = []
                for values in block:
                    row = self.base.copy()
                    for position, value in zip(self.positions, values, strict=True):
                        row[position] = value
                    batch.append(row)
                cursor.executemany(sql, batch)


def _copy_text(value: object) -> str:
    """A constant in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class _Step:
    """Prints how long a step of the load took: wall time, CPU of this process and, when
    the server runs on this machine, of its PostgreSQL backend (read from /proc)."""

    def __init__(self, connection) -> None:  # type: ignore[no-untyped-def]
        self.backend = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend = f"/proc/{cursor.fetchone()[0]}/stat"

    def _server(self) -> float:
        try:
            with open(self.backend or "") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    @contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        wall, cpu, server = time.perf_counter(), time.process_time(), self._server()
        yield
        backend = f", database backend {self._server() - server:.1f} s" if self.backend else ""
        print(f"  {what}: {time.perf_counter() - wall:.1f} s (CPU: this process {time.process_time() - cpu:.1f} s"
              f"{backend})", flush=True)


class _Bare:
    """On PostgreSQL, tables loaded without their foreign keys, unique constraints and
    secondary indexes, which ``restore`` puts back from their own definitions: one
    validating join or one sorted build each instead of a deferred check and index
    insertions per row, and the schema afterwards is the migrated one (pg_dump
    --schema-only compares equal). The tables are truncated (they are empty) so that COPY
    may FREEZE. Both calls belong to the transaction that loads the rows."""

    def __init__(self, connection, models) -> None:  # type: ignore[no-untyped-def]
        self.connection = connection
        self.tables = [model._meta.db_table for model in models]
        self.constraints: list[tuple[str, str, str]] = []
        self.indexes: list[tuple[str, str]] = []

    def drop(self) -> None:
        if self.connection.vendor != "postgresql":
            return
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT FROM patients_patient)")
            if cursor.fetchone()[0]:
                raise SystemExit("the database already holds patients: build into an empty one")
            cursor.execute("""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                              WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u') ORDER BY 1, 2""",
                           [self.tables])
            self.constraints = cursor.fetchall()
            cursor.execute("""SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i
                              WHERE indrelid = ANY(%s::regclass[]) AND NOT EXISTS (SELECT FROM pg_constraint c
                                WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid)
                              ORDER BY 1""", [self.tables])
            self.indexes = cursor.fetchall()
            for table, name, _ in self.constraints:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _ in self.indexes:
                cursor.execute(f"DROP INDEX {name}")
            # CASCADE: the tables that refer to these, as empty in a database just migrated.
            cursor.execute(f"TRUNCATE {', '.join(self.tables)} CASCADE")

    def restore(self) -> None:
        with self.connection.cursor() as cursor:
            # For the sorts of the index builds and the foreign keys' validating joins.
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for _, definition in self.indexes:
                cursor.execute(definition)
            for table, name, definition in self.constraints:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


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
    ops = connection.ops
    # Every day is D0 + an offset from -2 (a baseline) to 300 + 35 + 140 (the last follow-up):
    # each instant is put in the database's form once, then looked up by that offset + 2.
    span = range(-2, 300 + 7 * (SESSIONS - 1) + 141)
    at9, at10 = ([str(ops.adapt_datetimefield_value(datetime.combine(D0 + timedelta(days=d), time_of_day(hour),
                                                                      tzinfo=UTC))) for d in span]
                 for hour in (9, 10))
    answers = [json.dumps({"q9": v}) for v in range(4)]

    def start(i: int) -> int:
        return i % 300

    def patients() -> Iterator[tuple]:
        for i in range(1, n + 1):
            born = str(ops.adapt_datefield_value(date(1950 + i % 50, 1 + i % 12, 1 + i % 28)))
            yield i, f"B{i:09d}", f"G{i}", f"F{i}", born, "female" if i % 2 else "male", f"g{i} f{i}"

    def sessions() -> Iterator[tuple]:
        for i in range(1, n + 1):
            for k in range(SESSIONS):
                when = at10[start(i) + 7 * k + 2]
                yield (i - 1) * SESSIONS + k + 1, i, i, when, when, when

    def responses() -> Iterator[tuple]:
        rid = 0
        for i in range(1, n + 1):
            # The draws in the order the cohort has always been drawn (a given seed, the same rows).
            b = rng.randint(10, 27)
            first, last = start(i), start(i) + 7 * (SESSIONS - 1)
            days = [first - 2] + [first + 7 * k - 1 for k in range(1, 5)]
            days += [last + rng.randint(14, 31), last + 50, last + 80, last + 110, last + 140]
            totals = [b] + [max(0, b - rng.randint(0, 3 * k)) for k in range(1, 10)]
            for day, total in zip(days, totals, strict=True):
                rid += 1
                when = at9[day + 2]
                yield rid, i, i, answers[min(3, total // 9)], float(total), when, when

    tables = [
        (_Table(Patient, connection, ("id", "mrn", "legal_given_name", "legal_family_name", "date_of_birth",
                                      "sex_at_birth", "search_name"),
                {"organization_id": org.id, "created_at": now, "updated_at": now}), patients()),
        (_Table(Episode, connection, ("id", "patient_id"),
                {"organization_id": org.id, "state": "active", "opened_at": now, "opened_by_id": user.id}),
         ((i, i) for i in range(1, n + 1))),
        (_Table(DosingSession, connection, ("id", "patient_id", "episode_id", "scheduled_start", "started_at",
                                            "administration_started_at"),
                {"organization_id": org.id, "site_id": site.id, "status": "discharged", "created_by_id": user.id,
                 "created_at": now}), sessions()),
        (_Table(MeasureResponse, connection, ("id", "patient_id", "episode_id", "answers", "total", "completed_at",
                                              "submitted_at"),
                {"organization_id": org.id, "instrument_id": "phq9", "instrument_version": "bench",
                 "occasion": "ad_hoc", "result": {}, "is_scored": True, "band": "", "via": "staff"}), responses()),
    ]
    step = _Step(connection)
    bare = _Bare(connection, [Patient, Episode, DosingSession, MeasureResponse])
    with transaction.atomic():
        bare.drop()
        for table, rows in tables:
            with step(table.table):
                table.load(rows)
        if connection.vendor == "postgresql":
            with step(f"{len(bare.indexes)} indexes and {len(bare.constraints)} constraints put back"):
                bare.restore()
    if connection.vendor == "postgresql":
        with step("ANALYZE"), connection.cursor() as cursor:
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
        print(f"load: migrated in {time.perf_counter() - t0:.1f} s", flush=True)
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
