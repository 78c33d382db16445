"""Ledger entries per second with parallel writer processes on PostgreSQL, against a
raw-SQL floor measured in the same run.

    .venv/bin/python bench/ledger.py [--writers 8] [--entries 4000] [--sites 1] \
        [--server postgres://postgres@127.0.0.1:5432]

Creates its own database (helper_ledger_bench, dropped afterwards), migrates it with
the production settings (DEBUG off, the settings' connection policy), then:

1. the floor: WRITERS processes append entries with plain psycopg, the same steps
   the ledger takes (lock the site's chain head, lock the lot balance, check the
   stock, hash, insert the entry, update the balance, update the head, commit),
   into copies of the ledger tables (CREATE TABLE ... LIKE, same columns, indexes
   and check constraints, no foreign keys or triggers), each COMMIT durable;
1b. the same floor with early lock release, as the ledger writes since ADR 0107: the
   transaction commits with synchronous_commit off (the head is unlocked without
   waiting for the disk), then a durable commit flushes the WAL past it before the
   writer goes on. Both floors are printed, so the ratio is honest either way;
2. the application: WRITERS processes (like gunicorn's workers) record
   administrations through ``services.ledger_administer`` (the dosing app's path:
   permission, lot, session and patient checks, the locks, core check, hash, insert,
   audit row).

With one site every writer queues on the same chain head: the worst case, the figure
one busy registration sees; with --sites N the writers spread over N sites. Prints
both rates, their ratio, the CPU each entry costs the writer and its database
backend (read from /proc: a figure a busy machine hardly moves), and the statements
one administration takes; whether the WAL is on disk past an asynchronous commit
when the following statement returns (after nothing, after a transaction that only
takes an xid, after the ledger's flush); then checks that nothing was lost (entries and balances add up), no balance went negative and
every chain verifies. Only the writing is timed.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import queue
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

DB_NAME = "helper_ledger_bench"
PER_ENTRY = Decimal("0.01")  # mL of a 100 mg/mL vial
CONTAINERS = 500  # 5 mL vials received per site: 2,500 mL, room for 250,000 entries


def _admin_sql(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _setup_django() -> None:
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--entries", type=int, default=4000, help="total administrations to write (each phase)")
    parser.add_argument("--sites", type=int, default=1, help="writers are spread over this many sites")
    parser.add_argument("--server", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default=DB_NAME, help="created for the run and dropped afterwards")
    parser.add_argument("--hashes", type=int, metavar="N", help="instead of timing: write N administrations "
                        "(with wastes and counts among them) from one process on a fixed clock and print a "
                        "digest of the chain's hashes and the audit rows, to compare two versions of the code")
    args = parser.parse_args()
    db_name = args.database
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", db_name):
        parser.error("--database: lower-case letters, digits and underscores")

    _admin_sql(args.server, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
    _admin_sql(args.server, f"CREATE DATABASE {db_name}")
    from cryptography.fernet import Fernet

    # The production settings: DEBUG off, so keys and a secret must be given.
    os.environ.update({
        "DATABASE_URL": f"{args.server}/{db_name}", "DEBUG": "false", "SECRET_KEY": "bench-" + "k" * 40,
        "OPENKAP_FIELD_KEYS": Fernet.generate_key().decode(), "DJANGO_SETTINGS_MODULE": "openkap.settings",
        "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1",
    })
    try:
        _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        _admin_sql(args.server, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


def _prepare(sites: int) -> list[dict[str, Any]]:
    """A clinic with ``sites`` sites, each with one lot and one session; the floor's copies."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Membership, Organization, Site, User
    from openkap.core.authz import Role
    from openkap.core.identifiers import dea_check_digit
    from openkap.dosing.models import DosingSession
    from openkap.ledger import services
    from openkap.pathway.models import Episode
    from openkap.patients.models import Patient

    call_command("migrate", verbosity=0)
    org = Organization.objects.create(name="Bench clinic", slug="bench")
    nurse = User.objects.create(email="nurse@bench.org", full_name="Bench Nurse")
    admin = User.objects.create(email="admin@bench.org", full_name="Bench Admin")
    Membership.objects.create(organization=org, user=nurse, role=Role.NURSE)
    Membership.objects.create(organization=org, user=admin, role=Role.ADMIN)
    patient = Patient.objects.create(organization=org, mrn="B1", legal_given_name="Bea", legal_family_name="Bench",
                                     date_of_birth=timezone.localdate().replace(year=1980), sex_at_birth="female",
                                     search_name="bea bench")
    episode = Episode.objects.create(organization=org, patient=patient, opened_by=nurse, state="active")
    by_admin = build_actor(admin, org)
    supplier = services.supplier_create(by=by_admin, name="Bench supply", address="1 Bench Rd",
                                        dea_number=f"PB123456{dea_check_digit('123456')}")
    targets = []
    for n in range(sites):
        six = f"{100000 + n:06d}"
        site = Site.objects.create(organization=org, name=f"Site {n}", address_line1="1 St", city="Albany",
                                   state="NY", postal_code="12207", dea_registration=f"FB{six}{dea_check_digit(six)}")
        product = services.product_create(by=by_admin, site_id=site.id, name="Ketamine 100 mg/mL, 5 mL",
                                          form="vial", strength_mg_per_unit=100, package_size=5,
                                          ndc="0409-2051-05")
        lot = services.lot_receive(by=by_admin, site_id=site.id, product_id=product.id, lot_number="BENCH-1",
                                   expires_on=timezone.localdate() + timedelta(days=365), supplier_id=supplier.id,
                                   invoice_number="INV-B", containers=CONTAINERS).lot
        session = DosingSession.objects.create(
            organization=org, patient=patient, episode=episode, site=site, status="dosing",
            scheduled_start=timezone.now(), created_by=nurse)
        targets.append({"site": site.id, "lot": lot.id, "session": session.id, "org": org.id, "nurse": nurse.id})
    with connection.cursor() as cursor:
        for table in ("ledger_siteledgerhead", "ledger_lotbalance", "ledger_ledgerentry"):
            cursor.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
        cursor.execute("INSERT INTO floor_ledger_siteledgerhead SELECT * FROM ledger_siteledgerhead")
        cursor.execute("INSERT INTO floor_ledger_lotbalance SELECT * FROM ledger_lotbalance")
    connection.close()
    return targets


FLOOR_COLUMNS = ("organization_id", "site_id", "sequence", "lot_id", "kind", "mg", "units", "strength_mg_per_unit",
                 "unit", "occurred_at", "recorded_at", "recorded_by_id", "dosing_session_id", "patient_id", "reason",
                 "detail", "prev_hash", "entry_hash")


# What the ledger runs after each write's asynchronous COMMIT (statements.FLUSH_SQL).
FLUSH_SQL = "SELECT pg_logical_emit_message(true, 'openkap.ledger', '')"


def _floor_writer(url: str, target: dict[str, Any], count: int, barrier: Any, done: Any,
                  early_release: bool = False) -> None:
    """The same lock/insert/update in plain psycopg: the least the database needs. With
    ``early_release``, as the ledger does it since ADR 0107: the transaction commits
    without waiting for the WAL flush (so the head is unlocked at once), then a durable
    commit flushes the WAL past it before the next entry."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(url) as conn:
        template = conn.execute(
            "SELECT strength_mg_per_unit, unit, recorded_by_id FROM ledger_ledgerentry WHERE lot_id = %s "
            "LIMIT 1", (target["lot"],)).fetchone()
        conn.commit()
        # Constant column names: nothing from outside reaches the statement.
        insert = f"INSERT INTO floor_ledger_ledgerentry ({', '.join(FLOOR_COLUMNS)}) VALUES ({', '.join(['%s'] * len(FLOOR_COLUMNS))})"  # noqa: S608
        barrier.wait()
        cpu = _Cpu(conn.info.backend_pid)
        for _ in range(count):
            with conn.transaction():
                if early_release:
                    conn.execute("SET LOCAL synchronous_commit = off")
                seq, last = conn.execute("SELECT last_sequence, last_hash FROM floor_ledger_siteledgerhead "
                                         "WHERE site_id = %s FOR UPDATE", (target["site"],)).fetchone()
                mg, units = conn.execute("SELECT mg, units FROM floor_ledger_lotbalance WHERE lot_id = %s FOR UPDATE",
                                         (target["lot"],)).fetchone()
                if units < PER_ENTRY:
                    raise SystemExit("the floor ran out of stock")
                mg_used = PER_ENTRY * template[0]
                now = datetime.now(UTC)
                entry_hash = hashlib.sha256(f"{last}|{seq + 1}|{PER_ENTRY}".encode()).hexdigest()
                conn.execute(insert, (target["org"], target["site"], seq + 1, target["lot"], "administration", mg_used,
                                      PER_ENTRY, template[0], template[1], now, now, template[2],
                                      target["session"], None, "", Jsonb({}), last, entry_hash))
                conn.execute("UPDATE floor_ledger_lotbalance SET mg = %s, units = %s, entries = entries + 1 "
                             "WHERE lot_id = %s", (mg - mg_used, units - PER_ENTRY, target["lot"]))
                conn.execute("UPDATE floor_ledger_siteledgerhead SET last_sequence = %s, last_hash = %s "
                             "WHERE site_id = %s", (seq + 1, entry_hash, target["site"]))
            if early_release:
                conn.execute(FLUSH_SQL)
                conn.commit()
        done.put(cpu.spent())


def _flush_rate(url: str, commits: int = 300) -> float:
    """Commits per second of one writer changing one row each time. Each COMMIT waits
    for its WAL flush, and one site's writers commit one at a time (they hold the site's
    chain head through COMMIT), so with one entry per commit this is the most entries
    per second one site can take on this disk, whatever the application does."""
    import psycopg

    with psycopg.connect(url) as conn:
        began = time.perf_counter()
        for _ in range(commits):
            conn.execute("UPDATE floor_ledger_siteledgerhead SET last_sequence = last_sequence")
            conn.commit()
        return commits / (time.perf_counter() - began)


def _flush_covers(url: str, rounds: int = 100) -> dict[str, int]:
    """How often, of ``rounds``, the WAL is on disk past an asynchronous commit once the
    statement that follows it returns: nothing, a transaction that only takes an xid,
    and the ledger's flush (pg_current_wal_flush_lsn() against the insert position read
    right after the asynchronous COMMIT). Only the ledger's must be every time."""
    import psycopg

    covered: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, follow in (("nothing", None), ("xid only", "SELECT pg_current_xact_id()"), ("flush", FLUSH_SQL)):
            covered[name] = 0
            for _ in range(rounds):
                with conn.transaction():
                    conn.execute("SET LOCAL synchronous_commit = off")
                    conn.execute("UPDATE floor_ledger_siteledgerhead SET last_sequence = last_sequence")
                after = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
                if follow:
                    conn.execute(follow)
                covered[name] += conn.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", (after,)).fetchone()[0]
    return covered


def _app_writer(target: dict[str, Any], count: int, barrier: Any, done: Any) -> None:
    _setup_django()
    from django.db import connection

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Organization, User
    from openkap.ledger import services

    by = build_actor(User.objects.get(id=target["nurse"]), Organization.objects.get(id=target["org"]))
    connection.ensure_connection()
    barrier.wait()
    cpu = _Cpu(connection.connection.info.backend_pid)
    for _ in range(count):
        services.ledger_administer(by=by, dosing_session_id=target["session"], lot_id=target["lot"], units=PER_ENTRY)
    spent = cpu.spent()
    connection.close()
    done.put(spent)


class _Cpu:
    """CPU seconds of this writer process and of its PostgreSQL backend (same machine):
    unlike entries per second, hardly moved by whatever else the machine is running."""

    def __init__(self, backend_pid: int):
        self.backend = f"/proc/{backend_pid}/stat"
        self.start = self._now()

    def _now(self) -> tuple[float, float]:
        with open(self.backend) as stat:
            fields = stat.read().rpartition(")")[2].split()
        return time.process_time(), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def spent(self) -> tuple[float, float]:
        now = self._now()
        return now[0] - self.start[0], now[1] - self.start[1]


def _timed(writers: int, make: Any) -> tuple[float, float, float]:
    """Start the writer processes, release them together, time until the last is done;
    with the writers' and their database backends' CPU seconds."""
    ctx = mp.get_context("spawn")
    barrier, done = ctx.Barrier(writers + 1), ctx.Queue()
    procs = [ctx.Process(target=make, args=(n, barrier, done)) for n in range(writers)]
    for p in procs:
        p.start()
    barrier.wait()
    began = time.perf_counter()
    finished, client, server = 0, 0.0, 0.0
    while finished < writers:
        try:
            spent = done.get(timeout=1)
            finished += 1
            client, server = client + spent[0], server + spent[1]
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise SystemExit("a writer failed (see above)") from None
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a writer failed (exit code {p.exitcode})")
    return elapsed, client, server


class _Floor:
    def __init__(self, url: str, targets: list[dict[str, Any]], per_writer: int, early_release: bool = False):
        self.url, self.targets, self.per_writer, self.early_release = url, targets, per_writer, early_release

    def __call__(self, n: int, barrier: Any, done: Any) -> None:
        _floor_writer(self.url, self.targets[n % len(self.targets)], self.per_writer, barrier, done,
                      self.early_release)


class _App:
    def __init__(self, targets: list[dict[str, Any]], per_writer: int):
        self.targets, self.per_writer = targets, per_writer

    def __call__(self, n: int, barrier: Any, done: Any) -> None:
        _app_writer(self.targets[n % len(self.targets)], self.per_writer, barrier, done)


def _statements_per_entry(target: dict[str, Any]) -> int:
    from django.db import connection

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Organization, User
    from openkap.ledger import services

    by = build_actor(User.objects.get(id=target["nurse"]), Organization.objects.get(id=target["org"]))
    seen: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        services.ledger_administer(by=by, dosing_session_id=target["session"], lot_id=target["lot"], units=PER_ENTRY)
    # BEGIN and COMMIT are not statements Django executes through the wrapper (the flush
    # after COMMIT is).
    return len(seen) + 2


def _check(targets: list[dict[str, Any]], expected_per_lot: dict[int, int]) -> str:
    from django.db import connection

    from openkap.ledger.models import LedgerEntry, LotBalance
    from openkap.ledger.selectors import chain_check

    for lot_id, written in expected_per_lot.items():
        balance = LotBalance.objects.get(lot_id=lot_id)
        given = LedgerEntry.objects.filter(lot_id=lot_id, kind="administration").count()
        if given != written:
            raise SystemExit(f"lot {lot_id}: {given} administrations stored, {written} written: entries lost")
        if balance.units != CONTAINERS * 5 - written * PER_ENTRY or balance.units < 0 or balance.mg < 0:
            raise SystemExit(f"lot {lot_id}: balance {balance.units} mL does not add up")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM floor_ledger_lotbalance WHERE units < 0 OR mg < 0")
        if cursor.fetchone()[0]:
            raise SystemExit("a floor balance went negative")
    check = chain_check()
    if not check.ok:
        raise SystemExit(f"chain broken after the run: {check.problems}")
    return f"{check.entries_checked} entries in {len(targets)} chain(s) verify"


FIXED_CLOCK = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _hashes(count: int) -> None:
    """The same entries, whatever the code: one writer, a clock that stands still at
    FIXED_CLOCK, every time given. Ids come from a fresh database, so two versions that
    write the same entries print the same digests."""
    from django.utils import timezone

    timezone.now = lambda: FIXED_CLOCK  # type: ignore[assignment] - the receipt's and the checks' "now"
    target = _prepare(1)[0]
    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Organization, User
    from openkap.audit.models import AuditEvent
    from openkap.ledger import services
    from openkap.ledger.models import LedgerEntry

    org = Organization.objects.get(id=target["org"])
    nurse = build_actor(User.objects.get(id=target["nurse"]), org)
    admin = build_actor(User.objects.get(email="admin@bench.org"), org)
    for n in range(count):
        at = FIXED_CLOCK - timedelta(seconds=count - n)
        services.ledger_administer(by=nurse, dosing_session_id=target["session"], lot_id=target["lot"],
                                   units=PER_ENTRY * (1 + n % 3), occurred_at=at)
        if n % 5 == 4:
            services.ledger_waste(by=nurse, witness_id=admin.user.id, lot_id=target["lot"], mg=Decimal(n % 7 + 1),
                                  dosing_session_id=target["session"], reason="drawn, not given", occurred_at=at)
        if n % 25 == 24:
            services.ledger_count(by=admin, witness_id=nurse.user.id, lot_id=target["lot"], units=Decimal(2400),
                                  occurred_at=at)
    entries = [f"{e.site_id}:{e.sequence}:{e.kind}:{e.id}:{e.entry_hash}"
               for e in LedgerEntry.objects.order_by("site_id", "sequence")]
    audits = [f"{a.object_id}:{a.actor_id}:{a.patient_id}:{a.break_glass}:{sorted(a.detail.items())}"
              for a in AuditEvent.objects.filter(object_type="ledger_entry").order_by("id")]
    for name, lines in (("entries", entries), ("audit rows", audits)):
        print(f"{len(lines)} {name}: sha256 {hashlib.sha256(chr(10).join(lines).encode()).hexdigest()}")
    print(_check([target], {}))


def _run(args: argparse.Namespace) -> None:
    _setup_django()
    from django.conf import settings

    if args.hashes:
        _hashes(args.hashes)
        return

    targets = _prepare(args.sites)
    per_writer = args.entries // args.writers
    written = per_writer * args.writers
    flushes = _flush_rate(os.environ["DATABASE_URL"])
    floor_s, *floor_cpu = _timed(args.writers, _Floor(os.environ["DATABASE_URL"], targets, per_writer))
    early_s, *early_cpu = _timed(args.writers, _Floor(os.environ["DATABASE_URL"], targets, per_writer, True))
    app_s, *app_cpu = _timed(args.writers, _App(targets, per_writer))
    expected: dict[int, int] = {}
    for n in range(args.writers):
        lot = targets[n % len(targets)]["lot"]
        expected[lot] = expected.get(lot, 0) + per_writer
    covers = _flush_covers(os.environ["DATABASE_URL"])
    statements = _statements_per_entry(targets[0])
    expected[targets[0]["lot"]] += 1
    verified = _check(targets, expected)
    floor, early, app = written / floor_s, written / early_s, written / app_s
    load = os.getloadavg()[0]
    print(f"{written} entries per phase, {args.writers} writer processes over {args.sites} site(s), "
          f"CONN_MAX_AGE {settings.DATABASES['default']['CONN_MAX_AGE']}, load average {load:.1f}")
    def cpu(spent: list[float]) -> str:
        return f"CPU per entry {spent[0] / written * 1000:5.2f} ms writer + {spent[1] / written * 1000:5.2f} ms database"

    print(f"  one commit at a time {flushes:6,.0f} commits/s (WAL flush bound: one site's cap while each entry holds the site through its flush)")
    print(f"  raw psycopg floor  {floor:8,.0f} entries/s                        {cpu(floor_cpu)}")
    print(f"  floor, early lock release {early:8,.0f} entries/s (x{early / floor:.2f})  {cpu(early_cpu)}")
    print(f"  ledger_administer  {app:8,.0f} entries/s   ratio to floor {app / floor:.2f}, to the early-release floor "
          f"{app / early:.2f}   {cpu(app_cpu)}   {statements} statements per entry (with BEGIN, COMMIT and the "
          "flush; the floor takes 7, early release 9)")
    print("  WAL on disk past an asynchronous commit when the next statement returns, of 100: "
          + ", ".join(f"after {name} {n}" for name, n in covers.items()))
    print(f"  {verified}; nothing lost, no balance negative", file=sys.stderr)


if __name__ == "__main__":
    main()
