"""simulate(): the one call the CLI and the Django pages use."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from openkap.core.pk.bands import RANGE_BLOCK, block_ranges, select
from openkap.core.pk.engine import CurveArray, FloatArray, solve
from openkap.core.pk.models import (
    ROUTE_LABELS,
    ROUTES,
    Regimen,
    Route,
    Saliva,
    Values,
    build,
    esketamine_devices,
    parameter_sets,
    sample,
)
from openkap.core.pk.params import (
    AGE_RANGE_YEARS,
    DEFAULT_DISPOSITION,
    DISPOSITIONS,
    ESKETAMINE_DEVICE_INTERVAL_MIN,
    INTERACTIONS,
    IV_ONLY_DISPOSITIONS,
)

DISCLAIMER = "Population prediction, not a dosing instruction."
MAX_PATIENTS = 100_000
# Caps patients x time points: the work of one call, and 2 GB of float64 with keep_curves.
MAX_POINTS = 250_000_000
WEIGHT_RANGE_KG = (30.0, 250.0)  # plausibility range, dosing_pk.md 5.2
_PERCENTILES = (50.0, 5.0, 95.0)  # median, p5, p95
# Blocks of RANGE_BLOCK time points per quantile_bands task.
_BAND_TASK = 32


@dataclass(frozen=True)
class ParameterUse:
    """A parameter as used in a simulation, for display next to the chart."""

    set_name: str
    name: str
    value: float
    unit: str
    source: str
    calibrated: bool
    note: str
    iiv_sd: float
    iiv_scale: str


@dataclass(frozen=True, eq=False)
class Analyte:
    """Curves and per-patient metrics of one substance (ng/mL, min, ng*h/mL)."""

    name: str
    median: FloatArray  # per time point, across patients
    p5: FloatArray | None  # None without a population
    p95: FloatArray | None
    cmax_ng_ml: FloatArray  # per patient
    tmax_min: FloatArray
    auc_ng_h_ml: FloatArray  # 0 to the end of the simulation
    auc_inf_ng_h_ml: FloatArray  # 0 to infinity
    time_above_min: FloatArray | None  # per patient, with a threshold
    curves: FloatArray | None  # (n_patients, n_times) when keep_curves


@dataclass(frozen=True, eq=False)
class SimulationResult:
    route: Route
    doses: tuple[tuple[float, float], ...]  # (start min, mg)
    weight_kg: float | None
    administration: str  # e.g. "infused over 40 min"
    model: str
    source: str
    n_patients: int | None  # None: typical individual, no variability
    seed: int | None
    threshold_ng_ml: float | None
    times_min: FloatArray
    analytes: tuple[Analyte, ...]  # first: the administered drug
    parameters: tuple[ParameterUse, ...]
    interaction: str | None = None  # key of params.INTERACTIONS, when one was applied
    age_years: float | None = None  # when given; it changes the curve only above 60

    @property
    def dose_mg(self) -> float:
        return sum(mg for _, mg in self.doses)

    @property
    def parent(self) -> Analyte:
        return self.analytes[0]

    @property
    def median(self) -> FloatArray:
        return self.parent.median

    @property
    def p5(self) -> FloatArray | None:
        return self.parent.p5

    @property
    def p95(self) -> FloatArray | None:
        return self.parent.p95

    @property
    def cmax_ng_ml(self) -> float:
        """Median over patients of each patient's Cmax."""
        return float(np.median(self.parent.cmax_ng_ml))

    @property
    def tmax_min(self) -> float:
        return float(np.median(self.parent.tmax_min))

    @property
    def auc_ng_h_ml(self) -> float:
        return float(np.median(self.parent.auc_ng_h_ml))

    @property
    def prediction(self) -> str:
        if self.n_patients is None:
            return "typical individual (no between-subject variability)"
        return f"population of {self.n_patients} virtual patients, seed {self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; curves as lists, per-patient metrics as medians."""
        return {
            "route": self.route,
            "route_label": ROUTE_LABELS[self.route],
            "doses": [{"time_min": t, "dose_mg": mg} for t, mg in self.doses],
            "dose_mg": self.dose_mg,
            "weight_kg": self.weight_kg,
            "administration": self.administration,
            "model": self.model,
            "source": self.source,
            "prediction": self.prediction,
            "disclaimer": DISCLAIMER,
            "n_patients": self.n_patients,
            "seed": self.seed,
            "times_min": _rounded(self.times_min),
            **_analyte_dict(self.parent, self.threshold_ng_ml),
            "metabolites": [
                _analyte_dict(a, self.threshold_ng_ml) | {"name": a.name} for a in self.analytes[1:]
            ],
            "interaction": self.interaction,
            "age_years": self.age_years,
            "parameters": [vars(p) for p in self.parameters],
        }


def simulate(
    *,
    route: str,
    dose_mg: float,
    weight_kg: float | None = None,
    infusion_min: float | None = None,
    hours: float = 6.0,
    population: int | None = None,
    seed: int = 0,
    step_s: float = 10.0,
    disposition: str | None = None,
    saliva: str | None = None,
    boosters: Sequence[tuple[float, float]] = (),
    threshold_ng_ml: float | None = None,
    keep_curves: bool = False,
    interaction: str | None = None,
    norketamine: bool = False,
    age_years: float | None = None,
) -> SimulationResult:
    """Predict plasma concentrations for a planned dose.

    dose_mg is given at time 0; boosters are further (start min, mg) doses of
    the same route. population=None simulates the typical individual;
    population=N draws N virtual patients with between-subject variability
    from numpy's default_rng(seed). Concentrations are sampled every step_s
    seconds for hours. Raises ValueError with a readable message on bad input.
    """
    regimen = _regimen(
        route, dose_mg, weight_kg, infusion_min, disposition, saliva, boosters, interaction
    )
    if age_years is not None:
        _check_range("age_years", age_years, *AGE_RANGE_YEARS)
        regimen = replace(regimen, age_years=float(age_years))
    if norketamine:
        if regimen.route == "in-esketamine":
            raise ValueError(
                "norketamine applies to racemic routes (esketamine gives noresketamine)"
            )
        if regimen.disposition != "joint":
            raise ValueError("norketamine is validated with the joint disposition only")
        regimen = replace(regimen, norketamine=True)
    _check_range("hours", hours, 0.0, 72.0, low_open=True)
    _check_range("step_s", step_s, 0.0, 3600.0, low_open=True)
    n_steps = round(hours * 3600.0 / step_s)
    if n_steps < 1:
        raise ValueError("hours must cover at least one time step")
    if population is not None:
        if isinstance(population, bool) or not isinstance(population, int):
            raise ValueError("population must be a whole number of patients")
        if not 1 <= population <= MAX_PATIENTS:
            raise ValueError(f"population must be between 1 and {MAX_PATIENTS}")
        if population * (n_steps + 1) > MAX_POINTS:
            raise ValueError("population x time points too large; use a coarser step_s")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if threshold_ng_ml is not None:
        _check_range("threshold_ng_ml", threshold_ng_ml, 0.0, math.inf, low_open=True)

    sets = parameter_sets(regimen)
    rng = None if population is None else np.random.default_rng(seed)
    values = sample(sets, population or 1, rng)
    built = build(regimen, values)
    solution = solve(
        built.model,
        built.inputs,
        step_min=step_s / 60.0,
        n_steps=n_steps,
        threshold_ng_ml=math.inf if threshold_ng_ml is None else threshold_ng_ml,
        keep_curves=keep_curves or population is None,
        percentiles=() if population is None else _PERCENTILES,
    )
    analytes = []
    for o, name in enumerate(built.analytes):
        conc = None if solution.conc is None else solution.conc[o]
        if solution.bands is not None:
            median, p5, p95 = solution.bands[o]
        elif conc is not None:
            median, p5, p95 = np.ascontiguousarray(conc[:, 0]), None, None
        analytes.append(
            Analyte(
                name=name,
                median=median,
                p5=p5,
                p95=p95,
                cmax_ng_ml=solution.cmax[o],
                tmax_min=solution.tmax_min[o],
                auc_ng_h_ml=solution.auc[o] / 60.0,
                auc_inf_ng_h_ml=solution.auc_inf[o] / 60.0,
                time_above_min=None if threshold_ng_ml is None else solution.time_above_min[o],
                curves=conc.T if keep_curves and conc is not None else None,
            )
        )
    model_name = " + ".join(s.name for s in sets if s.key != "racemic-iiv")
    return SimulationResult(
        route=regimen.route,
        doses=regimen.doses,
        weight_kg=regimen.weight_kg,
        administration=_administration(regimen, values),
        model=model_name,
        source="; ".join(dict.fromkeys(c for s in sets for c in s.citation.split("; "))),
        n_patients=population,
        seed=None if population is None else seed,
        threshold_ng_ml=threshold_ng_ml,
        times_min=solution.times_min,
        analytes=tuple(analytes),
        parameters=tuple(
            ParameterUse(
                s.name, name, p.value, p.unit, p.source, p.calibrated, p.note, p.iiv_sd, p.iiv_scale
            )
            for s in sets
            for name, p in s.params.items()
        ),
        interaction=regimen.interaction,
        age_years=regimen.age_years,
    )


def quantile_bands(conc: CurveArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Median, 5th and 95th percentile per time point of conc (n_times, n_patients).

    Same definition as numpy.percentile (linear interpolation), on the values
    rounded to float32 (relative error of a band value below 1e-7); see
    openkap.core.pk.bands. conc may be laid out either way in memory and is
    not modified.
    """
    n_times, n_pat = conc.shape
    bands = np.empty((len(_PERCENTILES), n_times))
    by_patient = conc.strides[0] < conc.strides[1]
    span = _BAND_TASK * RANGE_BLOCK

    def run(start: int) -> None:
        times = slice(start, min(start + span, n_times))
        values = conc.T[:, times] if by_patient else conc[times]
        lows, highs = block_ranges(values, by_patient=by_patient)
        select(
            values,
            by_patient=by_patient,
            lows=lows,
            highs=highs,
            percentiles=_PERCENTILES,
            out=bands[:, times],
        )

    starts = range(0, n_times, span)
    if n_pat * n_times < 1_000_000:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(run, starts))
    return bands[0], bands[1], bands[2]


def _regimen(
    route: str,
    dose_mg: float,
    weight_kg: float | None,
    infusion_min: float | None,
    disposition: str | None,
    saliva: str | None,
    boosters: Sequence[tuple[float, float]],
    interaction: str | None = None,
) -> Regimen:
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; choose one of: {', '.join(ROUTES)}")
    _check_range("dose_mg", dose_mg, 0.0, 5000.0, low_open=True)
    doses = [(0.0, float(dose_mg))]
    for when, mg in boosters:
        _check_range("booster time_min", when, 0.0, 72 * 60.0)
        _check_range("booster dose_mg", mg, 0.0, 5000.0, low_open=True)
        doses.append((float(when), float(mg)))
    if weight_kg is not None:
        _check_range("weight_kg", weight_kg, *WEIGHT_RANGE_KG)
    if route == "in-esketamine":
        for _, mg in doses:
            esketamine_devices(mg)
    elif weight_kg is None:
        raise ValueError("weight_kg is required: racemic ketamine models scale with weight")
    if infusion_min is not None:
        if route != "iv":
            raise ValueError("infusion_min applies to the iv route only")
        _check_range("infusion_min", infusion_min, 0.0, 24 * 60.0)
    if disposition is not None:
        if route == "in-esketamine":
            raise ValueError("disposition applies to racemic ketamine routes only")
        if disposition not in DISPOSITIONS:
            raise ValueError(
                f"unknown disposition {disposition!r}; choose one of: " + ", ".join(DISPOSITIONS)
            )
        if disposition in IV_ONLY_DISPOSITIONS and route != "iv":
            raise ValueError(
                f"the published {disposition} disposition is for the iv route only; "
                "absorption was fitted with the joint disposition"
            )
    if saliva is not None:
        if route != "sublingual":
            raise ValueError("saliva applies to the sublingual route only")
        if saliva not in ("swallow", "spit"):
            raise ValueError("saliva must be 'swallow' or 'spit'")
    if interaction is not None:
        if interaction not in INTERACTIONS:
            raise ValueError(
                f"unknown interaction {interaction!r}; choose one of: " + ", ".join(INTERACTIONS)
            )
        if route == "in-esketamine":
            raise ValueError(
                "interactions apply to racemic ketamine routes only "
                "(the esketamine model's own study data were not available)"
            )
    saliva_mode: Saliva = "spit" if saliva == "spit" else "swallow"
    return Regimen(
        route=route,
        doses=tuple(sorted(doses)),
        weight_kg=None if weight_kg is None else float(weight_kg),
        infusion_min=40.0 if infusion_min is None else float(infusion_min),
        disposition=disposition or DEFAULT_DISPOSITION,
        saliva=saliva_mode,
        interaction=interaction,
    )


def _administration(regimen: Regimen, values: Values) -> str:
    if regimen.route == "iv":
        if regimen.infusion_min == 0:
            return "IV bolus"
        return f"infused over {regimen.infusion_min:g} min"
    if regimen.route == "in-esketamine":
        devices = esketamine_devices(regimen.doses[0][1])
        return f"{devices} x 28-mg device(s), {ESKETAMINE_DEVICE_INTERVAL_MIN:g} min apart"
    if regimen.route == "sublingual":
        hold = float(values["sublingual"]["hold_min"][0])
        return f"held {hold:g} min, then saliva {'swallowed' if regimen.saliva == 'swallow' else 'spat out'}"
    return ""


def _check_range(
    name: str, value: float, low: float, high: float, *, low_open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    if value < low or (low_open and value == low) or value > high:
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low:g} and <= {high:g} (got {value:g})")


def _rounded(values: FloatArray) -> list[float]:
    return [round(float(x), 4) for x in values]


def _analyte_dict(analyte: Analyte, threshold: float | None) -> dict[str, Any]:
    conc: dict[str, list[float]] = {"median": _rounded(analyte.median)}
    if analyte.p5 is not None and analyte.p95 is not None:
        conc |= {"p5": _rounded(analyte.p5), "p95": _rounded(analyte.p95)}
    result: dict[str, Any] = {
        "conc_ng_ml": conc,
        "cmax_ng_ml": round(float(np.median(analyte.cmax_ng_ml)), 4),
        "tmax_min": round(float(np.median(analyte.tmax_min)), 4),
        "auc_ng_h_ml": round(float(np.median(analyte.auc_ng_h_ml)), 4),
        "auc_inf_ng_h_ml": round(float(np.median(analyte.auc_inf_ng_h_ml)), 4),
    }
    if analyte.p5 is not None:
        result["cmax_ng_ml_p5_p95"] = [
            round(float(x), 4) for x in np.percentile(analyte.cmax_ng_ml, [5, 95])
        ]
    if threshold is not None and analyte.time_above_min is not None:
        result["threshold_ng_ml"] = threshold
        result["time_above_min"] = round(float(np.median(analyte.time_above_min)), 4)
    return result
