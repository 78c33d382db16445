"""Ledger entries per second with parallel writers on PostgreSQL.

    .venv/bin/python bench/ledger.py [--writers 8] [--entries 4000] [--sites 1] \
        [--server postgres://postgres@127.0.0.1:5432]

Creates its own database (helper_ledger_bench, dropped afterwards), migrates it,
then WRITERS threads record administrations through ``services.ledger_administer``
(the path the dosing app uses: permission, patient check, site head lock, lot
balance lock, core check, hash, insert, audit row), all drawing from one lot per
site. With one site every writer queues on the same chain head: this is the
worst case, and the figure a single busy registration would see. Only the
writing is timed; the set-up and the final ``verify`` are not.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

DB_NAME = "helper_ledger_bench"


def _admin_sql(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--entries", type=int, default=4000, help="total administrations to write")
    parser.add_argument("--sites", type=int, default=1, help="writers are spread over this many sites")
    parser.add_argument("--server", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    args = parser.parse_args()

    _admin_sql(args.server, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _admin_sql(args.server, f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = f"{args.server}/{DB_NAME}"
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openkap.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        rate = _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        _admin_sql(args.server, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    print(f"{rate:,.0f} ledger entries per second")


def _run(args: argparse.Namespace) -> float:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Membership, Organization, Site, User
    from openkap.core.authz import Role
    from openkap.core.identifiers import dea_check_digit
    from openkap.dosing.models import DosingSession
    from openkap.ledger import services
    from openkap.ledger.selectors import chain_check
    from openkap.pathway.models import Episode
    from openkap.patients.models import Patient

    call_command("migrate", verbosity=0)
    org = Organization.objects.create(name="Bench clinic", slug="bench")
    nurse = User.objects.create(email="nurse@bench.org", full_name="Bench Nurse")
    admin = User.objects.create(email="admin@bench.org", full_name="Bench Admin")
    Membership.objects.create(organization=org, user=nurse, role=Role.NURSE)
    Membership.objects.create(organization=org, user=admin, role=Role.ADMIN)
    patient = Patient.objects.create(organization=org, mrn="B1", legal_given_name="Bea", legal_family_name="Bench",
                                     date_of_birth=date(1980, 1, 1), sex_at_birth="female", search_name="bea bench")
    episode = Episode.objects.create(organization=org, patient=patient, opened_by=nurse, state="active")
    by_admin, by_nurse = build_actor(admin, org), build_actor(nurse, org)
    supplier = services.supplier_create(by=by_admin, name="Bench supply", address="1 Bench Rd",
                                        dea_number=f"PB123456{dea_check_digit('123456')}")
    per_entry = Decimal("0.01")  # mL of a 100 mg/mL vial
    targets = []
    for n in range(args.sites):
        six = f"{100000 + n:06d}"
        site = Site.objects.create(organization=org, name=f"Site {n}", address_line1="1 St", city="Albany",
                                   state="NY", postal_code="12207", dea_registration=f"FB{six}{dea_check_digit(six)}")
        product = services.product_create(by=by_admin, site_id=site.id, name="Ketamine 100 mg/mL, 5 mL",
                                          form="vial", strength_mg_per_unit=100, package_size=5,
                                          ndc="0409-2051-05")
        lot = services.lot_receive(by=by_admin, site_id=site.id, product_id=product.id, lot_number="BENCH-1",
                                   expires_on=timezone.localdate() + timedelta(days=365), supplier_id=supplier.id,
                                   invoice_number="INV-B", containers=500).lot
        session = DosingSession.objects.create(
            organization=org, patient=patient, episode=episode, site=site, status="dosing",
            scheduled_start=timezone.now(), created_by=nurse)
        targets.append((lot.id, session.id))
    connection.close()

    per_writer = args.entries // args.writers
    start = threading.Barrier(args.writers + 1)
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        lot_id, session_id = targets[n % len(targets)]
        try:
            start.wait()
            for _ in range(per_writer):
                services.ledger_administer(by=by_nurse, dosing_session_id=session_id, lot_id=lot_id, units=per_entry)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(args.writers)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise SystemExit(f"a writer failed: {failures[0]!r}")
    written = per_writer * args.writers
    check = chain_check()
    if not check.ok:
        raise SystemExit(f"chain broken after the run: {check.problems}")
    print(f"{written} administrations by {args.writers} writers over {args.sites} site(s) in {elapsed:.2f} s; "
          f"chain of {check.entries_checked} entries verifies", file=sys.stderr)
    return written / elapsed


if __name__ == "__main__":
    main()
