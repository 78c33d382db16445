"""Joint fit of the racemic ketamine model to published data, and its validation.

One three-compartment disposition (allometric: volumes ∝ weight, clearances
∝ weight^0.75, 70 kg reference) and the absorption of each extravascular route
are estimated together from the summary data in data/observations.json by
weighted nonlinear least squares (scipy.optimize.least_squares), with weak
priors at published values so that every parameter stays defined when a study
is left out. Leave-one-study-out: each study's arms predicted by a model
fitted without it.

Offline only: `python -m openkap.core.pk.fit --write` rewrites
data/fitted.json (parameters, provenance, validation table); simulations read
that file and never fit. tests/core/pk/test_fit.py checks that re-fitting
reproduces it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from openkap.core.pk.engine import FloatArray, solve
from openkap.core.pk.models import Regimen, Values, build
from openkap.core.pk.params import IM_ABSORPTION, NORKETAMINE

DATA_DIR = Path(__file__).with_name("data")
OBSERVATIONS = DATA_DIR / "observations.json"
FITTED = DATA_DIR / "fitted.json"

WEIGHT_KG = 70.0  # the sources we could read do not give mean weights
STEP_MIN = 0.25
HORIZON_MIN = 24 * 60.0
# Error model (log scale unless said): within-study spread of a mean, plus
# between-study and transcription error that no n makes small.
BETWEEN_STUDY_SD = 0.15
DIGITISED_SD = 0.10
DEFAULT_CV = 0.30  # where a source gives a mean without spread
TMAX_FLOOR_MIN = 5.0
F_FLOOR = 0.03
PRIOR_SD = 1.0  # log (or logit) scale: weak; data dominate wherever they exist

DOMINO = "Domino 3-compartment (opentiva constants) at 70 kg"
YANAGIHARA = "Yanagihara 2003 abstract"
PEREZ_RUIXO = "Perez-Ruixo 2021 esketamine (Table 3)"


@dataclass(frozen=True)
class FitParam:
    set_key: str
    name: str
    unit: str
    prior: float
    prior_source: str
    fraction: bool = False  # estimated on the logit scale


FIT_PARAMS: tuple[FitParam, ...] = (
    FitParam("joint", "cl", "L/min", 0.4381 * 4.41, DOMINO + ": k10 x V1"),
    FitParam("joint", "v1", "L", 0.063 * 70, DOMINO),
    FitParam("joint", "q2", "L/min", 0.5921 * 4.41, DOMINO + ": k12 x V1"),
    FitParam("joint", "v2", "L", 0.151 * 70, DOMINO),
    FitParam("joint", "q3", "L/min", 0.5900 * 4.41, DOMINO + ": k13 x V1"),
    FitParam("joint", "v3", "L", 2.545 * 70, DOMINO),
    FitParam(
        "im",
        "ka",
        "1/min",
        0.025674,
        "previous calibration: Tmax 10 min (IM 5-15 min) with the earlier disposition",
    ),
    FitParam("in-racemic", "f", "-", 0.45, YANAGIHARA + ": nasal F ~45 %", fraction=True),
    FitParam("in-racemic", "ka", "1/min", 2.93 / 60, PEREZ_RUIXO + ": nasal ka_n 2.93/h"),
    FitParam("in-racemic", "lag_min", "min", 2.0, "assumption: spray to first absorption"),
    FitParam("oral", "f", "-", 0.20, YANAGIHARA + ": oral F ~20 %", fraction=True),
    FitParam("oral", "ka", "1/min", 0.97 / 60, PEREZ_RUIXO + ": oral ka_po 0.97/h"),
    FitParam("oral", "lag_min", "min", 10.0, "order of Perez-Ruixo's oral release time (0.32 h)"),
    FitParam("oral", "release_min", "min", 0.32 * 60, PEREZ_RUIXO + ": oral release time 0.32 h"),
    FitParam(
        "sublingual",
        "mucosal_fraction",
        "-",
        (0.30 - 0.20) / 0.80,
        YANAGIHARA + ": sublingual F ~30 % with oral ~20 %",
        fraction=True,
    ),
    FitParam("sublingual", "ka_mucosal", "1/min", 0.024, "previous calibration (Tmax 45 min)"),
)
FIXED: dict[str, dict[str, float]] = {
    "racemic-iiv": {"cl_factor": 1.0, "v_factor": 1.0},
    "sublingual": {"hold_min": 10.0},
    "im": {"f": IM_ABSORPTION.params["f"].value},
}
ROUTE_SETS = {
    "iv": (),
    "im": ("im",),
    "in-racemic": ("in-racemic",),
    "oral": ("oral",),
    "sublingual": ("sublingual", "oral"),
}


def load_observations(path: Path = OBSERVATIONS) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def data_digest(path: Path = OBSERVATIONS) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _to_internal(p: FitParam, value: float) -> float:
    return math.log(value / (1 - value)) if p.fraction else math.log(value)


def _from_internal(p: FitParam, x: float) -> float:
    return 1 / (1 + math.exp(-x)) if p.fraction else math.exp(x)


def values_of(theta: Sequence[float], norketamine: bool = False) -> Values:
    """Model values (typical individual) for parameter values in FIT_PARAMS order;
    with norketamine, the published metabolite model (nothing of it is fitted)."""
    values: Values = {k: {n: np.array([v]) for n, v in d.items()} for k, d in FIXED.items()}
    for p, v in zip(FIT_PARAMS, theta, strict=True):
        values.setdefault(p.set_key, {})[p.name] = np.array([v])
    if norketamine:
        values["norketamine"] = {n: np.array([p.value]) for n, p in NORKETAMINE.params.items()}
    return values


def arm_dose(arm: dict[str, Any]) -> float:
    return float(arm.get("dose_mg") or arm["dose_mg_kg"] * WEIGHT_KG)


def bioavailability(route: str, v: Values) -> float:
    if route == "iv":
        return 1.0
    if route == "sublingual":
        fm = float(v["sublingual"]["mucosal_fraction"][0])
        return fm + (1 - fm) * float(v["oral"]["f"][0])
    return float(v[route]["f"][0])


@dataclass(frozen=True)
class Curve:
    times: FloatArray
    conc: FloatArray
    auc_inf: float  # ng*h/mL

    def cmax_tmax(self) -> tuple[float, float]:
        """Peak with a parabola through the top three grid points (smooth in the parameters)."""
        i = int(np.argmax(self.conc))
        if 0 < i < len(self.conc) - 1:
            y0, y1, y2 = self.conc[i - 1 : i + 2]
            denom = y0 - 2 * y1 + y2
            if denom < 0:
                shift = 0.5 * (y0 - y2) / denom
                return float(y1 - 0.25 * (y0 - y2) * shift), float(self.times[i] + shift * STEP_MIN)
        return float(self.conc[i]), float(self.times[i])

    def at(self, t_min: float) -> float:
        return float(np.interp(t_min, self.times, self.conc))

    def auc_to(self, t_min: float) -> float:
        mask = self.times <= t_min
        return float(np.trapezoid(self.conc[mask], self.times[mask])) / 60.0


def simulate_arm(arm: dict[str, Any], theta: Sequence[float], norketamine: bool = False) -> Curve:
    """The ketamine curve, or the norketamine curve."""
    regimen = Regimen(
        route=arm["route"],
        doses=((0.0, arm_dose(arm)),),
        weight_kg=WEIGHT_KG,
        infusion_min=float(arm.get("infusion_min", 0.0)),
        disposition="joint",
        norketamine=norketamine,
    )
    built = build(regimen, values_of(theta, norketamine))
    sol = solve(built.model, built.inputs, step_min=STEP_MIN, n_steps=round(HORIZON_MIN / STEP_MIN))
    assert sol.conc is not None
    o = 1 if norketamine else 0
    return Curve(sol.times_min, sol.conc[o].reshape(-1), float(sol.auc_inf[o, 0]) / 60.0)


def predict(
    obs: dict[str, Any], arm: dict[str, Any], curve: Curve, theta: Sequence[float]
) -> float:
    kind = obs["kind"]
    if kind == "conc":
        return curve.at(obs["t_min"])
    if kind == "cmax":
        return curve.cmax_tmax()[0]
    if kind == "tmax":
        return curve.cmax_tmax()[1]
    if kind == "auc":
        return curve.auc_inf
    if kind == "auc8":
        return curve.auc_to(480.0)
    if kind == "cl":
        return float(values_of(theta)["joint"]["cl"][0])
    if kind == "f":
        return bioavailability(arm["route"], values_of(theta))
    raise ValueError(f"unknown observation kind {kind!r}")


def _sigma(obs: dict[str, Any]) -> float:
    n = obs.get("n", 1)
    kind = obs["kind"]
    if kind == "tmax":
        sd = obs.get("sd", 0.5 * obs["value"])
        return math.sqrt(sd * sd / n + TMAX_FLOOR_MIN**2)
    if kind == "f":
        sd = obs.get("sd", 0.3 * obs["value"])
        return math.sqrt(sd * sd / n + F_FLOOR**2)
    if "gsd" in obs:
        within = math.log(obs["gsd"])
    else:
        cv = obs["sd"] / obs["value"] if "sd" in obs else DEFAULT_CV
        within = math.sqrt(math.log1p(cv * cv))
    extra = DIGITISED_SD if obs.get("digitised") else 0.0
    return math.sqrt(within * within / n + BETWEEN_STUDY_SD**2 + extra * extra)


def residual(obs: dict[str, Any], predicted: float) -> float:
    if obs["kind"] in ("tmax", "f"):
        return (predicted - float(obs["value"])) / _sigma(obs)
    return (math.log(max(predicted, 1e-12)) - math.log(obs["value"])) / _sigma(obs)


def _fitted_arms(data: dict[str, Any], exclude: str | None) -> list[dict[str, Any]]:
    return [a for a in data["arms"] if a["study"] != exclude and a["route"] in ROUTE_SETS]


def _parent(arm: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in arm["observations"] if o.get("analyte", "ketamine") == "ketamine"]


def residuals(x: FloatArray, arms: list[dict[str, Any]], with_prior: bool = True) -> FloatArray:
    theta = [_from_internal(p, xi) for p, xi in zip(FIT_PARAMS, x, strict=True)]
    out = []
    for arm in arms:
        curve = simulate_arm(arm, theta)
        out += [residual(o, predict(o, arm, curve, theta)) for o in _parent(arm)]
    if with_prior:
        out += [
            (xi - _to_internal(p, p.prior)) / PRIOR_SD for p, xi in zip(FIT_PARAMS, x, strict=True)
        ]
    return np.array(out)


_TOL: dict[str, Any] = {"xtol": 1e-12, "ftol": 1e-12, "gtol": 1e-12, "max_nfev": 2000}


def fit(
    data: dict[str, Any], exclude: str | None = None, start: Sequence[float] | None = None
) -> list[float]:
    """Typical values in FIT_PARAMS order, fitted to every study but `exclude`."""
    arms = _fitted_arms(data, exclude)
    x0 = [
        _to_internal(p, v)
        for p, v in zip(FIT_PARAMS, start or [p.prior for p in FIT_PARAMS], strict=True)
    ]
    # Tight tolerances: held-out fits have flat directions (what only the left-out
    # study determined); stopping early would leave the result path-dependent.
    result = least_squares(residuals, x0, args=(arms,), method="trf", diff_step=1e-4, **_TOL)
    return [_from_internal(p, xi) for p, xi in zip(FIT_PARAMS, result.x, strict=True)]


def provenance(data: dict[str, Any], theta: Sequence[float]) -> dict[str, list[str]]:
    """Studies whose observations move each parameter (non-zero sensitivity at the optimum)."""
    x = np.array([_to_internal(p, v) for p, v in zip(FIT_PARAMS, theta, strict=True)])
    studies: dict[str, list[str]] = {f"{p.set_key}.{p.name}": [] for p in FIT_PARAMS}
    for arm in _fitted_arms(data, None):
        base = residuals(x, [arm], with_prior=False)
        for j, p in enumerate(FIT_PARAMS):
            dx = x.copy()
            dx[j] += 1e-4
            moved = np.abs(residuals(dx, [arm], with_prior=False) - base).max() / 1e-4
            key = f"{p.set_key}.{p.name}"
            if moved > 1e-3 and arm["study"] not in studies[key]:
                studies[key].append(arm["study"])
    return studies


@dataclass(frozen=True)
class Row:
    """One arm predicted by a model fitted without its study."""

    study: str
    arm: str
    route: str
    dose: str
    metric: str  # "Cmax", "C(2 min)", "Tmax", "AUC0-inf", "AUC0-8h"
    observed: float
    predicted: float
    where: str

    @property
    def ratio(self) -> float:
        return self.predicted / self.observed

    @property
    def ok(self) -> bool:
        if self.metric.endswith("Tmax"):
            return abs(self.predicted - self.observed) <= 15.0
        return 0.75 <= self.ratio <= 1.33

    def as_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "arm": self.arm,
            "route": self.route,
            "dose": self.dose,
            "metric": self.metric,
            "observed": round(self.observed, 4),
            "predicted": round(self.predicted, 4),
            "ok": self.ok,
            "where": self.where,
        }


_METRIC = {"cmax": "Cmax", "tmax": "Tmax", "auc": "AUC0-inf", "auc8": "AUC0-8h"}


def _metabolite(arm: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in arm["observations"] if o.get("analyte") == "norketamine"]


def nk_rows_for(arm: dict[str, Any], theta: Sequence[float]) -> list[Row]:
    """Norketamine predicted (published metabolite model on the fitted parent)."""
    if not _metabolite(arm):
        return []
    curve = simulate_arm(arm, theta, norketamine=True)
    return [
        Row(
            arm["study"],
            arm["id"],
            arm["route"],
            _dose(arm),
            "NK " + _METRIC[o["kind"]],
            float(o["value"]),
            predict(o, arm, curve, theta),
            o["where"],
        )
        for o in _metabolite(arm)
    ]


def _dose(arm: dict[str, Any]) -> str:
    return f"{arm['dose_mg']:g} mg" if "dose_mg" in arm else f"{arm['dose_mg_kg']:g} mg/kg (70 kg)"


def rows_for(arm: dict[str, Any], theta: Sequence[float]) -> list[Row]:
    curve = simulate_arm(arm, theta)
    dose = _dose(arm)
    rows = []
    for o in _parent(arm):
        if o.get("digitised"):
            continue  # digitised decay curves are fitted and drawn, not tabulated
        if o["kind"] not in _METRIC and o["kind"] != "conc":
            continue
        metric = f"C({o['t_min']:g} min)" if o["kind"] == "conc" else _METRIC[o["kind"]]
        rows.append(
            Row(
                arm["study"],
                arm["id"],
                arm["route"],
                dose,
                metric,
                float(o["value"]),
                predict(o, arm, curve, theta),
                o["where"],
            )
        )
    return rows


def leave_one_study_out(data: dict[str, Any]) -> tuple[list[Row], dict[str, list[float]]]:
    rows: list[Row] = []
    thetas: dict[str, list[float]] = {}
    for study in data["studies"]:
        theta = fit(data, exclude=study)  # from the priors, as a fit without it would
        thetas[study] = [float(f"{v:.6g}") for v in theta]
        for arm in data["arms"]:
            if arm["study"] == study and arm["route"] in ROUTE_SETS:
                rows += rows_for(arm, theta)
    return rows, thetas


def run(write: bool) -> dict[str, Any]:
    data = load_observations()
    theta = fit(data)
    theta = fit(data, start=theta)  # restart at the optimum: converged, not stopped early
    x = [_to_internal(p, v) for p, v in zip(FIT_PARAMS, theta, strict=True)]
    cost = 0.5 * float(np.sum(residuals(np.array(x), _fitted_arms(data, None)) ** 2))
    prov = provenance(data, theta)
    loso, loso_thetas = leave_one_study_out(data)
    result = {
        "about": "Written by `python -m openkap.core.pk.fit --write`; do not edit by hand.",
        "data_sha256": data_digest(),
        "weight_kg": WEIGHT_KG,
        "cost": round(cost, 6),
        "parameters": {
            f"{p.set_key}.{p.name}": {
                "value": float(f"{v:.6g}"),
                "unit": p.unit,
                "prior": p.prior,
                "prior_source": p.prior_source,
                "fitted_to": prov[f"{p.set_key}.{p.name}"],
            }
            for p, v in zip(FIT_PARAMS, theta, strict=True)
        },
        "in_sample": [
            r.as_dict() for arm in _fitted_arms(data, None) for r in rows_for(arm, theta)
        ],
        "norketamine_predicted": [
            r.as_dict() for arm in _fitted_arms(data, None) for r in nk_rows_for(arm, theta)
        ],
        "leave_one_study_out": [r.as_dict() for r in loso],
        "leave_one_study_out_parameters": loso_thetas,
    }
    if write:
        FITTED.write_text(json.dumps(result, indent=1) + "\n")
    return result


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'study':<14}{'route':<12}{'dose':<22}{'metric':<11}{'observed':>9}{'model':>9}"
        f"{'ratio/diff':>11}  ok",
    ]
    for r in rows:
        diff = (
            f"{r['predicted'] - r['observed']:+.1f} min"
            if r["metric"].endswith("Tmax")
            else f"{r['predicted'] / r['observed']:.2f}"
        )
        lines.append(
            f"{r['study']:<14}{r['route']:<12}{r['dose']:<22}{r['metric']:<11}"
            f"{r['observed']:>9.4g}{r['predicted']:>9.4g}{diff:>11}  {'ok' if r['ok'] else 'MISS'}"
        )
    return "\n".join(lines)


_ROUTE_TITLES = {
    "iv": "IV (bolus and infusion)",
    "im": "IM racemic ketamine",
    "in-racemic": "Intranasal racemic ketamine",
    "sublingual": "Sublingual racemic ketamine",
    "oral": "Oral racemic ketamine",
}


def plot_overlays(out_dir: Path, stored: dict[str, Any] | None = None) -> list[Path]:
    """One PNG per route: published points against the fitted and the held-out model."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = load_observations()
    stored = stored or json.loads(FITTED.read_text())
    full = [stored["parameters"][f"{p.set_key}.{p.name}"]["value"] for p in FIT_PARAMS]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    colours = ["#1f5fa8", "#b35806", "#1b7837", "#762a83", "#c51b7d", "#4d4d4d"]
    for route, title in _ROUTE_TITLES.items():
        arms = [a for a in data["arms"] if a["route"] == route]
        fig = Figure(figsize=(10, 6), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        # IV: the first hour (bolus peak, infusions) beside the 24-h decay.
        windows = {"iv": [60.0, 24 * 60.0], "im": [2 * 60.0]}.get(route, [8 * 60.0])
        axes = fig.subplots(1, len(windows), squeeze=False)[0]
        for ax, horizon in zip(axes, windows, strict=True):
            for arm, colour in zip(arms, colours, strict=False):
                held_out = stored["leave_one_study_out_parameters"][arm["study"]]
                fitted = simulate_arm(arm, full)
                loso = simulate_arm(arm, held_out)
                keep = fitted.times <= horizon
                label = f"{arm['study']} {_dose_label(arm)}"
                ax.plot(
                    fitted.times[keep],
                    fitted.conc[keep],
                    "-",
                    color=colour,
                    lw=2,
                    label=f"{label}: joint fit",
                )
                ax.plot(
                    loso.times[keep],
                    loso.conc[keep],
                    ":",
                    color=colour,
                    lw=1.5,
                    label=f"{label}: fitted without {arm['study']}",
                )
                _plot_points(ax, arm, colour, horizon)
            ax.set_xlabel("time after the start of dosing (min)")
            if route == "iv":
                ax.set_yscale("log")
                ax.set_ylim(0.1, 2000)
            ax.set_xlim(0, horizon)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("plasma ketamine (S+R), ng/mL")
        axes[-1].legend(fontsize=7, loc="upper right")
        fig.suptitle(
            f"{title}: published means vs model (typical 70 kg)\n"
            "diamonds: Cmax at Tmax; circles: concentrations (squares: digitised); bars: 1 SD;\n"
            "dashed: Cmax without a reported Tmax. Data and sources: core/pk/data/observations.json",
            fontsize=9,
        )
        path = out_dir / f"{route}.png"
        fig.savefig(path)
        written.append(path)
    return written


def _dose_label(arm: dict[str, Any]) -> str:
    dose = f"{arm['dose_mg']:g} mg" if "dose_mg" in arm else f"{arm['dose_mg_kg']:g} mg/kg"
    if arm["route"] == "iv":
        minutes = arm.get("infusion_min", 0)
        dose += f" over {minutes:g} min" if minutes > 1 else " push"
    return dose


def _spread(obs: dict[str, Any]) -> tuple[float, float]:
    """Error bar below and above the mean: one SD, or the geometric SD band."""
    if "gsd" in obs:
        return obs["value"] - obs["value"] / obs["gsd"], obs["value"] * obs["gsd"] - obs["value"]
    sd = obs.get("sd", 0.0)
    return min(sd, obs["value"]), sd


def _plot_points(ax: Any, arm: dict[str, Any], colour: str, horizon: float) -> None:
    parent = _parent(arm)
    tmax = next((o for o in parent if o["kind"] == "tmax"), None)
    for o in parent:
        if o["kind"] == "conc" and o["t_min"] <= horizon:
            low, high = _spread(o)
            marker = "s" if o.get("digitised") else "o"
            ax.errorbar(
                o["t_min"],
                o["value"],
                yerr=[[low], [high]],
                fmt=marker,
                color=colour,
                ms=6,
                capsize=3,
            )
        elif o["kind"] == "cmax":
            low, high = _spread(o)
            if tmax is None:
                ax.axhline(o["value"], color=colour, ls="--", lw=1)
                continue
            xerr = tmax.get("sd")
            ax.errorbar(
                tmax["value"],
                o["value"],
                yerr=[[low], [high]],
                xerr=None if xerr is None else [[min(xerr, tmax["value"])], [xerr]],
                fmt="D",
                color=colour,
                ms=7,
                capsize=3,
            )
        elif o["kind"] == "tmax" and not any(x["kind"] == "cmax" for x in parent):
            ax.axvline(o["value"], color=colour, ls="--", lw=1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite data/fitted.json")
    parser.add_argument("--plots", type=Path, help="write one overlay PNG per route here")
    args = parser.parse_args(argv)
    result = run(args.write)
    if args.plots:
        for path in plot_overlays(args.plots, result):
            print(f"wrote {path}")
    for key, p in result["parameters"].items():
        print(f"{key:<30}{p['value']:>12.5g} {p['unit']:<6} fitted to {', '.join(p['fitted_to'])}")
    print("\nIn sample:\n" + format_rows(result["in_sample"]))
    print("\nNorketamine, predicted:\n" + format_rows(result["norketamine_predicted"]))
    print("\nLeave one study out:\n" + format_rows(result["leave_one_study_out"]))


if __name__ == "__main__":
    main()
