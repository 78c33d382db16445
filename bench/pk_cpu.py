"""CPU time (all threads) of one simulate() per route: the comparison that holds
on a loaded machine, where wall times do not.

    .venv/bin/python bench/pk_cpu.py [--repeats 3] [--norketamine]
    PYTHONPATH=<old checkout>/src .venv/bin/python bench/pk_cpu.py   # previous code

--norketamine also times each racemic route with the metabolite and prints its
ratio to the ketamine-only run of the same route (same process, same load).

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
    parser.add_argument("--norketamine", action="store_true")
    args = parser.parse_args()
    for route in ROUTES:
        kwargs = {"route": route, "dose_mg": 56.0 if route == "in-esketamine" else 35.0}
        kwargs |= {} if route == "in-esketamine" else {"weight_kg": 70.0}
        base = _best(kwargs, args.repeats, args.patients)
        line = f"{route:<15}{base:8.3f} s CPU (best of {args.repeats})"
        if args.norketamine and route != "in-esketamine":
            nk = _best(kwargs | {"norketamine": True}, args.repeats, args.patients)
            line += f", with norketamine {nk:8.3f} s ({nk / base:.2f}x)"
        print(f"{line}, load {os.getloadavg()[0]:.2f}")


def _best(kwargs: dict[str, object], repeats: int, patients: int) -> float:
    simulate(**kwargs, population=200, seed=1, step_s=1.0)  # type: ignore[arg-type]
    best = float("inf")
    for _ in range(repeats):
        start = _cpu()
        simulate(**kwargs, population=patients, seed=1, step_s=1.0)  # type: ignore[arg-type]
        best = min(best, _cpu() - start)
    return best


if __name__ == "__main__":
    main()
