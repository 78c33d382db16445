"""`openkap pk simulate ...`: concentration curves from the command line;
`openkap pk validation`: the model against the published data; `openkap pk
interactions`: the documented interactions beside what the model gives."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from openkap.core.pk import validation
from openkap.core.pk.models import ROUTE_LABELS, ROUTES
from openkap.core.pk.params import DISPOSITIONS, INTERACTIONS
from openkap.core.pk.simulation import DISCLAIMER, SimulationResult, simulate

_PROG = "openkap pk"
_SUMMARY_TIMES_MIN = (5, 15, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720)


def main(argv: list[str]) -> int:
    """Run `openkap pk <command>`; return the exit code (2 for bad arguments)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed help or the error
        return int(stop.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "validation":
        return _validation(args)
    if args.command == "interactions":
        print(_interactions())
        return 0
    try:
        dose_mg, plot = _checked(args)
        result = simulate(
            route=args.route,
            dose_mg=dose_mg,
            weight_kg=args.weight_kg,
            infusion_min=args.infusion_min,
            hours=args.hours,
            population=args.population,
            seed=args.seed if args.seed is not None else 0,
            step_s=args.step_s,
            disposition=args.disposition,
            saliva=args.saliva,
            boosters=args.booster,
            threshold_ng_ml=args.threshold_ng_ml,
            interaction=args.interaction,
            norketamine=args.norketamine,
            age_years=args.age_years,
        )
    except ValueError as error:
        print(f"{_PROG} simulate: error: {error}", file=sys.stderr)
        return 2
    if plot is not None:
        from openkap.core.pk.chart import save_chart  # matplotlib only when a chart is asked for

        save_chart(result, plot)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(_summary(result, plot))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Pharmacokinetic predictions for ketamine and esketamine. " + DISCLAIMER,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sim = commands.add_parser(
        "simulate",
        help="predict the plasma concentration curve of a dose",
        description="Predict plasma concentrations after a dose. " + DISCLAIMER,
    )
    sim.add_argument("--route", required=True, choices=ROUTES)
    dose = sim.add_mutually_exclusive_group(required=True)
    dose.add_argument("--dose-mg", type=float, metavar="D", help="dose in mg")
    dose.add_argument(
        "--dose-mg-kg", type=float, metavar="X", help="dose in mg/kg (needs --weight-kg)"
    )
    sim.add_argument(
        "--weight-kg", type=float, metavar="W", help="body weight in kg (racemic routes)"
    )
    sim.add_argument(
        "--infusion-min",
        type=float,
        metavar="M",
        help="iv infusion duration (default 40; 0 = bolus)",
    )
    sim.add_argument(
        "--hours", type=float, default=6.0, metavar="H", help="simulated time (default 6)"
    )
    sim.add_argument(
        "--population",
        type=int,
        metavar="N",
        help="virtual patients with between-subject variability",
    )
    sim.add_argument(
        "--seed", type=int, metavar="S", help="random seed for --population (default 0)"
    )
    sim.add_argument(
        "--step-s", type=float, default=10.0, metavar="S", help="time step in seconds (default 10)"
    )
    sim.add_argument(
        "--disposition",
        choices=tuple(DISPOSITIONS),
        help="racemic disposition: joint (default; fitted to published data, all routes) or "
        "the published IV-only sets clements, domino",
    )
    sim.add_argument(
        "--norketamine",
        action="store_true",
        help="racemic routes: also predict norketamine (Simons 2022 model; see docs/pk.md)",
    )
    sim.add_argument(
        "--interaction",
        choices=tuple(INTERACTIONS),
        help="racemic routes: apply a documented CYP3A/2B6 interaction (openkap pk interactions)",
    )
    sim.add_argument(
        "--age-years",
        type=float,
        help="age (18-100); above 60 hepatic blood flow falls as Perez-Ruixo 2021 found "
        "for esketamine (applied to racemic ketamine as an assumption; see docs/pk.md)",
    )
    sim.add_argument(
        "--saliva",
        choices=("swallow", "spit"),
        help="sublingual: swallow or spit the saliva (default swallow)",
    )
    sim.add_argument(
        "--booster",
        type=_booster,
        action="append",
        default=[],
        metavar="MIN:MG",
        help="extra dose of the same route MG mg at MIN minutes (repeatable)",
    )
    sim.add_argument("--threshold-ng-ml", type=float, metavar="C", help="report time above C ng/mL")
    sim.add_argument("--json", action="store_true", help="print the result as JSON")
    sim.add_argument("--plot", metavar="FILE", help="write a chart (.png or .svg)")
    check = commands.add_parser(
        "validation",
        help="the model against the published data, misses with their sources side by side",
        description="Validation tables of the racemic model (typical 70-kg individual): in "
        "sample, leave one study out, norketamine. Under every miss, the published sources "
        "that disagree, side by side.",
    )
    check.add_argument(
        "--table",
        choices=("in", "loso", "nk", "all"),
        default="all",
        help="in sample, leave one study out, norketamine, or all (default)",
    )
    check.add_argument(
        "--markdown", action="store_true", help="print docs/pk-validation/README.md"
    )
    commands.add_parser(
        "interactions",
        help="the documented interactions: what each study found beside what the model gives",
        description="Each documented CYP3A/CYP2B6 interaction: the published ratios, the "
        "multipliers applied, and the model's oral ratios for a typical 70-kg adult.",
    )
    return parser


def _interactions() -> str:
    """Published ratios side by side with the model's (25 mg, typical 70 kg)."""

    def auc_and_cmax(route: str, interaction: str | None) -> tuple[float, float]:
        r = simulate(route=route, dose_mg=25, weight_kg=70, hours=12, interaction=interaction)
        return float(r.parent.auc_inf_ng_h_ml[0]), r.cmax_ng_ml

    oral, iv = auc_and_cmax("oral", None), auc_and_cmax("iv", None)
    lines = []
    for key, i in INTERACTIONS.items():
        oral_with, iv_with = auc_and_cmax("oral", key), auc_and_cmax("iv", key)
        cmax = "not read" if i.oral_cmax_ratio is None else f"x{i.oral_cmax_ratio:g}"
        iv_published = "no IV arm" if i.iv_auc_ratio is None else f"IV AUC x{i.iv_auc_ratio:g}"
        lines += [
            f"{key}: {i.label}",
            f"  published: oral AUC x{i.oral_auc_ratio:g}, oral Cmax {cmax}, {iv_published}",
            f"  applied:   clearance x{i.cl_multiplier:.4g}, swallowed F x{i.oral_f_multiplier:.4g}",
            f"  model:     oral AUC x{oral_with[0] / oral[0]:.3g}, oral Cmax "
            f"x{oral_with[1] / oral[1]:.3g}, IV AUC x{iv_with[0] / iv[0]:.3g} "
            "(25 mg, typical 70 kg)",
            f"  source:    {i.source}",
        ]
    lines.append("S-ketamine studies applied to racemic ketamine (our assumption). " + DISCLAIMER)
    return "\n".join(lines)


def _validation(args: argparse.Namespace) -> int:
    if args.markdown:
        if args.table != "all":
            print(f"{_PROG} validation: error: --markdown prints all tables", file=sys.stderr)
            return 2
        print(validation.markdown())
        return 0
    tables: tuple[validation.Table, ...] = (
        ("in", "loso", "nk") if args.table == "all" else (args.table,)
    )
    print("\n\n".join(validation.text(t) for t in tables))
    return 0


def _booster(text: str) -> tuple[float, float]:
    try:
        when, mg = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MG, got {text!r}") from None
    return when, mg


def _checked(args: argparse.Namespace) -> tuple[float, Path | None]:
    """Checks simulate() cannot make because they concern the command line itself."""
    if args.dose_mg_kg is not None:
        if args.weight_kg is None:
            raise ValueError("--dose-mg-kg needs --weight-kg")
        if not (math.isfinite(args.dose_mg_kg) and args.dose_mg_kg > 0):
            raise ValueError("--dose-mg-kg must be a positive number")
        dose_mg = float(args.dose_mg_kg * args.weight_kg)
    else:
        dose_mg = float(args.dose_mg)
    if args.seed is not None and args.population is None:
        raise ValueError("--seed needs --population")
    plot = None
    if args.plot is not None:
        plot = Path(args.plot)
        if plot.suffix.lower() not in (".png", ".svg"):
            raise ValueError("--plot file must end in .png or .svg")
        if not plot.parent.is_dir():
            raise ValueError(f"--plot directory {str(plot.parent)!r} does not exist")
    return dose_mg, plot


def _summary(result: SimulationResult, plot: Path | None) -> str:
    hours = float(result.times_min[-1]) / 60.0
    head = f"{ROUTE_LABELS[result.route]}: {result.dose_mg:g} mg"
    if result.administration:
        head += f", {result.administration}"
    if result.weight_kg is not None:
        head += f", {result.weight_kg:g} kg ({result.dose_mg / result.weight_kg:.2f} mg/kg)"
    lines = [
        head,
        f"Model: {result.model}",
        f"Source: {result.source}",
        f"Prediction: {result.prediction}",
    ]
    for analyte in result.analytes:
        cmax = f"Cmax {np.median(analyte.cmax_ng_ml):.1f} ng/mL"
        if analyte.p5 is not None:
            low, high = np.percentile(analyte.cmax_ng_ml, [5, 95])
            cmax += f" (5-95%: {low:.1f}-{high:.1f})"
        line = (
            f"{analyte.name}: {cmax} at {np.median(analyte.tmax_min):.0f} min;"
            f" AUC 0-{hours:g} h {np.median(analyte.auc_ng_h_ml):.0f} ng*h/mL"
            f" (0-inf {np.median(analyte.auc_inf_ng_h_ml):.0f})"
        )
        if analyte.time_above_min is not None:
            line += (
                f"; {np.median(analyte.time_above_min):.0f} min above"
                f" {result.threshold_ng_ml:g} ng/mL"
            )
        lines.append(line)
    label = "median" if result.n_patients is not None else "typical"
    lines.append(f"  time (min)  {result.parent.name} {label} (ng/mL)")
    for minute in _SUMMARY_TIMES_MIN:
        if minute <= result.times_min[-1]:
            value = np.interp(minute, result.times_min, result.median)
            lines.append(f"  {minute:>10}  {value:10.1f}")
    if plot is not None:
        lines.append(f"Chart: {plot}")
    lines.append(DISCLAIMER)
    return "\n".join(lines)
