"""Predicted curves in the product: cached simulations and their charts.

One place checks the inputs (bad input raises ``ValidationError({field: message})``,
as a service does) and caches the work: simulations and charts are kept per
process with ``functools.lru_cache``, keyed on the inputs rounded to what a
clinician can tell apart (0.1 mg, 0.1 kg, whole minutes, 0.1 h); a curve with its
chart is also kept in the shared curve cache (on disk, across processes and
restarts), so a plan or order's curve is computed once, not once per worker. A
population of 300 virtual patients (seed 0) makes every page reproducible and fast.

No patient data is read here: callers pass numbers (and a treatment plan's
protocol id and weight they have already read through their own audited selector).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from django.core.cache import caches
from django.core.exceptions import ValidationError

from openkap.core.dosing.order import order_dose
from openkap.core.dosing.results import DoseOrder, Weight
from openkap.core.pk import ROUTES, SimulationResult, pk_route, simulate
from openkap.core.pk.chart import render_chart
from openkap.core.pk.overlay import DissociationScore, VitalsReading, render_overlay
from openkap.core.pk.params import (
    AGE_EFFECT_FROM_YEARS,
    AGE_RANGE_YEARS,
    INTERACTIONS,
    interactions_named_in,
)
from openkap.core.protocols import ProtocolError, example_ids, load_example
from openkap.pharmacokinetics.charts import inline_svg, render_comparison
from openkap.pharmacokinetics.explain import (
    SHORT_LABELS,
    Explanation,
    RouteFacts,
    explain,
    route_facts,
)

logger = logging.getLogger(__name__)

POPULATION = 300
SEED = 0
MAX_POPULATION = 300
DOSE_MG_MAX = 1000.0
WEIGHT_KG_RANGE = (30.0, 250.0)
INFUSION_MIN_MAX = 240.0
HOURS_RANGE = (0.5, 24.0)
DEFAULT_HOURS = 6.0
_MAX_STEPS = 720  # time points per curve, whatever the horizon


@dataclass(frozen=True)
class CurveKey:
    """Rounded inputs of one simulation: the cache key."""

    route: str
    dose_mg: float
    weight_kg: float | None
    infusion_min: float | None
    hours: float
    population: int | None
    seed: int
    interaction: str | None = None
    norketamine: bool = False
    age_years: int | None = None  # only ages that change the curve (above 60)


@dataclass(frozen=True, eq=False)
class Prediction:
    """One route's predicted curve, what sets it apart, and its chart as inline SVG."""

    result: SimulationResult
    facts: RouteFacts
    svg: str


@dataclass(frozen=True, eq=False)
class Comparison:
    results: tuple[SimulationResult, ...]
    explanation: Explanation
    svg: str

    @property
    def rows(self) -> list[tuple[SimulationResult, RouteFacts]]:
        return list(zip(self.results, self.explanation.routes, strict=True))


@dataclass(frozen=True, eq=False)
class PlanPrediction:
    """The curve for a treatment plan: the protocol's first-session dose for a weight."""

    prediction: Prediction | None
    order: DoseOrder | None
    problem: str  # why there is no curve, in plain words
    interaction_note: str = ""  # what the medication list changed (medication_interaction)


def step_seconds(hours: float) -> float:
    """Grid step: whole tens of seconds, at most 720 steps (6 h: 30 s, 24 h: 120 s)."""
    return float(max(10, math.ceil(hours * 3600.0 / _MAX_STEPS / 10.0) * 10))


def simulator_route(route: str) -> str:
    """The simulator's route from either vocabulary ("im" or "intramuscular")."""
    if route in ROUTES:
        return route
    try:
        return pk_route(route)
    except ValueError:
        raise ValidationError({"route": f"Unknown route {route!r}."}) from None


def curve_key(
    *,
    route: str,
    dose_mg: float | Decimal | None,  # None is refused with a message (curve_key)
    weight_kg: float | Decimal | None = None,
    infusion_min: float | Decimal | None = None,
    hours: float | Decimal = DEFAULT_HOURS,
    population: int | None = POPULATION,
    seed: int = SEED,
    interaction: str | None = None,
    norketamine: bool = False,
    age_years: float | Decimal | None = None,
) -> CurveKey:
    """Check and round the inputs. Weight and infusion time are dropped where the
    route's model does not use them, so equal curves share one cache entry."""
    route = simulator_route(route)
    errors: dict[str, str] = {}
    dose = _number(dose_mg, "dose_mg", 0.0, DOSE_MG_MAX, "mg", errors, low_open=True)
    weight = _number(weight_kg, "weight_kg", *WEIGHT_KG_RANGE, "kg", errors)
    infusion = _number(infusion_min, "infusion_min", 0.0, INFUSION_MIN_MAX, "min", errors)
    span = _number(hours, "hours", *HOURS_RANGE, "h", errors)
    age = _number(age_years, "age_years", *AGE_RANGE_YEARS, "years", errors)
    if dose_mg is None or (dose is not None and round(dose, 1) == 0):
        errors["dose_mg"] = "Enter a dose of at least 0.1 mg."
    if interaction is not None and interaction not in INTERACTIONS:
        errors["interaction"] = "Choose one of the documented interactions, or none."
    if population is not None and not 1 <= population <= MAX_POPULATION:
        errors["population"] = f"Choose between 1 and {MAX_POPULATION} virtual patients."
    if errors:
        raise ValidationError(errors)
    if route == "in-esketamine":
        weight = None  # the esketamine model has no weight covariate
    elif weight is None:
        raise ValidationError({"weight_kg": "Enter the weight: racemic ketamine models scale with weight."})
    return CurveKey(
        route=route,
        dose_mg=round(dose, 1) if dose is not None else 0.0,
        weight_kg=None if weight is None else round(weight, 1),
        infusion_min=float(round(infusion)) if route == "iv" and infusion is not None else None,
        hours=round(span, 1) if span is not None else DEFAULT_HOURS,
        population=population,
        seed=seed,
        interaction=None if route == "in-esketamine" else interaction,
        norketamine=norketamine and route != "in-esketamine",
        # Up to 60 years age changes nothing, so those curves share the entry without age.
        age_years=round(age) if age is not None and round(age) > AGE_EFFECT_FROM_YEARS else None,
    )


@lru_cache(maxsize=256)
def simulation(key: CurveKey) -> SimulationResult:
    """The simulation for a checked key; the same key returns the same object."""
    try:
        return simulate(
            route=key.route,
            dose_mg=key.dose_mg,
            weight_kg=key.weight_kg,
            infusion_min=key.infusion_min,
            hours=key.hours,
            population=key.population,
            seed=key.seed,
            step_s=step_seconds(key.hours),
            interaction=key.interaction,
            norketamine=key.norketamine,
            age_years=key.age_years,
        )
    except ValueError as exc:
        raise _as_validation_error(key.route, exc) from None


def predicted_curve(
    *,
    route: str,
    dose_mg: float | Decimal | None,  # None is refused with a message (curve_key)
    weight_kg: float | Decimal | None = None,
    infusion_min: float | Decimal | None = None,
    hours: float | Decimal = DEFAULT_HOURS,
    age_years: int | None = None,
    interaction: str | None = None,
) -> Prediction:
    """The predicted curve with its population band for a planned dose (cached)."""
    return _prediction(
        curve_key(
            route=route, dose_mg=dose_mg, weight_kg=weight_kg, infusion_min=infusion_min,
            hours=hours, age_years=age_years, interaction=interaction,
        )
    )


@dataclass(frozen=True)
class MedicationInteraction:
    """What a medication list means for a curve: the interaction drawn, and why, in words."""

    key: str | None  # applied to racemic routes; None: none found, or several
    note: str


def medication_interaction(medications: str, route: str) -> MedicationInteraction:
    """The documented interaction a patient's medication list names, if exactly one does.

    The list is free text: the matching lines are quoted so the clinician sees what was
    read (a stopped medicine is matched too). Several are not combined: each study
    measured one medicine alone. Esketamine's published model has no interaction data,
    and a medicine studied by mouth only changes no injected or nasal curve.
    """
    found = interactions_named_in(medications)
    if not found:
        return MedicationInteraction(None, "")
    lines = [line.strip() for line in medications.splitlines() if interactions_named_in(line)]
    quoted = "; ".join(f"\u201c{line}\u201d" for line in lines)
    labels = ", ".join(INTERACTIONS[k].label for k in found)
    if simulator_route(route) == "in-esketamine":
        return MedicationInteraction(None, (
            f"The medication list names {labels} ({quoted}); the esketamine model has no "
            "interaction data, so the curve is drawn without it."
        ))
    if len(found) > 1:
        return MedicationInteraction(None, (
            f"The medication list names several interacting medicines: {labels} ({quoted}). "
            "Each was studied alone and no combined effect is documented, so the curve is "
            "drawn without them: expect exposure to differ."
        ))
    key = found[0]
    simulated = simulator_route(route)
    if simulated in ("iv", "im", "in-racemic") and INTERACTIONS[key].iv_auc_ratio is None:
        # Studied by mouth only: drawing "with" it would show an unchanged curve as if checked.
        study = INTERACTIONS[key].source.split(" (abstract")[0]
        return MedicationInteraction(None, (
            f"The medication list names {labels} ({quoted}). Its effect was measured with "
            f"S-ketamine by mouth only ({study}); for {SHORT_LABELS[simulated]} none was "
            "measured, so none is applied: the curve is drawn without it."
        ))
    return MedicationInteraction(key, (
        f"Drawn with {labels}, named in the medication list ({quoted}): the effect measured "
        "with S-ketamine (source under the chart), applied to racemic ketamine. "
        "Update the medication list if it is no longer taken."
    ))


def _model_version() -> str:
    """A fingerprint of everything a stored curve depends on: the simulator, its fitted
    parameters and data, and the code that draws and explains the curve."""
    here = Path(__file__).resolve().parent
    pk = here.parent / "core" / "pk"
    files = [*sorted([*pk.glob("*.py"), *(pk / "data").glob("*.json")]),
             here / "predictions.py", here / "charts.py", here / "explain.py"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


MODEL_VERSION = _model_version()


def _shared_key(key: CurveKey) -> str:
    return "prediction:" + hashlib.sha256(f"{MODEL_VERSION}:{key!r}".encode()).hexdigest()


@lru_cache(maxsize=128)
def _prediction(key: CurveKey) -> Prediction:
    """Per process (lru_cache), then in the shared curve cache (settings.CACHES["pk"]:
    files, shared by the server's workers and kept across restarts), then computed."""
    shared = caches["pk"]
    name = _shared_key(key)
    found = shared.get(name)
    if isinstance(found, Prediction):
        return found
    result = simulation(key)
    label = f"Predicted plasma concentration, {SHORT_LABELS[result.route]} {result.dose_mg:g} mg"
    prediction = Prediction(result, route_facts(result), inline_svg(render_chart(result, "svg"), label))
    try:
        shared.set(name, prediction)
    except OSError:  # an unwritable cache folder costs speed, never the page
        logger.warning("Predicted curve not stored in the curve cache", exc_info=True)
    return prediction


@dataclass(frozen=True)
class UsualDose:
    """A route's usual first dose for a weight, from the shipped example protocol."""

    route: str
    dose_mg: Decimal
    how: str
    protocol: str


@lru_cache(maxsize=32)
def usual_doses(weight_kg: Decimal) -> dict[str, UsualDose]:
    """Each route's first-session dose for this weight, computed by the dose arithmetic
    of openkap.core.dosing from the example protocols (esketamine: 56 mg, two devices),
    so the comparison opens with doses every route's model accepts."""
    doses: dict[str, UsualDose] = {}
    for protocol_id in example_ids():
        protocol = load_example(protocol_id)
        outcome = order_dose(
            protocol=protocol, protocol_approved=True,
            weight=Weight(kg=Decimal(weight_kg), measured_on=date(2000, 1, 1)),
            previous_weight_kg=None, session_date=date(2000, 1, 1), last_session_date=None,
        )
        if isinstance(outcome, DoseOrder):
            route = simulator_route(protocol.route)
            doses.setdefault(route, UsualDose(route, outcome.dose_mg, outcome.lines[0], protocol.title))
    return doses


def compare_routes(
    *,
    routes: Iterable[str],
    dose_mg: float | Decimal | None,
    weight_kg: float | Decimal | None,
    infusion_min: float | Decimal | None = None,
    hours: float | Decimal = DEFAULT_HOURS,
    population: int | None = POPULATION,
    seed: int = SEED,
    interaction: str | None = None,
    doses_mg: Mapping[str, Decimal] | None = None,
    age_years: float | Decimal | None = None,
) -> Comparison:
    """Several routes at the same dose, or each at its own (``doses_mg`` by route): one
    chart, the numbers and the explanation (cached).

    A route whose model refuses the dose (esketamine comes in 28-mg devices) is
    reported against the field with the route's name; nothing is drawn then.
    """
    chosen = list(dict.fromkeys(simulator_route(r) for r in routes))
    if not chosen:
        raise ValidationError({"routes": "Choose at least one route."})
    keys = []
    errors: dict[str, list[str]] = {}
    for route in chosen:
        try:
            dose = doses_mg.get(route) if doses_mg is not None else dose_mg
            if dose is None:
                raise ValidationError({"routes": "No usual dose is known for this route: compare at equal milligrams."})
            key = curve_key(
                route=route, dose_mg=dose, weight_kg=weight_kg, infusion_min=infusion_min,
                hours=hours, population=population, seed=seed, interaction=interaction,
                age_years=age_years,
            )
            simulation(key)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    shared = ("weight_kg", "hours", "interaction", "age_years")
                    prefix = "" if field in shared else f"{SHORT_LABELS[route]}: "
                    if prefix + message not in errors.get(field, []):
                        errors.setdefault(field, []).append(prefix + message)
            continue
        keys.append(key)
    if errors:
        raise ValidationError(errors)
    return _comparison(tuple(keys))


@lru_cache(maxsize=64)
def _comparison(keys: tuple[CurveKey, ...]) -> Comparison:
    results = tuple(simulation(k) for k in keys)
    label = "Predicted plasma concentration by route: " + ", ".join(
        SHORT_LABELS[r.route] for r in results
    )
    return Comparison(results, explain(results), inline_svg(render_comparison(results), label))


def plan_prediction(
    *, protocol_id: str, weight_kg: Decimal | None, weighed_on: date | None,
    age_years: int | None = None, medications: str = "",
) -> PlanPrediction:
    """The curve for a plan's protocol at its first-session dose for this weight.

    The dose comes from the dose arithmetic of openkap.core.dosing (rule x weight,
    rounding, absolute maximum), as the dose order will compute it; the weight's
    age is not checked here (an illustration, not an order), the dose order does.
    """
    if protocol_id not in example_ids():
        return PlanPrediction(None, None, f"Unknown protocol {protocol_id!r}.")
    try:
        protocol = load_example(protocol_id)
    except ProtocolError as exc:
        return PlanPrediction(None, None, f"The protocol cannot be used: {exc}")
    if weight_kg is None or weighed_on is None:
        return PlanPrediction(None, None, "No weight recorded: the curve needs the patient's weight.")
    outcome = order_dose(
        protocol=protocol,
        protocol_approved=True,
        weight=Weight(kg=Decimal(weight_kg), measured_on=weighed_on),
        previous_weight_kg=None,
        session_date=weighed_on,
        last_session_date=None,
    )
    if not isinstance(outcome, DoseOrder):
        reasons = [s.message for s in outcome.stops] + [s.message for s in outcome.soft_limits]
        return PlanPrediction(None, None, "No curve: " + " ".join(reasons))
    named = medication_interaction(medications, protocol.route)
    try:
        prediction = predicted_curve(
            route=protocol.route,
            dose_mg=outcome.dose_mg,
            weight_kg=outcome.weight_kg,
            infusion_min=protocol.infusion_minutes,
            age_years=age_years,
            interaction=named.key,
        )
    except ValidationError as exc:
        return PlanPrediction(None, outcome, "No curve: " + " ".join(exc.messages))
    return PlanPrediction(prediction, outcome, "", named.note)


def overlay_svg(
    *,
    route: str,
    dose_mg: float | Decimal | None,  # None is refused with a message (curve_key)
    weight_kg: float | Decimal | None,
    vitals: Sequence[VitalsReading],
    dissociation: Sequence[DissociationScore],
    infusion_min: float | Decimal | None = None,
    age_years: int | None = None,
) -> str:
    """A session's predicted curve with its observed vitals and dissociation scores.

    The horizon covers the last observation (at least 2 h, at most 24 h).
    """
    minutes = [float(v.minute) for v in vitals] + [float(d.minute) for d in dissociation]
    last = max([0.0, *(m for m in minutes if math.isfinite(m))])
    hours = min(HOURS_RANGE[1], max(2.0, math.ceil((last + 15.0) / 30.0) / 2.0))
    key = curve_key(
        route=route, dose_mg=dose_mg, weight_kg=weight_kg, infusion_min=infusion_min, hours=hours,
        age_years=age_years,
    )
    result = simulation(key)
    try:
        svg = render_overlay(result, vitals, dissociation)
    except ValueError as exc:
        raise ValidationError({"vitals": str(exc)}) from None
    label = f"Predicted concentration and observed vitals, {SHORT_LABELS[result.route]}"
    return inline_svg(svg, label)


def _number(
    value: float | Decimal | None,
    field: str,
    low: float,
    high: float,
    unit: str,
    errors: dict[str, str],
    *,
    low_open: bool = False,
) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        errors[field] = "Enter a number."
        return None
    number = float(value)
    if not math.isfinite(number) or number > high or number < low or (low_open and number == low):
        errors[field] = f"Enter a value {'above' if low_open else 'from'} {low:g} up to {high:g} {unit}."
        return None
    return number


def _as_validation_error(route: str, exc: ValueError) -> ValidationError:
    message = str(exc)
    if "28-mg devices" in message:
        return ValidationError(
            {"dose_mg": "Esketamine is given in whole 28-mg nasal devices: 28, 56 or 84 mg."}
        )
    field, _, rest = message.partition(" ")
    if field in _FIELD_NAMES:
        return ValidationError({field: f"{_FIELD_NAMES[field]} {rest}."})
    return ValidationError({"__all__": message[:1].upper() + message[1:] + "."})


_FIELD_NAMES = {
    "dose_mg": "The dose (mg)",
    "weight_kg": "The weight (kg)",
    "infusion_min": "The infusion time (min)",
    "hours": "The time shown (h)",
    "population": "The population",
    "seed": "The seed",
}
