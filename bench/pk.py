"""PK simulator benchmark: 10,000 virtual patients x 6 h at 1-s resolution per route,
and the same IV simulation through PyTCI 1.2.0 (exact integrator) in the same run.

    .venv/bin/python bench/pk.py [--patients 10000] [--pytci-patients 20] [--repeats 5]

Each simulate() call does everything a population prediction needs: sampling,
exact curves for every patient and time point, per-patient Cmax/Tmax/AUC, and
p5/p50/p95 bands at every time point. One small simulate() warms up first;
each route then runs --repeats times (best and median shown). Wall-clock times
depend on what else the machine is running; the load average is printed with
the results.
"""

from __future__ import annotations

import os

# The engine runs its own threads over patient chunks; OpenBLAS's thread pool
# on top of them oversubscribes the cores (measured 1.5-3x slower and erratic).
# Must be set before NumPy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import time

import numpy as np
from PyTCI.models.base import Three

from openkap.core.pk.engine import Input, LinearModel, solve
from openkap.core.pk.models import Regimen, build, parameter_sets, sample
from openkap.core.pk.simulation import simulate

HOURS = 6
STEP_S = 1.0
SEED = 1
WEIGHT_KG = 70.0
DOSES_MG = {
    "iv": 35.0,
    "im": 35.0,
    "in-racemic": 50.0,
    "in-esketamine": 84.0,
    "sublingual": 100.0,
    "oral": 100.0,
}
IV_INFUSION_MIN = 40.0


class _PyTCIKetamine(Three):  # type: ignore[misc]
    def __init__(self, v1: float, k10: float, k12: float, k13: float, k21: float, k31: float):
        self.v1, self.k10, self.k12, self.k13, self.k21, self.k31 = v1, k10, k12, k13, k21, k31
        self.keo = 0.0
        self.setup()
        self.set_integrator("exact")


def _pytci_patient(model: LinearModel, p: int, dose_mg: float) -> np.ndarray:
    """One patient's IV curve, every second for HOURS, through PyTCI."""
    a = model.rates[p]
    k12, k21 = a[1, 0], a[0, 1]
    k13, k31 = (a[2, 0], a[0, 2]) if a.shape[0] > 2 else (0.0, 0.0)
    tci = _PyTCIKetamine(1000.0 / model.outputs[p, 0, 0], -a[0, 0] - k12 - k13, k12, k13, k21, k31)
    seconds = HOURS * 3600
    infusion_s = round(IV_INFUSION_MIN * 60)
    rate = dose_mg / infusion_s
    curve = np.empty(seconds + 1)
    curve[0] = tci.x1
    for t in range(1, seconds + 1):
        if t <= infusion_s:
            tci.giveoverseconds(rate, 1)
        else:
            tci.wait_time(1)
        curve[t] = tci.x1
    return curve * 1000.0


def _timed(repeats: int, run: object) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (all threads) of each run."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()  # type: ignore[operator]
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        del result
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--pytci-patients", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.patients
    points = round(HOURS * 3600 / STEP_S) + 1
    print(
        f"{n} virtual patients x {HOURS} h at {STEP_S:g}-s resolution = {points} time points each "
        f"({n * points / 1e6:.0f} M concentrations per analyte); {os.cpu_count()} CPUs, "
        f"load average before {os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS="
        f"{os.environ['OPENBLAS_NUM_THREADS']}"
    )
    print(
        f"{'route':<15}{'best s':>8}{'median s':>10}{'cpu s':>8}{'us/patient':>12}{'load':>6}  "
        f"(whole simulate(): curves, per-patient metrics, p5/p50/p95 bands; median of "
        f"{args.repeats} runs after a warm-up; cpu = all threads, best run)"
    )
    simulate(route="iv", dose_mg=35.0, weight_kg=WEIGHT_KG, population=10, seed=SEED)  # warm-up
    best: dict[str, float] = {}
    for route, dose in DOSES_MG.items():
        times, cpu = _timed(
            args.repeats,
            lambda route=route, dose=dose: simulate(
                route=route,
                dose_mg=dose,
                weight_kg=WEIGHT_KG,
                hours=HOURS,
                step_s=STEP_S,
                population=n,
                seed=SEED,
            ),
        )
        best[route] = min(times)
        print(
            f"{route:<15}{min(times):>8.3f}{statistics.median(times):>10.3f}"
            f"{cpu[times.index(min(times))]:>8.3f}{min(times) / n * 1e6:>12.1f}"
            f"{os.getloadavg()[0]:>6.2f}"
        )

    regimen = Regimen(
        route="iv",
        doses=((0.0, DOSES_MG["iv"]),),
        weight_kg=WEIGHT_KG,
        infusion_min=IV_INFUSION_MIN,
    )
    built = build(regimen, sample(parameter_sets(regimen), n, np.random.default_rng(SEED)))

    def metrics_only() -> object:
        return solve(
            built.model, built.inputs, step_min=STEP_S / 60, n_steps=points - 1, keep_curves=False
        )

    def with_bands() -> object:
        return solve(
            built.model,
            built.inputs,
            step_min=STEP_S / 60,
            n_steps=points - 1,
            keep_curves=False,
            percentiles=(50.0, 5.0, 95.0),
        )

    metric_times, _ = _timed(args.repeats, metrics_only)
    band_times, _ = _timed(args.repeats, with_bands)
    print(
        f"iv breakdown (engine.solve, medians): exact curves + per-patient metrics "
        f"{statistics.median(metric_times):.3f} s; with p5/p50/p95 bands "
        f"{statistics.median(band_times):.3f} s"
    )

    m = min(args.pytci_patients, n)
    first = LinearModel(built.model.rates[:m], built.model.outputs[:m])
    inputs = [
        Input(i.compartment, i.time_min, i.amount_mg[:m], i.duration_min) for i in built.inputs
    ]
    reference = solve(first, inputs, step_min=STEP_S / 60, n_steps=points - 1).conc[0]
    start = time.perf_counter()
    worst = 0.0
    for p in range(m):
        theirs = _pytci_patient(built.model, p, DOSES_MG["iv"])
        positive = theirs > 0
        ours = reference[positive, p]
        worst = max(worst, float(np.max(np.abs(ours / theirs[positive] - 1.0))))
    pytci_per_patient = (time.perf_counter() - start) / m
    ours_per_patient = best["iv"] / n
    print(
        f"PyTCI 1.2.0 (exact integrator, 1-s steps): timed on {m} of {n} patients "
        f"(all {n} would take ~{pytci_per_patient * n / 60:.0f} min): "
        f"{pytci_per_patient * 1e3:.1f} ms/patient"
    )
    print(
        f"openkap iv: {ours_per_patient * 1e6:.1f} us/patient (whole simulate(), {n} patients) "
        f"-> {pytci_per_patient / ours_per_patient:.0f}x PyTCI per patient; "
        f"max relative difference on those {m} patients {worst:.1e}"
    )
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
