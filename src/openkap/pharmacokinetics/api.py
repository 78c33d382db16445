"""Predicted concentration curves as numbers: one route, or several at the same dose.

Populations and horizons are bounded (300 virtual patients, 24 h) so that every
call stays fast; curves are thinned to at most 400 points (Cmax, Tmax and AUC
come from the full grid).
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict

import numpy as np
import numpy.typing as npt
from django.core.exceptions import ValidationError
from ninja import Router, Schema
from pydantic import Field, field_validator

from openkap.accounts.authz import require
from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut
from openkap.core.authz import Perm
from openkap.core.pk import DISCLAIMER, SimulationResult
from openkap.pharmacokinetics import predictions
from openkap.pharmacokinetics.explain import SHORT_LABELS, route_facts

router = Router(tags=["pharmacokinetics"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
MAX_POINTS = 400

PkRouteName = Literal["iv", "im", "in-racemic", "in-esketamine", "sublingual", "oral"]
InteractionName = Literal[
    "clarithromycin", "rifampicin", "ticlopidine", "itraconazole", "grapefruit-juice", "st-johns-wort"
]


class _DoseIn(Schema):
    dose_mg: float = Field(
        gt=0, le=predictions.DOSE_MG_MAX,
        description="mg given at time 0; intranasal esketamine in whole 28-mg devices",
    )
    weight_kg: float | None = Field(
        None, ge=predictions.WEIGHT_KG_RANGE[0], le=predictions.WEIGHT_KG_RANGE[1],
        description="Required for racemic ketamine routes (models scale with weight); ignored for esketamine",
    )
    infusion_min: float | None = Field(
        None, ge=0, le=predictions.INFUSION_MIN_MAX,
        description="IV only: infusion time (0 = bolus; default 40)",
    )
    hours: float = Field(
        predictions.DEFAULT_HOURS, ge=predictions.HOURS_RANGE[0], le=predictions.HOURS_RANGE[1]
    )
    population: int | None = Field(
        predictions.POPULATION, ge=1, le=predictions.MAX_POPULATION,
        description="Virtual patients; null for the typical individual (no band)",
    )
    seed: int = Field(predictions.SEED, ge=0, le=2**32 - 1)
    interaction: InteractionName | None = Field(
        None,
        description="Racemic routes: a documented CYP3A/2B6 interaction (AUC ratios from "
        "published studies with S-ketamine; see docs/pk.md); ignored for esketamine",
    )
    age_years: float | None = Field(
        None, ge=predictions.AGE_RANGE_YEARS[0], le=predictions.AGE_RANGE_YEARS[1],
        description="Above 60, hepatic blood flow falls 2.19 L/h per year (Perez-Ruixo 2021, "
        "esketamine; applied to racemic ketamine as an assumption, see docs/pk.md); "
        "up to 60 it changes nothing",
    )


class SimulateIn(_DoseIn):
    route: PkRouteName
    norketamine: bool = Field(
        False,
        description="Racemic routes: also predict norketamine (Simons 2022 published "
        "S-ketamine metabolite model; see docs/pk.md for where it misses)",
    )


class MetaboliteOut(Schema):
    name: str
    median: list[float] = Field(description="ng/mL, at times_min")
    cmax_ng_ml: float
    tmax_min: float
    auc_ng_h_ml: float


class CompareIn(_DoseIn):
    routes: list[PkRouteName] = Field(min_length=1, max_length=6)

    @field_validator("routes")
    @classmethod
    def _each_once(cls, routes: list[str]) -> list[str]:
        if len(set(routes)) != len(routes):
            raise ValueError("list each route once")
        return routes


class CurveOut(Schema):
    route: str
    route_label: str
    dose_mg: float
    weight_kg: float | None
    administration: str
    bioavailability: float = Field(description="F: fraction of the dose reaching the circulation (typical individual)")
    bioavailability_basis: str
    model: str
    source: str
    interaction: str | None = Field(description="Interaction applied, if any")
    age_years: float | None = Field(description="Age applied (only ages above 60 change the curve)")
    prediction: str
    disclaimer: str
    n_patients: int | None
    seed: int | None
    times_min: list[float]
    median: list[float] = Field(description="ng/mL")
    p5: list[float] | None = Field(description="ng/mL; null without a population")
    p95: list[float] | None
    cmax_ng_ml: float = Field(description="Median of individual Cmax, full time grid")
    tmax_min: float
    auc_ng_h_ml: float = Field(description="Median of individual AUC from 0 to the horizon")
    metabolites: list[MetaboliteOut] = Field(
        description="Noresketamine for esketamine; norketamine for racemic routes on request"
    )


class CompareOut(Schema):
    curves: list[CurveOut]
    explanation: list[str] = Field(description="Why the routes differ, from the parameters used")
    disclaimer: str


class _Inputs(TypedDict):
    dose_mg: float
    weight_kg: float | None
    infusion_min: float | None
    hours: float
    population: int | None
    seed: int
    interaction: str | None
    age_years: float | None


def _inputs(payload: _DoseIn) -> _Inputs:
    return {
        "dose_mg": payload.dose_mg,
        "weight_kg": payload.weight_kg,
        "infusion_min": payload.infusion_min,
        "hours": payload.hours,
        "population": payload.population,
        "seed": payload.seed,
        "interaction": payload.interaction,
        "age_years": payload.age_years,
    }


def _curve(result: SimulationResult) -> CurveOut:
    keep = _thinned(len(result.times_min))
    facts = route_facts(result)

    def values(series: npt.NDArray[np.float64] | None) -> list[float] | None:
        return None if series is None else [round(float(x), 4) for x in series[keep]]

    return CurveOut(
        route=result.route,
        route_label=SHORT_LABELS[result.route],
        dose_mg=result.dose_mg,
        weight_kg=result.weight_kg,
        administration=result.administration,
        bioavailability=round(facts.bioavailability, 6),
        bioavailability_basis=facts.bioavailability_basis,
        model=result.model,
        source=result.source,
        interaction=result.interaction,
        age_years=result.age_years,
        prediction=result.prediction,
        disclaimer=DISCLAIMER,
        n_patients=result.n_patients,
        seed=result.seed,
        times_min=[round(float(t), 4) for t in result.times_min[keep]],
        median=values(result.median) or [],
        p5=values(result.p5),
        p95=values(result.p95),
        cmax_ng_ml=round(result.cmax_ng_ml, 4),
        tmax_min=round(result.tmax_min, 4),
        auc_ng_h_ml=round(result.auc_ng_h_ml, 4),
        metabolites=[
            MetaboliteOut(
                name=m.name,
                median=values(m.median) or [],
                cmax_ng_ml=round(float(np.median(m.cmax_ng_ml)), 4),
                tmax_min=round(float(np.median(m.tmax_min)), 4),
                auc_ng_h_ml=round(float(np.median(m.auc_ng_h_ml)), 4),
            )
            for m in result.analytes[1:]
        ],
    )


def _thinned(n_points: int) -> slice:
    """Every k-th point, so that at most MAX_POINTS remain."""
    stride = max(1, math.ceil((n_points - 1) / (MAX_POINTS - 1)))
    return slice(0, n_points, stride)


@router.post(
    "/simulate",
    response={200: CurveOut, **ERRORS},
    summary="Predicted concentration curve of one route",
    description=(
        "Median and 5th-95th percentile plasma concentration for a dose, with Cmax, Tmax and "
        "AUC, the model and its source. A population prediction, not a dosing instruction. "
        "422: values outside the model's range, a racemic route without weight_kg, an "
        "esketamine dose that is not whole 28-mg devices, infusion_min on another route."
    ),
)
def simulate_route(request: ApiRequest, payload: SimulateIn) -> CurveOut:
    require(request.auth, Perm.PK_VIEW)
    if payload.infusion_min is not None and payload.route != "iv":
        raise ValidationError({"infusion_min": "Infusion time applies to the IV route only."})
    if payload.norketamine and payload.route == "in-esketamine":
        raise ValidationError({"norketamine": "Norketamine applies to racemic ketamine routes."})
    key = predictions.curve_key(
        route=payload.route, norketamine=payload.norketamine, **_inputs(payload)
    )
    return _curve(predictions.simulation(key))


@router.post(
    "/compare",
    response={200: CompareOut, **ERRORS},
    summary="Several routes at the same dose, with why they differ",
    description=(
        "One curve per route (same dose_mg), and a plain-language explanation built from "
        "the parameters used (bioavailability, absorption, first pass). 422 as for "
        "/simulate, per route; infusion_min applies to the IV curve only."
    ),
)
def compare_routes(request: ApiRequest, payload: CompareIn) -> CompareOut:
    require(request.auth, Perm.PK_VIEW)
    comparison = predictions.compare_routes(routes=payload.routes, **_inputs(payload))
    explanation = comparison.explanation
    return CompareOut(
        curves=[_curve(r) for r in comparison.results],
        explanation=[
            explanation.lead,
            *(f"{f.label}: {f.text}" for f in explanation.routes),
            *explanation.comparisons,
            *explanation.notes,
        ],
        disclaimer=DISCLAIMER,
    )
