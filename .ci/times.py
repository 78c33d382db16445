"""Print the phase table of a CI run: wall and CPU seconds and tests per phase, from the phases.tsv
that .ci/run writes and each pytest phase's JUnit XML (start: seconds into the run; phases of
different lanes overlap); then the slowest tests.

    python .ci/times.py [artifacts/ci] [total seconds]
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ORDER = ["system", "install", "lint", "core", "sqlite", "postgres", "fuzz", "browser"]
DATABASE = {"core": "none", "sqlite": "SQLite", "postgres": "PostgreSQL", "fuzz": "PostgreSQL",
            "browser": "PostgreSQL"}


def counts(xml: Path) -> tuple[dict[str, int], list[tuple[float, str]]]:
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    slow = []
    for suite in ET.parse(xml).getroot().iter("testsuite"):  # noqa: S314
        for key in total:
            total[key] += int(suite.get(key, 0))
        slow += [(float(case.get("time", 0)), f"{case.get('classname')}::{case.get('name')}")
                 for case in suite.iter("testcase")]
    return total, slow


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/ci")
    # Lanes run side by side (.ci/run) and finish in any order: the table keeps ORDER.
    rows = [line.split("\t") for line in (out / "phases.tsv").read_text().splitlines() if line]
    rows.sort(key=lambda row: ORDER.index(row[0]) if row[0] in ORDER else len(ORDER))
    slowest: list[tuple[float, str]] = []
    print(f"{'phase':<10}{'start':>6}{'seconds':>8}{'cpu s':>7}  {'exit':>4}  {'database':<11}"
          f"{'passed':>7}{'failed':>7}{'skipped':>8}")
    cpu_total = 0
    for name, seconds, status, *more in rows:
        cpu, start = [*more, "", ""][:2]
        cpu_total += int(cpu) if cpu else 0
        xml = out / f"{name}.xml"
        tests = ""
        if xml.exists():
            c, slow = counts(xml)
            slowest += [(t, f"{name}: {test}") for t, test in slow]
            failed = c["failures"] + c["errors"]
            tests = f"{c['tests'] - failed - c['skipped']:>7}{failed:>7}{c['skipped']:>8}"
        print(f"{name:<10}{start:>6}{seconds:>8}{cpu:>7}  {status:>4}  {DATABASE.get(name, ''):<11}{tests}")
    if len(sys.argv) > 2:
        print(f"{'total':<10}{'':>6}{sys.argv[2]:>8}{cpu_total:>7}")
    print("load average (1, 5, 15 min) at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("slowest tests (seconds):")
    for t, test in sorted(slowest, reverse=True)[:10]:
        print(f"  {t:7.1f}  {test}")


if __name__ == "__main__":
    main()
