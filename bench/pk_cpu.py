"""CPU time (all threads) of one simulate() per route: the comparison that holds
on a loaded machine, where wall times do not.

    .venv/bin/python bench/pk_cpu.py [--repeats 3]
    PYTHONPATH=<old checkout>/src .venv/bin/python bench/pk_cpu.py   # previous code

10,000 virtual patients x 6 h at 1-s steps with p5/p50/p95 bands, as bench/pk.py;
best of --repeats after a small warm-up. Run both versions alternately.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as bench/pk.py; before NumPy loads

import argparse
import resource

from openkap.core.pk.simulation import simulate

ROUTES = ("iv", "im", "in-racemic", "in-esketamine", "sublingual", "oral")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    for route in ROUTES:
        kwargs = {"route": route, "dose_mg": 56.0 if route == "in-esketamine" else 35.0}
        kwargs |= {} if route == "in-esketamine" else {"weight_kg": 70.0}
        simulate(**kwargs, population=200, seed=1, step_s=1.0)  # type: ignore[arg-type]
        best = float("inf")
        for _ in range(args.repeats):
            start = _cpu()
            simulate(**kwargs, population=args.patients, seed=1, step_s=1.0)  # type: ignore[arg-type]
            best = min(best, _cpu() - start)
        print(f"{route:<15}{best:8.3f} s CPU (best of {args.repeats}), load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
