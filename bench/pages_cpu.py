"""In-process CPU per request of the clinician pages, as a ratio to the ceiling's, on the
database bench/pages.py seeded.

    .venv/bin/python bench/pages_cpu.py [--db wt_pages_bench | --database sqlite] \
        [--pages search_name,board] [--path '/patients/?q=j'] [--requests 200] [--profile DIR]

The pages run through Django's test client in this one process, with the production
settings and bench/pages.py's ceiling view, signed in as the demo nurse (or the demo
patient): no server, no load generator, no other worker competing. Per page: the process
CPU per request (time.process_time, which another process's load on the machine changes
much less than wall time), the wall time, the queries of one request, and the CPU as a
ratio to the ceiling's measured in the same run (the ceiling first and last). The pages
rotate through bench/pages.py's addresses; --path adds an address of your own as a page.
--profile writes a cProfile file per page into DIR. To compare two versions of the code,
run it alternately with PYTHONPATH=<the other version's src>: same database, same pages.

Reads the seeded database and writes what the pages write (audit rows, the nurse's
session); pages of the API token (api_search) are left out.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages as bench_pages  # bench/pages.py: the database, its keys, the pages


def _setup(args: argparse.Namespace) -> None:
    url, state_file = bench_pages._database(args)
    if not state_file.exists():
        raise SystemExit(f"no {state_file}: seed the database with bench/pages.py first")
    env = bench_pages._server_env(args, url, json.loads(state_file.read_text()), nonce="")
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    os.environ["ALLOWED_HOSTS"] = "testserver"

    import django

    django.setup()


def snapshot_args(description: str, what: str) -> argparse.Namespace:
    """The command line of a bench that writes `what` to --out or compares them with those in
    --compare (chart_html.py, board_html.py), with its database set up."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--db", default="openkap_bench_pages")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, help=f"write the {what} here")
    mode.add_argument("--compare", type=Path, help=f"compare the {what} with those written here")
    args = parser.parse_args()
    args.sqlite = args.database == "sqlite"
    args.conn_max_age = None
    _setup(args)
    return args


def write_or_compare(args: argparse.Namespace, take: Callable[[datetime | None], dict[str, str]],
                     file_of: Callable[[str], str], what: str, *, clocked: bool = False,
                     detail: Callable[[dict[str, str]], str] = lambda got: "") -> None:
    """snapshot_args' second half: ``take`` the texts (at the clock of --out's run when
    ``clocked``), write each to --out as ``file_of(key)``, or compare them with --compare's,
    printing where each that differs first differs; exits 1 if any does."""
    from django.utils import timezone

    if args.out:
        anchor = timezone.now().replace(second=0, microsecond=0) if clocked else None
        got = take(anchor)
        args.out.mkdir(parents=True, exist_ok=True)
        if anchor is not None:
            (args.out / "anchor.json").write_text(json.dumps(anchor.isoformat()))
        for key, text in got.items():
            (args.out / file_of(key)).write_text(text)
        print(f"{len(got)} {what} written to {args.out}" + (f" (clock from {anchor.isoformat()})" if anchor else ""))
        return
    at = datetime.fromisoformat(json.loads((args.compare / "anchor.json").read_text())) if clocked else None
    got = take(at)
    differ = 0
    for key, text in got.items():
        before = (args.compare / file_of(key)).read_text()
        if before == text:
            continue
        differ += 1
        old, new = before.splitlines(), text.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        print(f"{key} differs at line {line + 1}:\n  before: {old[line:line + 1]}\n  after:  {new[line:line + 1]}")
    print(f"{len(got)} {what} compared{detail(got)}, {differ} differ")
    if differ:
        raise SystemExit(1)


def _client(email: str) -> Any:
    from django.test import Client

    from openkap.accounts.middleware import SESSION_MFA_KEY
    from openkap.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=email), backend="openkap.accounts.backends.EmailBackend")
    session = client.session
    session[SESSION_MFA_KEY] = True
    session.save()
    return client


def _queries(client: Any, path: str, headers: dict[str, str]) -> int:
    from django.db import connection

    count = 0

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        client.get(path, headers=headers)
    return count


def measure(client: Any, name: str, paths: list[str], requests: int, profile: Path | None,
            refresh: bool = False) -> dict[str, Any]:
    # The board's refresh: htmx, sending back the tag of its first answer.
    headers: dict[str, str] = dict(bench_pages.REFRESH) if refresh else {}
    for path in paths[:5]:  # warm: templates compiled, connection open
        response = client.get(path, headers=headers)
        if response.status_code not in (200, 304):
            raise SystemExit(f"{name}: {path} answered {response.status_code}")
        if refresh and response.status_code == 200:
            headers = {**bench_pages.REFRESH, "If-None-Match": response["ETag"]}
    queries = _queries(client, paths[0], headers)
    profiler = cProfile.Profile() if profile else None
    cpu, wall = [], []
    for i in range(requests):
        path = paths[i % len(paths)]
        c0, w0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        client.get(path, headers=headers)
        if profiler:
            profiler.disable()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    if profiler and profile:
        profile.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile / f"{name}.prof")
    wall.sort()
    return {"page": name, "requests": requests, "cpu_ms": statistics.mean(cpu), "cpu_median_ms": statistics.median(cpu),
            "wall_ms": statistics.mean(wall), "wall_p90_ms": wall[int(0.9 * (requests - 1))], "queries": queries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--db", default="openkap_bench_pages", help="PostgreSQL database seeded by bench/pages.py")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--pages", type=lambda s: s.split(","), default=["search_name", "search_dob", "search_mrn",
                                                                          "board"])
    parser.add_argument("--path", action="append", default=[], help="an address of your own, measured as a page")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile file per page here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.sqlite = args.database == "sqlite"
    args.conn_max_age = None
    _setup(args)

    from openkap.accounts.models import Organization

    plan = bench_pages.page_plan(Organization.objects.get(slug="demo"))
    unknown = [p for p in args.pages if p not in plan]
    if unknown:
        raise SystemExit(f"unknown pages {unknown}; bench/pages.py has {sorted(plan)}")
    clients = {"nurse": _client(bench_pages.NURSE), "patient": _client(bench_pages.PATIENT)}
    clients["refresh"] = clients["nurse"]
    todo = [(p, *plan[p]) for p in args.pages if plan[p][0] != "api"] + [(path, "nurse", [path]) for path in args.path]
    load_before = os.getloadavg()
    rows = [measure(clients["nurse"], "ceiling", [bench_pages.CEILING], args.requests, args.profile)]
    rows += [measure(clients[user], name, paths, args.requests, args.profile, refresh=user == "refresh")
             for name, user, paths in todo]
    after = measure(clients["nurse"], "ceiling", [bench_pages.CEILING], args.requests, None)
    floor = (rows[0]["cpu_ms"] + after["cpu_ms"]) / 2
    rows[0]["cpu_ms"] = floor
    for row in rows:
        row["cpu_ratio"] = row["cpu_ms"] / floor
    from django.db import connection

    result = {"database": connection.vendor, "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['database']}, in process, {args.requests} requests a page; load average "
          f"{load_before[0]:.1f} before, {result['load_average_after'][0]:.1f} after")
    print(f"{'page':<22}{'CPU ms':>8}{'median':>8}{'x ceiling':>10}{'wall ms':>9}{'p90':>8}{'queries':>9}")
    for r in rows:
        print(f"{r['page'][:22]:<22}{r['cpu_ms']:>8.2f}{r['cpu_median_ms']:>8.2f}{r['cpu_ratio']:>10.2f}"
              f"{r['wall_ms']:>9.1f}{r['wall_p90_ms']:>8.1f}{r['queries']:>9}")


if __name__ == "__main__":
    main()
