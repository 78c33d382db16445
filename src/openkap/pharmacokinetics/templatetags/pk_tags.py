"""Predicted curves on other apps' pages. Usage is in openkap.pharmacokinetics' docstring."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.core.pk import DISCLAIMER, SimulationResult
from openkap.core.pk.overlay import DissociationScore, VitalsReading
from openkap.pharmacokinetics import predictions
from openkap.pharmacokinetics.explain import SHORT_LABELS
from openkap.pharmacokinetics.sessions import session_overlay

register = template.Library()


@register.filter
def route_label(route: str) -> str:
    return SHORT_LABELS.get(route, route)


@register.filter
def fmt(value: float | None, spec: str) -> str:
    """Python number formatting, so pages round as the charts do (40.5 -> "40")."""
    return "" if value is None else format(float(value), spec)


@register.filter
def horizon_h(result: SimulationResult) -> str:
    return f"{float(result.times_min[-1]) / 60.0:g}"


@register.inclusion_tag("pharmacokinetics/_disclaimer.html")
def pk_disclaimer(results: SimulationResult | Iterable[SimulationResult]) -> dict[str, Any]:
    """Model, source and 'population prediction, not a dosing instruction' for charts."""
    listed = [results] if isinstance(results, SimulationResult) else list(results)
    return {"results": listed, "disclaimer": DISCLAIMER}


@register.inclusion_tag("pharmacokinetics/_curve.html")
def pk_curve(
    route: str,
    dose_mg: float | Decimal | None,
    weight_kg: float | Decimal | None = None,
    infusion_min: float | Decimal | None = None,
    hours: float | Decimal = predictions.DEFAULT_HOURS,
    caption: str = "",
    patient: Any = None,
) -> dict[str, Any]:
    """The predicted curve, with its population band, for a planned dose, route and weight
    (and the patient's age today, which changes the curve above 60, and an interacting
    medicine the patient's medication list names)."""
    try:
        named = predictions.medication_interaction(_medications(patient), route)
        prediction = predictions.predicted_curve(
            route=route, dose_mg=dose_mg, weight_kg=weight_kg, infusion_min=infusion_min,
            hours=hours, age_years=_age(patient), interaction=named.key,
        )
    except ValidationError as exc:
        return {"problem": "No predicted curve: " + " ".join(exc.messages)}
    return {"prediction": prediction, "caption": caption, "interaction_note": named.note}


@register.inclusion_tag("pharmacokinetics/_plan_curve.html")
def pk_plan_curve(plan: Any, weight: Any, patient: Any = None) -> dict[str, Any]:
    """A treatment plan's curve: its protocol's first-session dose for the latest weight.

    ``plan`` has ``protocol_id``; ``weight`` has ``weight_kg`` and ``measured_on``
    (a WeightMeasurement) or is None.
    """
    return {
        "planned": predictions.plan_prediction(
            protocol_id=plan.protocol_id,
            weight_kg=getattr(weight, "weight_kg", None),
            weighed_on=getattr(weight, "measured_on", None),
            age_years=_age(patient),
            medications=_medications(patient),
        ),
        "weight": weight,
    }


@register.inclusion_tag("pharmacokinetics/_overlay.html")
def pk_overlay(
    route: str,
    dose_mg: float | Decimal | None,
    weight_kg: float | Decimal | None,
    vitals: Iterable[Any] = (),
    dissociation: Iterable[Any] = (),
    infusion_min: float | Decimal | None = None,
    patient: Any = None,
    on: datetime | None = None,
) -> dict[str, Any]:
    """A finished session: the predicted curve with observed vitals and dissociation scores.

    ``vitals``: items with minute, systolic, diastolic, heart_rate (objects or dicts;
    minutes from the start of dosing); ``dissociation``: items with minute and score.
    ``patient`` and ``on`` (the start of dosing): the curve is for the patient's age
    that day, so the record does not change as the patient ages.
    """
    try:
        readings = [_vitals(v) for v in vitals]
        ratings = [_dissociation(d) for d in dissociation]
    except (TypeError, ValueError, ArithmeticError):
        return {"problem": "No predicted curve: an observation has no usable time or value."}
    try:
        svg = predictions.overlay_svg(
            route=route,
            dose_mg=dose_mg,
            weight_kg=weight_kg,
            infusion_min=infusion_min,
            vitals=readings,
            dissociation=ratings,
            age_years=_age(patient, on),
        )
    except ValidationError as exc:
        return {"problem": "No predicted curve: " + " ".join(exc.messages)}
    return {"svg": svg}


@register.inclusion_tag("pharmacokinetics/_overlay.html")
def pk_session_overlay(session: Any) -> dict[str, Any]:
    """A finished session's overlay built from its record (order, vitals, CADSS ratings).

    The session must come from the dosing app's checked and audited selector.
    """
    try:
        overlay = session_overlay(session)
    except ValidationError as exc:
        return {"problem": " ".join(exc.messages)}
    return {"svg": overlay.svg, "notes": overlay.notes}


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _vitals(item: Any) -> VitalsReading:
    if isinstance(item, VitalsReading):
        return item
    return VitalsReading(
        minute=float(_get(item, "minute")),
        systolic=_number(_get(item, "systolic")),
        diastolic=_number(_get(item, "diastolic")),
        heart_rate=_number(_get(item, "heart_rate")),
    )


def _dissociation(item: Any) -> DissociationScore:
    if isinstance(item, DissociationScore):
        return item
    return DissociationScore(minute=float(_get(item, "minute")), score=float(_get(item, "score")))


def _medications(patient: Any) -> str:
    """The patient's current medication list (free text; empty without a patient)."""
    return "" if patient is None else str(getattr(patient, "current_medications", "") or "")


def _age(patient: Any, on: datetime | None = None) -> int | None:
    """The patient's age on that day, by default today (None without a patient)."""
    if patient is None:
        return None
    day = timezone.localdate() if on is None else timezone.localtime(on).date()
    return int(patient.age_on(day))
